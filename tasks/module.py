"""The base of every task's LightningModule: what the runner passes in, one optimizer out."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], dict[str, Any] | None]


class TaskModule(pl.LightningModule):
    """Holds the model and the runner's factories (the contract in :mod:`tasks`).

    ``configure_optimizers`` builds one optimizer over ``model.parameters()`` plus its
    schedule; a module with several optimizers (a GAN) overrides it and calls
    ``optimizer_factory`` once per optimizer. Subclasses set ``metric`` and ``metric_mode``.
    """

    metric: str
    metric_mode: str

    def __init__(self, model: nn.Module, optimizer_factory: OptimizerFactory,
                 scheduler_factory: SchedulerFactory | None = None, divergence_check_every: int = 1) -> None:
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer_factory
        self.scheduler_factory = scheduler_factory
        self.divergence_check_every = max(1, int(divergence_check_every))

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.model.parameters())
        scheduler = self.scheduler_factory(optimizer) if self.scheduler_factory else None
        return optimizer if scheduler is None else {"optimizer": optimizer, "lr_scheduler": scheduler}
