"""Learning-rate schedules torch.optim.lr_scheduler lacks."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


class PiecewiseConstantLR(LRScheduler):
    """lr = base_lr x ``factors[i]`` from epoch ``milestones[i]`` on (x 1 before the first).

    Unlike ``MultiStepLR`` the factors need not be powers of one gamma: the Keras CIFAR
    ResNet example RAME trained uses x0.1, x0.01, x0.001, x0.0005 at epochs 80/120/160/180.
    Closed form in the step count, so a resumed run (``state_dict``) lands on the same lr.
    """

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], factors: Sequence[float],
                 last_epoch: int = -1) -> None:
        milestones, factors = [int(m) for m in milestones], [float(f) for f in factors]
        if len(milestones) != len(factors):
            raise ValueError(f"milestones ({len(milestones)}) and factors ({len(factors)}) must have the same length")
        if any(b <= a for a, b in zip(milestones, milestones[1:])) or any(m < 1 for m in milestones):
            raise ValueError(f"milestones must be strictly increasing integers >= 1, got {milestones}")
        if any(not f > 0 for f in factors):
            raise ValueError(f"factors must be > 0, got {factors}")
        self.milestones, self.factors = milestones, factors
        super().__init__(optimizer, last_epoch)

    def factor(self, epoch: int) -> float:
        i = bisect.bisect_right(self.milestones, epoch)
        return 1.0 if i == 0 else self.factors[i - 1]

    def get_lr(self) -> list[float]:
        return [base * self.factor(self.last_epoch) for base in self.base_lrs]


class InverseTimeLR(LRScheduler):
    """lr = base_lr / (1 + ``decay`` x t), t the number of ``step()`` calls: Keras' optimizer
    ``decay`` argument (Keras 2 applies it per update), stepped once per batch."""

    def __init__(self, optimizer: Optimizer, decay: float, last_epoch: int = -1) -> None:
        if not decay >= 0:
            raise ValueError(f"decay must be >= 0, got {decay}")
        self.decay = float(decay)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base / (1.0 + self.decay * self.last_epoch) for base in self.base_lrs]
