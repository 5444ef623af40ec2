"""CIFAR-stem (32x32) models of the five papers, each a builder ``fn(num_classes, **kw) -> nn.Module``.

Where each architecture comes from (details and open choices: tasks/vision/README.md):

- ``vgg16``: VGG-16 with BatchNorm and one linear classifier, exactly ``VGG('VGG16')`` of the
  Padam code (uclaml/Padam models/vgg.py, the kuangliu/pytorch-cifar layout).
- ``resnet18`` / ``resnet34``: the kuangliu CIFAR ResNet (3x3 stem, no max-pool) used by the Padam
  code and by AdaBound's CIFAR demo (Luolc/AdaBound demos/cifar10/models/resnet.py).
- ``densenet121``: kuangliu CIFAR DenseNet-121 (AdaBound demo), growth rate 32 by default;
  AdaMomentum section 5.2.1 says it used growth rate 12 (``growth_rate=12``).
- ``wrn16_4``: WRN-16-4 as in the Padam code (models/wideresnet.py ``WResNet_cifar10``).
- ``resnet20``: He et al. 2016 CIFAR ResNet-20 (option A shortcuts); ``resnet20_keras`` is the
  Keras example RAME used (1x1 projection shortcuts, conv biases).
- ``vgg16_keras``: the Keras VGG-16 RAME used (geifmany/cifar-vgg: dropout, 512-unit hidden layer).
- ``mlp_keras``: RAME's MLP 3072-1024-512-512-10 with dropout 0.2 (aidiary/keras-examples).

``vgg16``, ``resnet18``, ``resnet34`` and ``densenet121`` look at ``input_shape``: images larger
than 64 px get the torchvision ImageNet architecture of the same name (``vgg16`` -> ``vgg16_bn``),
so ``model=resnet18 dataset=imagenet`` just works. ``stem="cifar"|"imagenet"`` forces one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tasks.vision import imagenet_models

CIFAR_MAX_SIDE = 64  # inputs up to this side length get the CIFAR stem under stem="auto"
VGG16_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _use_imagenet_stem(input_shape: Sequence[int] | None, stem: str) -> bool:
    if stem not in ("auto", "cifar", "imagenet"):
        raise ValueError(f"model.stem must be one of auto, cifar, imagenet; got {stem!r}")
    if stem != "auto":
        return stem == "imagenet"
    return input_shape is not None and max(int(s) for s in list(input_shape)[1:]) > CIFAR_MAX_SIDE


# --- VGG ------------------------------------------------------------------------------
class VGG(nn.Module):
    """Conv3x3-BN-ReLU stacks with max-pooling, then ``fc_hidden`` Linear-ReLU layers (none by
    default: one linear layer on the 512-d feature) and the linear classifier."""

    def __init__(self, cfg: Sequence[int | str], num_classes: int, fc_hidden: Sequence[int] = ()) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, int(v), 3, padding=1), nn.BatchNorm2d(int(v)), nn.ReLU(inplace=True)]
                channels = int(v)
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = []
        for width in fc_hidden:
            head += [nn.Linear(channels, int(width)), nn.ReLU(inplace=True)]
            channels = int(width)
        head.append(nn.Linear(channels, num_classes))
        self.classifier = head[0] if len(head) == 1 else nn.Sequential(*head)

    def forward(self, x: Tensor) -> Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 1)  # 1x1 already at 32 px: identity there
        return self.classifier(torch.flatten(x, 1))


def vgg16(num_classes: int = 10, input_shape: Sequence[int] | None = None, stem: str = "auto",
          fc_hidden: Sequence[int] = ()) -> nn.Module:
    """VGG-16-BN, CIFAR layout (Padam code); torchvision ``vgg16_bn`` for ImageNet-size inputs.

    ``fc_hidden=(512, 512)`` is the Padam paper's variant (App. C.2, footnote 7: the two ending
    fully connected layers cut from 2048 to 512 nodes, then the softmax classifier); the
    official code, the default, has the classifier alone.
    """
    if _use_imagenet_stem(input_shape, stem):
        if fc_hidden:
            raise ValueError("model.fc_hidden applies to the CIFAR VGG-16 only (ImageNet uses torchvision vgg16_bn)")
        return imagenet_models.vgg16_bn(num_classes)
    return VGG(VGG16_CFG, num_classes, fc_hidden)


class KerasVGG16(nn.Module):
    """geifmany/cifar-vgg ``cifar10vgg.build_model``: Conv(bias)-ReLU-BN(-Dropout) blocks,
    Dropout(0.5), Dense(512)-ReLU-BN, Dropout(0.5), Dense(num_classes).

    Keras defaults kept: BatchNormalization(momentum=0.99, epsilon=1e-3) -> PyTorch
    momentum=0.01, eps=1e-3; glorot-uniform kernels and zero biases.
    """

    # dropout after each conv (None: none), in the order of VGG16_CFG's conv layers
    DROPOUT = (0.3, None, 0.4, None, 0.4, 0.4, None, 0.4, 0.4, None, 0.4, 0.4, None)

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels, conv_index = 3, 0
        for v in VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            layers += [nn.Conv2d(channels, int(v), 3, padding=1), nn.ReLU(inplace=True), _keras_bn2d(int(v))]
            rate = self.DROPOUT[conv_index]
            if rate is not None:
                layers.append(nn.Dropout(rate))
            channels, conv_index = int(v), conv_index + 1
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Flatten(),
            nn.Linear(512, 512),
            nn.ReLU(inplace=True),
            nn.BatchNorm1d(512, eps=1e-3, momentum=0.01),
            nn.Dropout(0.5),
            nn.Linear(512, num_classes),
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(F.adaptive_max_pool2d(self.features(x), 1))


def _keras_bn2d(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


def vgg16_keras(num_classes: int = 10) -> nn.Module:
    """The Keras VGG-16 RAME trained on CIFAR-10/100 (geifmany/cifar-vgg)."""
    return KerasVGG16(num_classes)


# --- kuangliu CIFAR ResNet ------------------------------------------------------------
class BasicBlock(nn.Module):
    """Post-activation 3x3-3x3 residual block; 1x1 conv + BN projection when the shape changes."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """3x3 stem (64 ch, stride 1, no max-pool), four stages 64/128/256/512, global pool, linear."""

    def __init__(self, num_blocks: Sequence[int], num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        stages, in_planes = [], 64
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), num_blocks)):
            layers = []
            for j in range(blocks):
                layers.append(BasicBlock(in_planes, planes, stride=2 if (i > 0 and j == 0) else 1))
                in_planes = planes
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


def resnet18(num_classes: int = 10, input_shape: Sequence[int] | None = None, stem: str = "auto") -> nn.Module:
    """ResNet-18: kuangliu CIFAR stem, or torchvision ``resnet18`` for ImageNet-size inputs."""
    if _use_imagenet_stem(input_shape, stem):
        return imagenet_models.resnet18(num_classes)
    return CifarResNet((2, 2, 2, 2), num_classes)


def resnet34(num_classes: int = 10, input_shape: Sequence[int] | None = None, stem: str = "auto") -> nn.Module:
    """ResNet-34: kuangliu CIFAR stem, or torchvision ``resnet34`` for ImageNet-size inputs."""
    if _use_imagenet_stem(input_shape, stem):
        return imagenet_models.resnet34(num_classes)
    return CifarResNet((3, 4, 6, 3), num_classes)


# --- He et al. 2016 CIFAR ResNet-20 ---------------------------------------------------
class OptionAShortcut(nn.Module):
    """Parameter-free shortcut: stride-2 subsampling and zero-padded extra channels."""

    def __init__(self, extra_channels: int) -> None:
        super().__init__()
        self.pad = extra_channels // 2

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class ThinBlock(nn.Module):
    """Conv-BN-ReLU-Conv-BN + shortcut, ReLU (He et al. 2016, Sec. 4.2)."""

    def __init__(self, in_planes: int, planes: int, stride: int, shortcut: str, conv_bias: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=conv_bias)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=conv_bias)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            if shortcut == "A":
                self.shortcut = OptionAShortcut(planes - in_planes)
            else:  # Keras example: linear 1x1 projection, with bias, no BN
                self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNetThin(nn.Module):
    """ResNet-(6n+2) for CIFAR: 16/32/64 channels, n blocks per stage, global pool, linear."""

    def __init__(self, depth: int, num_classes: int, shortcut: str = "A", conv_bias: bool = False) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ValueError(f"model.depth must be 6n+2 (20, 32, 44, 56, 110), got {depth}")
        if shortcut not in ("A", "projection"):
            raise ValueError(f"model.shortcut must be 'A' or 'projection', got {shortcut!r}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=conv_bias)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, in_planes = [], 16
        for i, planes in enumerate((16, 32, 64)):
            for j in range(n):
                blocks.append(ThinBlock(in_planes, planes, 2 if (i > 0 and j == 0) else 1, shortcut, conv_bias))
                in_planes = planes
        self.blocks = nn.Sequential(*blocks)
        self.linear = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)  # He init (He et al. 2015), as both sources use

    def forward(self, x: Tensor) -> Tensor:
        out = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


def resnet20(num_classes: int = 10, shortcut: str = "A") -> nn.Module:
    """He et al. 2016 ResNet-20 for CIFAR (0.27M parameters, option-A shortcuts)."""
    return CifarResNetThin(20, num_classes, shortcut=shortcut, conv_bias=False)


def resnet20_keras(num_classes: int = 10) -> nn.Module:
    """ResNet-20 v1 of the Keras ``cifar10_resnet.py`` example RAME used: projection shortcuts, conv biases."""
    return CifarResNetThin(20, num_classes, shortcut="projection", conv_bias=True)


# --- Wide ResNet (Padam code) ---------------------------------------------------------
class WideResNet(nn.Module):
    """Padam's ``WResNet_cifar10``: 3x3 stem with 16k channels, (depth-4)/6 post-activation
    BasicBlocks per stage at 16k/32k/64k channels, average pool, linear. Convs are He-normal
    (fan-out) initialised, BN weight 1 / bias 0, as in the Padam code's ``init_model``.
    """

    def __init__(self, depth: int, widen_factor: int, num_classes: int) -> None:
        super().__init__()
        if (depth - 4) % 6 != 0:
            raise ValueError(f"model.depth must be 6n+4 (16, 22, 28, 40), got {depth}")
        n = (depth - 4) // 6
        k = widen_factor
        self.conv1 = nn.Conv2d(3, 16 * k, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16 * k)
        layers, in_planes = [], 16 * k
        for i, planes in enumerate((16 * k, 32 * k, 64 * k)):
            for j in range(n):
                layers.append(BasicBlock(in_planes, planes, stride=2 if (i > 0 and j == 0) else 1))
                in_planes = planes
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(64 * k, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        out = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


def wrn16_4(num_classes: int = 10) -> nn.Module:
    """Wide ResNet 16-4 (Padam Tables 1 and 4)."""
    return WideResNet(16, 4, num_classes)


# --- kuangliu CIFAR DenseNet ----------------------------------------------------------
class DenseBottleneck(nn.Module):
    """BN-ReLU-Conv1x1(4g)-BN-ReLU-Conv3x3(g), output concatenated to the input."""

    def __init__(self, in_planes: int, growth_rate: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, 4 * growth_rate, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth_rate)
        self.conv2 = nn.Conv2d(4 * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([out, x], 1)


class Transition(nn.Module):
    def __init__(self, in_planes: int, out_planes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.conv = nn.Conv2d(in_planes, out_planes, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class CifarDenseNet(nn.Module):
    """DenseNet-BC for 32 px inputs: 3x3 stem (2g channels), 4 dense blocks, compression 0.5."""

    def __init__(self, blocks: Sequence[int], growth_rate: int, num_classes: int, reduction: float = 0.5) -> None:
        super().__init__()
        planes = 2 * growth_rate
        self.conv1 = nn.Conv2d(3, planes, 3, padding=1, bias=False)
        stages: list[nn.Module] = []
        for i, n in enumerate(blocks):
            dense = []
            for _ in range(n):
                dense.append(DenseBottleneck(planes, growth_rate))
                planes += growth_rate
            stages.append(nn.Sequential(*dense))
            if i < len(blocks) - 1:
                out_planes = int(math.floor(planes * reduction))
                stages.append(Transition(planes, out_planes))
                planes = out_planes
        self.features = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(planes)
        self.linear = nn.Linear(planes, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn(self.features(self.conv1(x))))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


def densenet121(
    num_classes: int = 10, growth_rate: int = 32, input_shape: Sequence[int] | None = None, stem: str = "auto"
) -> nn.Module:
    """DenseNet-121 (blocks 6/12/24/16): kuangliu CIFAR layout, or torchvision for ImageNet-size inputs."""
    if _use_imagenet_stem(input_shape, stem):
        if growth_rate != 32:
            raise ValueError(f"model.growth_rate={growth_rate}: the ImageNet DenseNet-121 has growth rate 32")
        return imagenet_models.densenet121(num_classes)
    return CifarDenseNet((6, 12, 24, 16), growth_rate, num_classes)


# --- RAME's MLP -----------------------------------------------------------------------
def mlp_keras(
    num_classes: int = 10,
    input_shape: Sequence[int] = (3, 32, 32),
    hidden: Sequence[int] = (1024, 512, 512),
    dropout: float = 0.2,
) -> nn.Module:
    """Flatten, Dense-ReLU-Dropout per hidden width, Dense (aidiary/keras-examples mlp/cifar10.py)."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(int(s) for s in input_shape)
    for h in hidden:
        layers += [nn.Linear(width, int(h)), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = int(h)
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
