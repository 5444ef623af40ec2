"""Per-batch CIFAR augmentation with tensor ops: the fast path, on whatever device the data lives on.

It draws the same distribution as torchvision's
``Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(), ToTensor(), Normalize(mean, std)])``:
zero padding by ``padding`` pixels, a crop offset uniform on ``{0..2*padding}`` in each axis,
a horizontal flip with probability 1/2, then ``(x / 255 - mean) / std``. The crop and flip
are one gather from the padded uint8 batch (no Python loop over images).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def sample_crop_flip(n: int, generator: torch.Generator | None, padding: int = 4, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor, Tensor]:
    """``(dy, dx, flip)`` for ``n`` images: offsets uniform on ``0..2*padding``, flips with p = 1/2."""
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator, device=device)
    flip = torch.rand(n, generator=generator, device=device) < 0.5
    return offsets[0], offsets[1], flip


def crop_flip(x: Tensor, dy: Tensor, dx: Tensor, flip: Tensor, padding: int = 4) -> Tensor:
    """Crop each image of ``x`` (B, C, H, W) at ``(dy, dx)`` of its zero-padded copy, then flip where ``flip``.

    One ``gather`` over the flattened padded images (about 4x faster on CPU than 4-D advanced indexing).
    """
    b, c, h, w = x.shape
    padded_w = w + 2 * padding
    padded = F.pad(x, (padding, padding, padding, padding)).reshape(b, c, -1)
    ar_h = torch.arange(h, device=x.device)
    ar_w = torch.arange(w, device=x.device)
    rows = dy[:, None] + ar_h
    cols = torch.where(flip[:, None], dx[:, None] + (w - 1) - ar_w, dx[:, None] + ar_w)
    index = (rows[:, :, None] * padded_w + cols[:, None, :]).reshape(b, 1, h * w).expand(b, c, h * w)
    return torch.gather(padded, 2, index).reshape(b, c, h, w)


def random_crop_flip(x: Tensor, generator: torch.Generator | None, padding: int = 4) -> Tensor:
    """RandomCrop(size, padding) + RandomHorizontalFlip() on a uint8 batch, one draw per image."""
    dy, dx, flip = sample_crop_flip(x.shape[0], generator, padding, device=x.device)
    return crop_flip(x, dy, dx, flip, padding)


class Normalize:
    """uint8 (B, C, H, W) -> float32 ``(x / 255 - mean) / std`` as one multiply-subtract."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        mean_t = torch.tensor([float(m) for m in mean]).view(1, -1, 1, 1)
        std_t = torch.tensor([float(s) for s in std]).view(1, -1, 1, 1)
        self.scale = 1.0 / (255.0 * std_t)
        self.shift = mean_t / std_t
        self._device_cache: dict[torch.device, tuple[Tensor, Tensor]] = {}

    def __call__(self, x: Tensor) -> Tensor:
        if x.device not in self._device_cache:
            self._device_cache[x.device] = (self.scale.to(x.device), self.shift.to(x.device))
        scale, shift = self._device_cache[x.device]
        return x.to(torch.float32).mul_(scale).sub_(shift)


class CifarBatchTransform:
    """``TensorLoader`` transform: ``((x_uint8, y), generator) -> (x_float, y)``.

    Args:
        mean, std: per-channel statistics in [0, 1] units (as torchvision's ``Normalize``).
        augment: random crop (zero padding ``padding``) and horizontal flip; off for eval.
        channels_last: return NHWC-strided batches (for channels_last models on GPU).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], augment: bool = True, padding: int = 4, channels_last: bool = False) -> None:
        self.normalize = Normalize(mean, std)
        self.augment = augment
        self.padding = padding
        self.channels_last = channels_last

    def __call__(self, batch: tuple[Tensor, ...], generator: torch.Generator | None) -> tuple[Tensor, ...]:
        x, *rest = batch
        if self.augment:
            x = random_crop_flip(x, generator, self.padding)
        x = self.normalize(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return (x, *rest)
