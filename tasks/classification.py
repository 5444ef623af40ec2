"""Supervised classification as a LightningModule: cross-entropy and top-k accuracy.

A :class:`tasks.base.Task`: validation dataloader 0 is the held-out validation split (used
for LR selection), dataloader 1, when present, the test split (recorded each epoch for
curves). Logs epoch-level ``train_loss``, ``{val,test}_loss``, ``{val,test}_acc`` (fractions)
and ``{val,test}_acc5`` when ``5 in topk``.

Metrics are accumulated as on-device sums (no per-step host sync, no per-step
``self.log``) and reduced across data-parallel ranks once per epoch.

Packed batches (``dataset.steps_per_call`` > 1, :class:`tasks.base.PackedSteps`) are
trained with manual optimization, step for step what automatic optimization does with
the same batches: zero the gradients, backward, clip (the Trainer's
``gradient_clip_val``), step, and step a per-step schedule; a per-epoch schedule steps at
the epoch end, before ``last.ckpt`` is taken (a resume neither repeats nor skips it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tasks.base import SPLITS, OptimizerFactory, PackedSteps, SchedulerFactory, Task
from tasks.metric import ACCURACY, TOP5
from tasks.param_groups import has_group_option, spherical_param_groups


class ClassificationModule(Task):
    metric = ACCURACY
    reported = (TOP5,)
    logged_keys = ("train_loss", "val_loss", "val_acc", "test_loss", "test_acc")
    packs_steps = True

    def __init__(
        self,
        model: nn.Module,
        optimizer_factory: OptimizerFactory,
        scheduler_factory: SchedulerFactory | None = None,
        label_smoothing: float = 0.0,
        topk: Sequence[int] = (1,),
        divergence_check_every: int = 1,
    ) -> None:
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"module.label_smoothing must be in [0, 1), got {label_smoothing}")
        if 1 not in topk:
            raise ValueError(f"module.topk must include 1, got {list(topk)}")
        super().__init__(model, optimizer_factory, scheduler_factory, divergence_check_every)
        self.label_smoothing = float(label_smoothing)
        self.topk = tuple(sorted(int(k) for k in topk))
        self._train_loss_sum: Tensor | None = None  # this epoch's sum of batch-mean loss x batch size
        self._train_count = 0
        self._eval_sums: dict[str, Tensor] = {}

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def configure_optimizers(self):
        """The base's single optimizer; for one with a per-group ``spherical`` option (AdaRem-S)
        only the scale-invariant weights (conv/linear feeding a BatchNorm) are spherical
        (:mod:`tasks.param_groups`) and the split is stored in the record (``extras.spherical``)."""
        config = super().configure_optimizers()
        optimizer = config if isinstance(config, torch.optim.Optimizer) else config["optimizer"]
        if not has_group_option(optimizer, "spherical"):
            return config
        groups, self._spherical_info = spherical_param_groups(self.model)
        optimizer = self.optimizer_factory(groups, "model")
        scheduler = self.scheduler_factory(optimizer) if self.scheduler_factory else None
        return optimizer if scheduler is None else {"optimizer": optimizer, "lr_scheduler": scheduler}

    def record_extras(self):
        info = getattr(self, "_spherical_info", None)
        return {"spherical": info} if info else None

    # --- training -------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        data = getattr(self.trainer, "datamodule", None)
        if getattr(data, "steps_per_call", 1) > 1 and self.trainer.accumulate_grad_batches != 1:
            data.steps_per_call = 1  # accumulation is Lightning's automatic optimization: one batch a call
        # packed batches (PackedSteps) are trained with manual optimization
        self.automatic_optimization = getattr(data, "steps_per_call", 1) == 1

    def steps_done(self) -> int | None:
        return None if self.automatic_optimization else self.trainer.global_step

    def on_train_epoch_start(self) -> None:
        self._train_loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        self._train_count = 0

    def _loss(self, x: Tensor, y: Tensor, step: int) -> Tensor:
        loss = F.cross_entropy(self.model(x), y, label_smoothing=self.label_smoothing)
        # one in-place op a step (sub-millisecond steps notice every tensor op); the count is a host int
        self._train_loss_sum.add_(loss.detach(), alpha=y.shape[0])
        self._train_count += y.shape[0]
        self.check_finite(self._train_loss_sum, "training loss", step=step)
        return loss

    def training_step(self, batch: tuple[Tensor, Tensor] | PackedSteps, batch_idx: int) -> Tensor | None:
        if isinstance(batch, PackedSteps):
            return self._packed_steps(batch, batch_idx)
        return self._loss(*batch, step=batch_idx)

    def _packed_steps(self, batches: PackedSteps, batch_idx: int) -> None:
        optimizer = self.optimizers()
        scheduler = self._scheduler("step")
        first = batch_idx * self.trainer.datamodule.steps_per_call  # index of the first step in the epoch
        for i, (x, y) in enumerate(batches):
            self.manual_step(optimizer, self._loss(x, y, step=first + i))
            if scheduler is not None:
                scheduler.step()

    def _scheduler(self, interval: str) -> Any:
        configs = self.trainer.lr_scheduler_configs
        return configs[0].scheduler if configs and configs[0].interval == interval else None

    def on_train_epoch_end(self) -> None:
        scheduler = None if self.automatic_optimization else self._scheduler("epoch")
        if scheduler is not None:  # before the monitoring callbacks: last.ckpt holds the stepped schedule
            scheduler.step()
        sums = torch.stack([self._train_loss_sum, self._train_loss_sum.new_tensor(float(self._train_count))])
        sums = self.trainer.strategy.reduce(sums, reduce_op="sum")
        train_loss = (sums[0] / sums[1].clamp_min(1)).item()
        self.check_finite(train_loss, "training loss")
        self.log_epoch({"train_loss": train_loss})
        self.evaluate_packed_epoch()

    # --- evaluation -----------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        # [loss_sum, count, correct@k for k in topk]
        self._eval_sums = {s: torch.zeros(2 + len(self.topk), device=self.device, dtype=torch.float64) for s in SPLITS}

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        x, y = batch
        logits = self.model(x)
        sums = self._eval_sums[SPLITS[dataloader_idx]]
        sums[0] += F.cross_entropy(logits, y, reduction="sum").double()
        sums[1] += y.shape[0]
        kmax = min(self.topk[-1], logits.shape[-1])
        hits = logits.topk(kmax, dim=-1).indices.eq(y.unsqueeze(-1))
        for i, k in enumerate(self.topk):
            sums[2 + i] += hits[:, :k].sum()

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        for split, sums in self._eval_sums.items():
            sums = self.trainer.strategy.reduce(sums, reduce_op="sum")
            n = sums[1].item()
            if n == 0:
                continue
            values = {f"{split}_loss": sums[0].item() / n}
            for i, k in enumerate(self.topk):
                values[f"{split}_acc" if k == 1 else f"{split}_acc{k}"] = sums[2 + i].item() / n
            self.log_epoch(values)
