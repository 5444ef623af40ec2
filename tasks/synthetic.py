"""Random inputs with labels from a fixed random linear teacher: a download-free workload
of any shape, for benchmarks and tests of the runner."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from tasks.tensor_loader import TensorSplitsDataModule


class SyntheticDataModule(TensorSplitsDataModule):
    """``num_samples`` Gaussian inputs of ``sample_shape``; 10% each held out for val and test."""

    def __init__(
        self,
        sample_shape: Sequence[int] = (3, 32, 32),
        classes: int = 10,
        num_samples: int = 2048,
        batch_size: int = 128,
        seed: int = 0,
        smoke: bool = False,
        steps_per_call: int = 1,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed, steps_per_call=steps_per_call)
        self.input_shape = tuple(sample_shape)
        self.num_classes = classes
        self.num_samples = 256 if smoke else num_samples

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        gen = torch.Generator().manual_seed(1234)  # the data set itself never depends on the cell seed
        x = torch.randn(self.num_samples, *self.input_shape, generator=gen)
        teacher = torch.randn(math.prod(self.input_shape), self.num_classes, generator=gen)
        y = (x.flatten(1) @ teacher).argmax(1)
        n_hold = self.num_samples // 10
        self.splits = {
            "test": (x[:n_hold], y[:n_hold]),
            "val": (x[n_hold : 2 * n_hold], y[n_hold : 2 * n_hold]),
            "train": (x[2 * n_hold :], y[2 * n_hold :]),
        }
