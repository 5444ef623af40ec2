"""An in-memory batch iterator: the fast path for data sets that fit in (device) memory.

A ``torch.utils.data.DataLoader`` over a ``TensorDataset`` collates every sample one by
one; slicing whole tensors with one index per batch is an order of magnitude cheaper.
Shuffling depends only on ``(seed, epoch)``, so a run resumed from a checkpoint sees the
same batches as an uninterrupted one. Lightning calls ``loader.sampler.set_epoch(epoch)``
before every epoch (see ``lightning_fabric.utilities.data._set_sampler_epoch``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from tasks.base import PackedSteps, TaskData


class EpochSampler:
    """Holds the epoch number Lightning sets; the loader derives its permutation from it."""

    def __init__(self) -> None:
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)


class TensorLoader:
    """Yield ``(x, y)`` batches by slicing tensors; optionally shuffled and transformed.

    Args:
        tensors: tensors sharing their first dimension (e.g. ``(images, labels)``).
        batch_size: samples per batch.
        shuffle: draw a fresh permutation each epoch from ``seed`` and the epoch number.
        seed: base seed of the permutation.
        drop_last: drop the last incomplete batch.
        transform: optional ``fn(batch_tensors, generator) -> batch_tensors`` applied per
            batch (e.g. GPU-side augmentation); gets a generator seeded per epoch.
        rank, world_size: shard the (shuffled) index space across data-parallel ranks.
        pad: with ``world_size > 1``, pad the epoch by wrapping so every rank gets the same
            number of samples (training: ranks step together, like ``DistributedSampler``);
            ``False`` gives every sample to exactly one rank (evaluation: no duplicates).
        steps_per_call: with ``k > 1``, yield :class:`tasks.base.PackedSteps` of ``k``
            consecutive batches (the last may hold fewer); the batches are the same.
    """

    def __init__(
        self,
        *tensors: Tensor,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        transform: Callable[[tuple[Tensor, ...], torch.Generator], tuple[Tensor, ...]] | None = None,
        rank: int = 0,
        world_size: int = 1,
        pad: bool = True,
        steps_per_call: int = 1,
    ) -> None:
        if not tensors:
            raise ValueError("TensorLoader needs at least one tensor")
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise ValueError("TensorLoader tensors must share their first dimension")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if steps_per_call < 1:
            raise ValueError(f"steps_per_call must be >= 1, got {steps_per_call}")
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.transform = transform
        self.rank = rank
        self.world_size = world_size
        self.pad = pad
        self.steps_per_call = int(steps_per_call)
        self.sampler = EpochSampler()
        self.batch_sampler = None  # Lightning inspects it; batching is done here

    @property
    def num_samples(self) -> int:
        """Samples this rank sees per epoch (padded/truncated evenly across ranks)."""
        n = self.tensors[0].shape[0]
        if not self.pad:
            return len(range(self.rank, n, self.world_size))
        return n // self.world_size if self.drop_last else math.ceil(n / self.world_size)

    @property
    def num_batches(self) -> int:
        """Batches (optimizer steps, in training) per epoch."""
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def __len__(self) -> int:
        return math.ceil(self.num_batches / self.steps_per_call)

    def _indices(self) -> Tensor:
        n = self.tensors[0].shape[0]
        device = self.tensors[0].device
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.sampler.epoch)
            order = torch.randperm(n, generator=gen)
        else:
            order = torch.arange(n)
        if self.world_size > 1 and not self.pad:
            order = order[self.rank :: self.world_size]
        elif self.world_size > 1:
            per_rank = self.num_samples
            total = per_rank * self.world_size
            if total > n:  # pad by wrapping, like DistributedSampler
                order = torch.cat([order, order[: total - n]])
            order = order[self.rank : total : self.world_size]
        return order.to(device)

    def __iter__(self) -> Iterator[tuple[Tensor, ...] | PackedSteps]:
        if self.steps_per_call == 1:
            yield from self._batches()
            return
        pack = PackedSteps()
        for batch in self._batches():
            pack.append(batch)
            if len(pack) == self.steps_per_call:
                yield pack
                pack = PackedSteps()
        if pack:
            yield pack

    def _batches(self) -> Iterator[tuple[Tensor, ...]]:
        order = self._indices()
        gen = None
        if self.transform is not None:
            gen = torch.Generator(device=self.tensors[0].device)
            gen.manual_seed(self.seed * 1_000_003 + self.sampler.epoch + 7919)
        for b in range(self.num_batches):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            batch = tuple(t[idx] for t in self.tensors)
            if self.transform is not None:
                batch = self.transform(batch, gen)
            yield batch


class TensorSplitsDataModule(TaskData):
    """A data module whose ``setup`` fills ``self.splits`` = ``{"train"|"val"|"test": (x, y)}``.

    Serves them as ``TensorLoader`` s sharded over the trainer's data-parallel ranks:
    training shuffled by ``self.seed`` in batches of ``self.batch_size`` (every rank gets the
    same number of samples, padded by wrapping), evaluation in order in batches of
    ``eval_batch_size`` (each sample on exactly one rank). ``input_shape`` (set by the
    subclass) gives :meth:`example_batch` its float inputs and integer labels. With
    ``steps_per_call`` > 1 training batches come packed (:class:`tasks.base.PackedSteps`).
    """

    eval_batch_size = 512
    input_shape: tuple[int, ...] = ()

    def __init__(self, batch_size: int, seed: int, steps_per_call: int = 1) -> None:
        super().__init__()
        if int(steps_per_call) < 1:
            raise ValueError(f"dataset.steps_per_call must be >= 1, got {steps_per_call}")
        self.batch_size = batch_size
        self.seed = seed
        self.steps_per_call = int(steps_per_call)
        self.splits: dict[str, tuple[Tensor, Tensor]] = {}

    def split_loader(self, split: str) -> TensorLoader:
        if not self.splits:
            self.setup("fit")
        rank, world = self.rank_and_world()
        train = split == "train"
        return TensorLoader(*self.splits[split], batch_size=self.batch_size if train else self.eval_batch_size,
                            shuffle=train, seed=self.seed, rank=rank, world_size=world, pad=train,
                            steps_per_call=self.steps_per_call if train else 1)

    def example_batch(self) -> tuple[Tensor, Tensor]:
        return torch.zeros(2, *self.input_shape), torch.zeros(2, dtype=torch.long)
