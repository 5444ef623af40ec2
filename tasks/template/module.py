"""The template's task: mean squared error, selected by minimum validation MSE."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from tasks.base import SPLITS, Task
from tasks.metric import Metric

MSE = Metric("mse", "min", "", 1.0, "mean squared error")


class RegressionTask(Task):
    """Logs ``train_loss`` per epoch and ``{val,test}_mse`` per evaluation (sums on device,
    one host sync per epoch); raises ``Diverged`` through ``check_finite``."""

    metric = MSE
    logged_keys = ("train_loss", "val_mse", "test_mse")

    def on_train_epoch_start(self) -> None:
        self._train = torch.zeros(2, dtype=torch.float64, device=self.device)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        loss = F.mse_loss(self.model(x), y)
        self._train += torch.stack([loss.detach().double() * len(y), torch.tensor(len(y), device=self.device)])
        self.check_finite(loss, "training loss", step=batch_idx)
        return loss

    def on_train_epoch_end(self) -> None:
        total, n = self.trainer.strategy.reduce(self._train, reduce_op="sum").tolist()
        self.check_finite(total, "training loss")
        self.log("train_loss", total / max(n, 1))

    def on_validation_epoch_start(self) -> None:
        self._eval = {s: torch.zeros(2, dtype=torch.float64, device=self.device) for s in SPLITS}

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        x, y = batch
        err = F.mse_loss(self.model(x), y, reduction="sum").double()
        self._eval[SPLITS[dataloader_idx]] += torch.stack([err, torch.tensor(float(len(y)), device=self.device,
                                                                                 dtype=torch.float64)])

    def on_validation_epoch_end(self) -> None:
        for split, sums in self._eval.items():
            total, n = self.trainer.strategy.reduce(sums, reduce_op="sum").tolist()
            if n:
                self.log(f"{split}_mse", total / n, add_dataloader_idx=False)
