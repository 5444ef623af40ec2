"""0.5 x BCE + 0.5 x soft Dice, as the cited DSB2018 code (``selim/losses.py``, ``bce_dice``).

That code computes Dice over the whole flattened batch with smoothing 1e-3:
``dice = (2 sum(t p) + 1e-3) / (sum t + sum p + 1e-3)``, loss ``= 0.5 BCE + 0.5 (1 - dice)``.
smp's ``DiceLoss(mode="binary", smooth=1e-3)`` gives the same number whenever the target
has a foreground pixel, but returns 0 for an all-background target (it masks out empty
classes), where the cited code still penalises every predicted foreground pixel; half of
COCO's selected images have no person, so the cited form is written out here (tested
equal to smp's on non-empty targets). Pixels labelled 255 (padding, ignored crowd) count
in neither term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

SMOOTH = 1e-3
IGNORE = 255


def bce_dice(logits: Tensor, target: Tensor, per_image: bool = False,
             bce_weight: float = 0.5, dice_weight: float = 0.5) -> Tensor:
    """The loss of ``logits [B,1,H,W]`` against a uint8 ``target [B,H,W]`` (0/1, 255 ignored).

    ``per_image=False`` (training): one Dice over the batch and BCE averaged over its valid
    pixels, as Keras computes the cited code's loss on a batch. ``per_image=True``
    (validation, where the cited code uses batch 1): a loss per image, shape ``[B]``.
    """
    logits = logits.squeeze(1).float()
    valid = target != IGNORE
    t = (target == 1).float()
    w = valid.float()
    dims = (1, 2) if per_image else (0, 1, 2)
    bce = F.binary_cross_entropy_with_logits(logits, t, reduction="none") * w
    bce = bce.sum(dims) / w.sum(dims).clamp_min(1.0)
    p = torch.sigmoid(logits) * w
    dice = (2.0 * (p * t).sum(dims) + SMOOTH) / (t.sum(dims) + p.sum(dims) + SMOOTH)
    return bce_weight * bce + dice_weight * (1.0 - dice)


def iou_counts(logits: Tensor, target: Tensor, threshold: float = 0.5) -> Tensor:
    """``[intersection, union]`` of the thresholded prediction with the person pixels (255 ignored)."""
    valid = target != IGNORE
    pred = (torch.sigmoid(logits.squeeze(1).float()) > threshold) & valid
    truth = (target == 1) & valid
    return torch.stack([(pred & truth).sum(), (pred | truth).sum()]).double()
