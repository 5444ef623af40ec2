"""SegmentationModule's validation figures over several batches, against hand counts."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from tasks.base import check_task
from tasks.segmentation.losses import bce_dice
from tasks.segmentation.module import SegmentationModule


class RedChannel(nn.Module):
    """Logit = the normalised red value: predicts person where red > 0.485 * 255 (123.7)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x[:, :1]


def _batch(reds: list[list[int]], masks: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.zeros(len(reds), 3, 1, len(reds[0]), dtype=torch.uint8)
    x[:, 0, 0] = torch.tensor(reds, dtype=torch.uint8)
    return x, torch.tensor(masks, dtype=torch.uint8).view(len(masks), 1, -1)


class Batches:
    """A fixed sequence of batches (a bare list would read to Lightning as a list of loaders)."""

    def __init__(self, *batches) -> None:
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def test_val_iou_and_loss_over_batches() -> None:
    check_task(SegmentationModule)
    # predicted person where red is 200; truth from the masks (255: ignored)
    b1 = _batch([[200, 200, 10, 10], [10, 200, 10, 10]], [[1, 0, 1, 0], [0, 1, 1, 255]])
    b2 = _batch([[200, 10, 10, 200]], [[0, 0, 0, 255]])
    # intersections: img1 {0}, img2 {1}, img3 {} -> 2; unions: img1 {0,1,2}, img2 {1,2}, img3 {0} -> 6
    module = SegmentationModule(RedChannel(), optimizer_factory=lambda p, role="model": torch.optim.SGD(p, lr=0.1))
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu", devices=1)
    [metrics] = trainer.validate(module, dataloaders=Batches(b1, b2), verbose=False)
    assert metrics["val_iou"] == pytest.approx(2 / 6)
    with torch.no_grad():
        per_image = torch.cat([bce_dice(module(x), y, per_image=True) for x, y in (b1, b2)])
    assert metrics["val_loss"] == pytest.approx(per_image.mean().item(), rel=1e-6)
    assert module.logged_keys == ("train_loss", "val_loss", "val_iou") and module.metric.mode == "max"
