"""scikit-learn's bundled 8x8 digits as a LightningDataModule (no download, ~1.8k images)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from sklearn.datasets import load_digits

from tasks.tensor_loader import TensorSplitsDataModule


class DigitsDataModule(TensorSplitsDataModule):
    """Train/val/test split of the digits data, fixed by ``split_seed``.

    Pixels (0..16) are scaled to [0, 1] and standardised with the training split's
    per-feature mean and std. Batches are sliced from in-memory tensors.
    """

    def __init__(
        self,
        batch_size: int = 64,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        seed: int = 0,
        smoke: bool = False,
        steps_per_call: int = 1,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed, steps_per_call=steps_per_call)
        if not 0 < val_fraction < 1 or not 0 < test_fraction < 1 or val_fraction + test_fraction >= 1:
            raise ValueError(
                f"dataset.val_fraction and dataset.test_fraction must be in (0, 1) with sum < 1, "
                f"got {val_fraction} and {test_fraction}"
            )
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.smoke = smoke
        self.input_shape = (64,)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        x, y = _digits()
        x = torch.tensor(x, dtype=torch.float32) / 16.0  # copies: the cached arrays stay as read
        y = torch.tensor(y, dtype=torch.long)
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(self.split_seed))
        if self.smoke:
            order = order[:300]
        n_val = int(round(self.val_fraction * len(order)))
        n_test = int(round(self.test_fraction * len(order)))
        parts = {
            "test": order[:n_test],
            "val": order[n_test : n_test + n_val],
            "train": order[n_test + n_val :],
        }
        mean = x[parts["train"]].mean(0)
        std = x[parts["train"]].std(0).clamp_min(1e-3)
        x = (x - mean) / std
        self.splits = {name: (x[idx], y[idx]) for name, idx in parts.items()}


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits, parsed once per process (~8 ms each time from its gzipped CSV;
    a sweep worker builds one data module per cell)."""
    return load_digits(return_X_y=True)
