"""CIFAR-10 for the GAN task: a real-image stream indexed by step, and the FID reference sets.

Images are read by the vision family's torchvision-format reader (:func:`tasks.vision.cifar.read_cifar`)
from ``<data_dir>/cifar-10-batches-py``. As the reference (StudioGAN ``LoadDataset``): all 50,000
training images, random horizontal flip, scaled to ``[-1, 1]`` (``Normalize(0.5, 0.5)``), batches
of 64 drawn without replacement from a fresh shuffle each pass (``drop_last``).

The training "loader" yields one :class:`RealStream` handle per generator step; the module asks it
for real batch ``j`` (``j = step * n_dis + d`` for the d-th discriminator step). Batch ``j`` is a
pure function of ``(seed, j)`` -- the pass ``j // batches_per_pass`` fixes the permutation, ``j``
the flips -- so a resumed cell reads exactly the batches an uninterrupted one does, whatever
Lightning's loader prefetching and restarts do.

Under DDP, rank ``r`` of ``w`` reads real batch ``j * w + r``. Evaluation loaders yield one
:class:`RealImages` each: the uint8 images FID compares against.
``val``: the training split (50k), used to pick the best evaluation without looking at test;
``test``: the test split (10k), the statistics the reference reports FID against
(``eval_type: test``).
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterator

import numpy as np
import torch
from torch import Tensor

from tasks.base import TaskData
from tasks.vision.cifar import check_cifar_files, read_cifar

SMOKE_SIZES = {"train": 256, "test": 128}


def _mix(*key: int) -> int:
    """A 63-bit seed from integers (stable across processes, unlike ``hash``)."""
    digest = hashlib.blake2b(np.asarray(key, dtype=np.int64).tobytes(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


class RealImages:
    """A fixed set of real images (N x 3 x 32 x 32 uint8) for FID, named for the statistics cache.

    ``key`` (dataset, split, size, content digest) is part of the FID statistics cache key.
    A plain class on purpose: Lightning moves dataclass/tuple batches to the device field by field.
    """

    def __init__(self, split: str, images: Tensor, key: str) -> None:
        self.split, self.images, self.key = split, images, key

    def batches(self, batch_size: int) -> Iterator[Tensor]:
        for i in range(0, len(self.images), batch_size):
            yield self.images[i: i + batch_size]


class RealStream:
    """Real training batch ``j`` as a pure function of ``(seed, j)``: shuffled passes, random flips.

    ``images`` (N x 3 x 32 x 32 uint8) and ``labels`` stay on the CPU; a copy is made on each
    device the first time a batch is asked for there.
    """

    def __init__(self, images: Tensor, labels: Tensor, batch_size: int, seed: int, random_flip: bool = True,
                 rank: int = 0, world_size: int = 1) -> None:
        self.images, self.labels, self.batch_size = images, labels, int(batch_size)
        self.seed, self.random_flip = int(seed), bool(random_flip)
        self.rank, self.world_size = int(rank), int(world_size)  # data-parallel ranks take interleaved batches
        self._device_cache: dict[str, tuple[Tensor, Tensor]] = {}
        self._perm: tuple[int, Tensor] | None = None

    @property
    def batches_per_pass(self) -> int:
        return len(self.images) // self.batch_size

    def _on(self, device: torch.device) -> tuple[Tensor, Tensor]:
        key = str(device)
        if key not in self._device_cache:
            self._device_cache[key] = (self.images.to(device), self.labels.to(device))
        return self._device_cache[key]

    def indices(self, j: int) -> Tensor:
        """Which images make real batch ``j``."""
        epoch, pos = divmod(int(j), self.batches_per_pass)
        if self._perm is None or self._perm[0] != epoch:
            g = torch.Generator().manual_seed(_mix(self.seed, 0, epoch))
            self._perm = (epoch, torch.randperm(len(self.images), generator=g))
        return self._perm[1][pos * self.batch_size: (pos + 1) * self.batch_size]

    def batch(self, j: int, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
        """``(images in [-1, 1] float32, labels)`` of this rank's real batch ``j`` on ``device``."""
        device = torch.device(device)
        j = int(j) * self.world_size + self.rank
        images, labels = self._on(device)
        idx = self.indices(j).to(device)
        x = images[idx].float().div_(127.5).sub_(1.0)
        if self.random_flip:
            g = torch.Generator().manual_seed(_mix(self.seed, 1, j))
            flip = (torch.rand(len(idx), generator=g) < 0.5).to(device)
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        return x, labels[idx]


class Repeat:
    """``length`` copies of one object: a loader whose items are handles, not data."""

    def __init__(self, item: Any, length: int) -> None:
        self.item, self.length = item, int(length)

    def __iter__(self) -> Iterator[Any]:
        return (self.item for _ in range(self.length))

    def __len__(self) -> int:
        return self.length


