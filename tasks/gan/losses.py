"""Hinge adversarial loss (StudioGAN ``loss_hinge_dis`` / ``loss_hinge_gen``, the SNGAN config's ``adv_loss``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def hinge_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """``mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))``."""
    return torch.mean(F.relu(1.0 - real_logits)) + torch.mean(F.relu(1.0 + fake_logits))


def hinge_g_loss(fake_logits: Tensor) -> Tensor:
    """``-mean(D(G(z)))``."""
    return -torch.mean(fake_logits)
