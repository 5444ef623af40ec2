"""SN-GAN ResNet generator and discriminator for 32x32 images (CIFAR-10).

Follows PyTorch-StudioGAN's ``models/resnet.py`` as used by the AdaBelief authors' SN-GAN fork
(``configs/CIFAR10/SNGAN.json``: ``g_conv_dim = d_conv_dim = 64``, ``z_dim = 128``, ProjGAN):

- Generator: linear z -> 4x4x(4 g_conv_dim); three up-sampling residual blocks of 4 g_conv_dim
  (256) channels (BN -> ReLU -> nearest x2 -> conv3x3 -> BN -> ReLU -> conv3x3, shortcut:
  nearest x2 -> conv1x1); BN -> ReLU -> conv3x3 to RGB -> tanh. Class-conditional BN
  (``gain = 1 + embed0(y)``, ``bias = embed1(y)`` on an affine-free BN) when conditional.
  BatchNorm eps 1e-4, momentum 0.1. No spectral norm in G (``g_spectral_norm: false``).
- Discriminator: an optimized first block (conv3x3 -> ReLU -> conv3x3 -> avgpool; shortcut:
  avgpool -> conv1x1) and three residual blocks of 2 d_conv_dim (128) channels, the first of
  them down-sampling (``[True, True, False, False]``); ReLU, global sum pooling, a linear
  output plus, when conditional, the projection term ``<embed(y), h>``. Spectral norm
  (``torch.nn.utils.parametrizations.spectral_norm``, eps 1e-6, one power iteration per
  forward in training mode) on every conv, linear and embedding layer.
- Weights: orthogonal init of every conv/linear/embedding weight, zero biases (``ortho``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

BN_EPS = 1e-4
SN_EPS = 1e-6


def _sn(module: nn.Module) -> nn.Module:
    return spectral_norm(module, eps=SN_EPS)


class ConditionalBatchNorm2d(nn.Module):
    """Affine-free BatchNorm whose per-channel gain ``1 + e0(y)`` and bias ``e1(y)`` depend on the class."""

    def __init__(self, num_features: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, eps=BN_EPS, momentum=0.1, affine=False)
        self.gain = nn.Embedding(num_classes, num_features)
        self.bias = nn.Embedding(num_classes, num_features)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        gain = 1 + self.gain(y)[:, :, None, None]
        return self.bn(x) * gain + self.bias(y)[:, :, None, None]


class _BN(nn.Module):
    """Unconditional BatchNorm with the same call signature as the conditional one."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, eps=BN_EPS, momentum=0.1)

    def forward(self, x: Tensor, y: Tensor | None) -> Tensor:
        return self.bn(x)


def _norm(channels: int, num_classes: int | None) -> nn.Module:
    return ConditionalBatchNorm2d(channels, num_classes) if num_classes else _BN(channels)


class GenBlock(nn.Module):
    def __init__(self, cin: int, cout: int, num_classes: int | None) -> None:
        super().__init__()
        self.bn1, self.bn2 = _norm(cin, num_classes), _norm(cout, num_classes)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor, y: Tensor | None) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class Generator(nn.Module):
    def __init__(self, z_dim: int = 128, channels: int = 256, blocks: int = 3, bottom: int = 4,
                 num_classes: int | None = 10) -> None:
        super().__init__()
        self.z_dim, self.channels, self.bottom, self.num_classes = z_dim, channels, bottom, num_classes
        self.linear = nn.Linear(z_dim, channels * bottom * bottom)
        self.blocks = nn.ModuleList(GenBlock(channels, channels, num_classes) for _ in range(blocks))
        self.bn = nn.BatchNorm2d(channels, eps=BN_EPS, momentum=0.1)
        self.to_rgb = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.linear(z).view(-1, self.channels, self.bottom, self.bottom)
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.to_rgb(F.relu(self.bn(h))))


