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


class InverseSqrtLR(LRScheduler):
    """fairseq's ``inverse_sqrt``: linear warm-up from ``warmup_init_lr`` to the base lr over
    ``warmup_updates`` steps, then ``base_lr * sqrt(warmup_updates / step)``.

    Stepped once per optimizer update (``interval: step``); the lr of update ``t`` (0-based)
    is the closed form at ``t``, so update 0 runs at ``warmup_init_lr`` as in fairseq, and a
    resumed run (``state_dict``) lands on the same lr. ``warmup_updates=0`` skips the warm-up.
    """

    def __init__(self, optimizer: Optimizer, warmup_updates: int = 4000, warmup_init_lr: float = 0.0,
                 last_epoch: int = -1) -> None:
        if isinstance(warmup_updates, bool) or int(warmup_updates) != warmup_updates or warmup_updates < 0:
            raise ValueError(f"warmup_updates must be an integer >= 0, got {warmup_updates}")
        if not warmup_init_lr >= 0:
            raise ValueError(f"warmup_init_lr must be >= 0, got {warmup_init_lr}")
        self.warmup_updates, self.warmup_init_lr = int(warmup_updates), float(warmup_init_lr)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, step: int) -> float:
        if step < self.warmup_updates:
            return self.warmup_init_lr + step * (base_lr - self.warmup_init_lr) / self.warmup_updates
        return base_lr * (max(self.warmup_updates, 1) / max(step, 1)) ** 0.5

    def get_lr(self) -> list[float]:
        return [self.lr_at(base, self.last_epoch) for base in self.base_lrs]