class Endless:
    """The same object forever (no ``len``): the training loader under a step budget."""

    def __init__(self, item: Any) -> None:
        self.item = item

    def __iter__(self) -> Iterator[Any]:
        while True:
            yield self.item


def _digest(images: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(images).tobytes()).hexdigest()[:16]


class CIFARGANData(TaskData):
    """CIFAR-10 (torchvision on-disk format) as the GAN task's real data.

    Args:
        data_dir: directory holding ``cifar-10-batches-py/``.
        batch_size: real images per discriminator step (64 in the reference).
        seed: the cell's seed (shuffling and flips).
        steps_per_epoch: ``None`` (default): the training loader never ends (a ``max_steps``
            budget); an integer: generator steps per "epoch" (an epoch budget).
        random_flip: horizontal flips of real images (reference: ``random_flip_preprocessing``).
        smoke: tiny subsets (256 train / 128 test images).
        verify_md5: check the files against torchvision's MD5 sums.
        fid_extractor, fid_weights: the module's FID extractor and weights file, so that
            :meth:`preflight` reports a missing or wrong Inception file before launch.
    """

    def __init__(self, data_dir: str = "data", batch_size: int = 64, seed: int = 0, steps_per_epoch: int | None = None,
                 random_flip: bool = True, smoke: bool = False, verify_md5: bool = True, variant: str = "cifar10",
                 fid_extractor: str | None = None, fid_weights: str | None = None) -> None:
        super().__init__()
        if variant != "cifar10":
            raise ValueError(f"dataset.variant must be 'cifar10' for the GAN task, got {variant!r}")
        if int(batch_size) < 1 or (steps_per_epoch is not None and int(steps_per_epoch) < 1):
            raise ValueError("dataset.batch_size and dataset.steps_per_epoch must be >= 1 (steps_per_epoch: or null)")
        self.data_dir, self.batch_size, self.seed = data_dir, int(batch_size), int(seed)
        self.steps_per_epoch = None if steps_per_epoch is None else int(steps_per_epoch)
        self.random_flip, self.smoke, self.verify_md5 = bool(random_flip), bool(smoke), bool(verify_md5)
        self.fid_extractor, self.fid_weights = fid_extractor, fid_weights
        self.stream: RealStream | None = None

    def preflight(self) -> list[str]:
        problems = []
        try:
            check_cifar_files(self.data_dir, "cifar10", verify_md5=False)
        except Exception as exc:  # noqa: BLE001 - reported as one line
            problems.append(str(exc))
        from tasks.gan.fid import EXTRACTORS, check_inception_weights

        if self.fid_extractor is not None and self.fid_extractor not in EXTRACTORS:
            problems.append(f"module.fid.extractor must be one of {', '.join(EXTRACTORS)}; got {self.fid_extractor!r}")
        if self.fid_extractor == "inception":
            try:
                check_inception_weights(self.fid_weights)
            except ValueError as exc:
                problems.append(str(exc))
        return problems

    def example_batch(self) -> RealStream:
        """What a training step receives: a stream handle (here over two blank images), not an ``(x, y)`` pair."""
        return RealStream(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), torch.zeros(2, dtype=torch.long), 2, 0)

    def setup(self, stage: str | None = None) -> None:
        if self.stream is not None:
            return
        train_x, train_y = read_cifar(self.data_dir, "cifar10", train=True, verify_md5=self.verify_md5)
        test_x, _ = read_cifar(self.data_dir, "cifar10", train=False, verify_md5=self.verify_md5)
        if self.smoke:
            train_x, train_y, test_x = train_x[: SMOKE_SIZES["train"]], train_y[: SMOKE_SIZES["train"]], test_x[: SMOKE_SIZES["test"]]
        if len(train_x) < self.batch_size:
            raise ValueError(f"dataset.batch_size={self.batch_size} exceeds the {len(train_x)} training images")
        nchw = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))  # noqa: E731
        rank, world = self.rank_and_world()
        self.stream = RealStream(nchw(train_x), torch.from_numpy(train_y), self.batch_size, self.seed,
                                 self.random_flip, rank, world)
        self.real = {
            "val": RealImages("train", nchw(train_x), f"cifar10-train-{len(train_x)}-{_digest(train_x)}"),
            "test": RealImages("test", nchw(test_x), f"cifar10-test-{len(test_x)}-{_digest(test_x)}"),
        }

    def split_loader(self, split: str) -> Repeat | Endless:
        if split == "train":
            return Endless(self.stream) if self.steps_per_epoch is None else Repeat(self.stream, self.steps_per_epoch)
        return Repeat(self.real[split], 1)
