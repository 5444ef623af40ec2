"""The template's data: Gaussian inputs, targets from a fixed random linear teacher plus noise."""

from __future__ import annotations

import torch
from torch import Tensor

from tasks.tensor_loader import TensorSplitsDataModule


class RegressionData(TensorSplitsDataModule):
    """``num_samples`` samples of ``features`` inputs; 10% each held out for validation and test.

    The data set never depends on the cell's seed (every cell sees the same split); the
    training order does (``seed``). A real family reads its files in ``setup`` and checks
    them in ``preflight``; the constructor stays cheap (the planner builds one per config).
    """

    def __init__(self, features: int = 8, num_samples: int = 1000, noise: float = 0.1, batch_size: int = 32,
                 seed: int = 0, smoke: bool = False) -> None:
        super().__init__(batch_size=batch_size, seed=seed)
        if features < 1 or num_samples < 10:
            raise ValueError(f"dataset.features must be >= 1 and dataset.num_samples >= 10, got {features}, {num_samples}")
        self.input_shape = (features,)
        self.num_samples = 100 if smoke else num_samples
        self.noise = float(noise)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        gen = torch.Generator().manual_seed(2024)
        x = torch.randn(self.num_samples, *self.input_shape, generator=gen)
        teacher = torch.randn(self.input_shape[0], 1, generator=gen)
        y = x @ teacher + self.noise * torch.randn(self.num_samples, 1, generator=gen)
        n = self.num_samples // 10
        self.splits = {"test": (x[:n], y[:n]), "val": (x[n:2 * n], y[n:2 * n]), "train": (x[2 * n:], y[2 * n:])}

    def example_batch(self) -> tuple[Tensor, Tensor]:
        return torch.zeros(2, *self.input_shape), torch.zeros(2, 1)