class DiscOptBlock(nn.Module):
    """The first discriminator block: no pre-activation, pool after the convs and before the shortcut conv."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = _sn(nn.Conv2d(cin, cout, 3, padding=1))
        self.conv2 = _sn(nn.Conv2d(cout, cout, 3, padding=1))
        self.shortcut = _sn(nn.Conv2d(cin, cout, 1))

    def forward(self, x: Tensor) -> Tensor:
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(x))), 2)
        return h + self.shortcut(F.avg_pool2d(x, 2))


class DiscBlock(nn.Module):
    def __init__(self, cin: int, cout: int, downsample: bool) -> None:
        super().__init__()
        self.downsample = downsample
        self.conv1 = _sn(nn.Conv2d(cin, cout, 3, padding=1))
        self.conv2 = _sn(nn.Conv2d(cout, cout, 3, padding=1))
        self.shortcut = _sn(nn.Conv2d(cin, cout, 1)) if (downsample or cin != cout) else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.relu(self.conv1(F.relu(x))))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        if self.shortcut is None:
            return h + x
        s = self.shortcut(x)
        return h + (F.avg_pool2d(s, 2) if self.downsample else s)


class Discriminator(nn.Module):
    def __init__(self, channels: int = 128, downsample: tuple[bool, ...] = (True, True, False, False),
                 num_classes: int | None = 10) -> None:
        super().__init__()
        self.num_classes = num_classes
        blocks: list[nn.Module] = [DiscOptBlock(3, channels)]
        blocks += [DiscBlock(channels, channels, down) for down in downsample[1:]]
        self.blocks = nn.Sequential(*blocks)
        self.linear = _sn(nn.Linear(channels, 1))
        self.embedding = _sn(nn.Embedding(num_classes, channels)) if num_classes else None

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = torch.sum(F.relu(self.blocks(x)), dim=(2, 3))
        out = self.linear(h).squeeze(1)
        if self.embedding is not None:
            out = out + torch.sum(self.embedding(y) * h, dim=1)  # projection discriminator
        return out


def orthogonal_init(module: nn.Module) -> None:
    """StudioGAN's ``ortho`` init: orthogonal weights for conv/linear/embedding, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.orthogonal_(weight)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)


class SNGAN(nn.Module):
    """The pair the GAN task trains: ``generator`` and ``discriminator`` (two optimizer roles)."""

    def __init__(self, generator: Generator, discriminator: Discriminator) -> None:
        super().__init__()
        if generator.num_classes != discriminator.num_classes:
            raise ValueError("generator and discriminator must agree on num_classes (null for unconditional)")
        self.generator, self.discriminator = generator, discriminator
        self.z_dim, self.num_classes = generator.z_dim, generator.num_classes

    def forward(self, images: Tensor, labels: Tensor | None = None) -> Tensor:
        """Discriminator logits of ``images``, after checking the generator makes images of their shape.

        What the plan-time fit check calls with a data set's example batch (on the meta device).
        """
        n = images.shape[0]
        if labels is None and self.num_classes:
            labels = torch.zeros(n, dtype=torch.long, device=images.device)
        fake = self.generator(torch.zeros(n, self.z_dim, device=images.device), labels)
        if tuple(fake.shape[1:]) != tuple(images.shape[1:]):
            raise ValueError(f"the generator makes {tuple(fake.shape[1:])} images, the data set has {tuple(images.shape[1:])}")
        return self.discriminator(images, labels)


def sngan_resnet(num_classes: int | None = 10, conditional: bool = True, z_dim: int = 128, g_channels: int = 256,
                 d_channels: int = 128, g_blocks: int = 3, d_downsample: tuple[bool, ...] = (True, True, False, False),
                 init: str = "ortho", **_: object) -> SNGAN:
    """The SN-GAN of the recipe (defaults: StudioGAN's CIFAR-10 SNGAN); smaller widths for CPU runs."""
    if init not in ("ortho", "default"):
        raise ValueError(f"model.init must be 'ortho' or 'default', got {init!r}")
    classes = int(num_classes) if conditional else None
    model = SNGAN(Generator(z_dim, g_channels, g_blocks, 4, classes),
                  Discriminator(d_channels, tuple(bool(d) for d in d_downsample), classes))
    if init == "ortho":
        orthogonal_init(model)
    return model
