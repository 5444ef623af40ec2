"""Person segmentation as a LightningModule: 0.5 BCE + 0.5 Dice, foreground IoU on validation.

Logs per epoch ``train_loss`` (mean batch loss), ``val_loss`` (mean per-image loss, as the
cited code's batch-1 validation) and ``val_iou``: TP / (TP + FP + FN) over all validation
pixels at threshold 0.5 (torchmetrics' ``BinaryJaccardIndex`` definition, accumulated as
sums so there is no per-step host sync). A per-image mean IoU is undefined on the half of
the images that have no person, so the dataset-level IoU is the selection metric.
Inputs arrive as uint8 and are normalised here with ImageNet mean/std (torchvision's
convention for its ImageNet ResNets; the cited Keras code used "caffe" BGR mean subtraction).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from tasks.base import OptimizerFactory, SchedulerFactory, Task
from tasks.metric import IOU
from tasks.segmentation.losses import bce_dice, iou_counts
from tasks.segmentation.models import RANDOM_INIT_NOTE

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class SegmentationModule(Task):
    metric = IOU
    logged_keys = ("train_loss", "val_loss", "val_iou")

    def __init__(self, model: nn.Module, optimizer_factory: OptimizerFactory,
                 scheduler_factory: SchedulerFactory | None = None, divergence_check_every: int = 1,
                 threshold: float = 0.5) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"module.threshold must be in (0, 1), got {threshold}")
        super().__init__(model, optimizer_factory, scheduler_factory, divergence_check_every)
        self.threshold = float(threshold)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255, persistent=False)
        self._train_sums: Tensor | None = None
        self._val_sums: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        x = (x.float() - self.mean) / self.std
        return self.model(x)

    # --- training -------------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        self._train_sums = torch.zeros(2, device=self.device, dtype=torch.float64)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        loss = bce_dice(self(x), y)
        sums = self._train_sums
        sums[0] += loss.detach().double()
        sums[1] += 1
        self.check_finite(sums[0], "training loss", step=batch_idx)
        return loss

    def on_train_epoch_end(self) -> None:
        sums = self.trainer.strategy.reduce(self._train_sums, reduce_op="sum")
        train_loss = (sums[0] / sums[1].clamp_min(1)).item()
        self.check_finite(train_loss, "training loss")
        self.log("train_loss", train_loss, on_epoch=True, sync_dist=False)

    # --- validation -----------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._val_sums = torch.zeros(4, device=self.device, dtype=torch.float64)  # loss, images, inter, union

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        x, y = batch
        logits = self(x)
        sums = self._val_sums
        sums[0] += bce_dice(logits, y, per_image=True).double().sum()
        sums[1] += y.shape[0]
        sums[2:] += iou_counts(logits, y, self.threshold)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        sums = self.trainer.strategy.reduce(self._val_sums, reduce_op="sum")
        if sums[1].item() == 0:
            return
        values = {"val_loss": (sums[0] / sums[1]).item(),
                  "val_iou": (sums[2] / sums[3]).item() if sums[3].item() > 0 else 1.0}
        self.log_dict(values, on_epoch=True, sync_dist=False, add_dataloader_idx=False)

    @classmethod
    def fit_check(cls, model: nn.Module, batch: Any) -> None:
        """The plan-time forward pass on the uint8 example crops, as ``forward`` feeds them (float)."""
        model.eval()(batch[0].float())

    def record_extras(self) -> dict[str, Any] | None:
        """``encoder_init`` (where the encoder weights came from) and, for a random init, ``warning``."""
        note = getattr(self.model, "encoder_init", None)
        if note is None:
            return None
        return {"encoder_init": note, **({"warning": note} if note == RANDOM_INIT_NOTE else {})}
