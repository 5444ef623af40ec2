"""DataLoader plumbing shared by the CIFAR and ImageNet data modules (the torchvision path)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def epoch_seed(seed: int, epoch: int, salt: int = 0) -> int:
    """The seed of one epoch's randomness; the same formula as ``tasks.tensor_loader``."""
    return int(seed) * 1_000_003 + int(epoch) + salt


class SeededRandomSampler(Sampler[int]):
    """A fresh permutation per epoch drawn from ``(seed, epoch)`` only, so a resumed run sees
    the same order as an uninterrupted one. Lightning calls ``set_epoch`` before each epoch.

    ``set_epoch`` also reseeds ``worker_generator`` (the DataLoader's ``generator``), from which
    each epoch's worker processes take their base seed: augmentation drawn in workers then
    depends on ``(seed, epoch)`` too. With ``num_workers=0`` augmentation uses the global RNG.
    """

    def __init__(self, num_samples: int, seed: int, worker_generator: torch.Generator | None = None) -> None:
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.epoch = 0
        self.worker_generator = worker_generator
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if self.worker_generator is not None:
            self.worker_generator.manual_seed(epoch_seed(self.seed, self.epoch, salt=7919))

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        yield from torch.randperm(self.num_samples, generator=gen).tolist()

    def __len__(self) -> int:
        return self.num_samples


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    num_workers: int,
    pin_memory: bool | None = None,
    persistent_workers: bool = False,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader whose shuffling (and worker seeding) follows ``(seed, epoch)``.

    ``persistent_workers`` defaults to off: persistent workers keep their RNG across epochs, so a
    resumed run would draw different augmentations than an uninterrupted one.
    """
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    generator = torch.Generator()
    sampler = SeededRandomSampler(len(dataset), seed, worker_generator=generator) if shuffle else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=persistent_workers and num_workers > 0,
        drop_last=drop_last,
        generator=generator,
    )
