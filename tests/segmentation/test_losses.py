"""BCE + Dice and foreground IoU against hand computation and the reference libraries."""

from __future__ import annotations

import math

import pytest
import torch

from tasks.segmentation.losses import bce_dice, iou_counts


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_bce_dice_by_hand() -> None:
    # one 1x2x2 image: probabilities 0.8, 0.3, 0.6, 0.1 (the last pixel ignored), targets 1, 0, 1, -
    probs = [0.8, 0.3, 0.6, 0.1]
    logits = torch.tensor([_logit(p) for p in probs]).view(1, 1, 2, 2)
    target = torch.tensor([[1, 0], [1, 255]], dtype=torch.uint8).view(1, 2, 2)
    bce = -(math.log(0.8) + math.log(0.7) + math.log(0.6)) / 3
    dice = (2 * (0.8 + 0.6) + 1e-3) / (2 + (0.8 + 0.3 + 0.6) + 1e-3)
    expected = 0.5 * bce + 0.5 * (1 - dice)
    assert bce_dice(logits, target).item() == pytest.approx(expected, rel=1e-6)
    assert bce_dice(logits, target, per_image=True).tolist() == pytest.approx([expected], rel=1e-6)


def test_batch_dice_pools_images_per_image_dice_does_not() -> None:
    logits = torch.tensor([_logit(0.9), _logit(0.2)]).view(2, 1, 1, 1)
    target = torch.tensor([1, 0], dtype=torch.uint8).view(2, 1, 1)
    d_batch = (2 * 0.9 + 1e-3) / (1 + 1.1 + 1e-3)
    d_img = [(2 * 0.9 + 1e-3) / (1 + 0.9 + 1e-3), 1e-3 / (0.2 + 1e-3)]  # an empty target still penalises p
    bce = [-math.log(0.9), -math.log(0.8)]
    assert bce_dice(logits, target).item() == pytest.approx(0.5 * sum(bce) / 2 + 0.5 * (1 - d_batch), rel=1e-6)
    assert bce_dice(logits, target, per_image=True).tolist() == pytest.approx(
        [0.5 * b + 0.5 * (1 - d) for b, d in zip(bce, d_img)], rel=1e-6)


def test_equals_smp_losses_when_the_target_has_foreground() -> None:
    from segmentation_models_pytorch.losses import DiceLoss, SoftBCEWithLogitsLoss

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 1, 8, 8, generator=g)
    target = (torch.rand(3, 8, 8, generator=g) > 0.6).to(torch.uint8)
    dice = DiceLoss(mode="binary", from_logits=True, smooth=1e-3, eps=0.0)(logits, target.long())
    bce = SoftBCEWithLogitsLoss()(logits, target.unsqueeze(1).float())
    assert bce_dice(logits, target).item() == pytest.approx((0.5 * bce + 0.5 * dice).item(), rel=1e-5)
    empty = torch.zeros_like(target)  # smp returns 0 Dice loss here; the cited Keras code does not
    smp_empty = DiceLoss(mode="binary", from_logits=True, smooth=1e-3, eps=0.0)(logits, empty.long()).item()
    ours = bce_dice(logits, empty) - 0.5 * SoftBCEWithLogitsLoss()(logits, empty.unsqueeze(1).float())
    assert smp_empty == 0.0 and ours.item() > 0.4


def test_iou_counts_by_hand_and_against_torchmetrics() -> None:
    from torchmetrics.classification import BinaryJaccardIndex

    probs = torch.tensor([[0.9, 0.6, 0.2], [0.7, 0.4, 0.8]])
    logits = torch.log(probs / (1 - probs)).view(1, 1, 2, 3)
    target = torch.tensor([[1, 0, 1], [1, 1, 255]], dtype=torch.uint8).view(1, 2, 3)
    # predicted {0,1,3} (pixel 5 ignored), true {0,2,3,4}: intersection {0,3}, union {0,1,2,3,4}
    assert iou_counts(logits, target).tolist() == [2.0, 5.0]
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 1, 16, 16, generator=g)
    target = (torch.rand(4, 16, 16, generator=g) > 0.5).to(torch.uint8)
    inter, union = iou_counts(logits, target).tolist()
    ref = BinaryJaccardIndex(threshold=0.5)(torch.sigmoid(logits.squeeze(1)), target.long()).item()
    assert inter / union == pytest.approx(ref, rel=1e-6)
