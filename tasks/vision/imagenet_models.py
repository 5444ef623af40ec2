"""ImageNet models (224 px) from torchvision, randomly initialised (``weights=None``).

Builders follow ``fn(num_classes, **kw) -> nn.Module``. The AdaRem Table 1 models are
ResNet-18/50, MobileNetV2 at width 1.0 and 0.5 and ShuffleNetV2 at 1.0x and 0.5x; Padam
Table 2 uses ResNet-18 and ``vgg16_bn`` ("the batch normalized version provided in Pytorch
official package", Padam footnote 7).
"""

from __future__ import annotations

from torch import nn
from torchvision import models as tvm

SHUFFLENET_WIDTHS = {0.5: tvm.shufflenet_v2_x0_5, 1.0: tvm.shufflenet_v2_x1_0, 1.5: tvm.shufflenet_v2_x1_5, 2.0: tvm.shufflenet_v2_x2_0}


def resnet18(num_classes: int = 1000, **_: object) -> nn.Module:
    return tvm.resnet18(weights=None, num_classes=num_classes)


def resnet34(num_classes: int = 1000, **_: object) -> nn.Module:
    return tvm.resnet34(weights=None, num_classes=num_classes)


def resnet50(num_classes: int = 1000, **_: object) -> nn.Module:
    return tvm.resnet50(weights=None, num_classes=num_classes)


def vgg16_bn(num_classes: int = 1000, **_: object) -> nn.Module:
    return tvm.vgg16_bn(weights=None, num_classes=num_classes)


def densenet121(num_classes: int = 1000, **_: object) -> nn.Module:
    return tvm.densenet121(weights=None, num_classes=num_classes)


def mobilenet_v2(num_classes: int = 1000, width_mult: float = 1.0, **_: object) -> nn.Module:
    """MobileNetV2; ``width_mult=0.5`` scales every layer but the last 1280-channel one (as in the paper)."""
    if width_mult <= 0:
        raise ValueError(f"model.width_mult must be > 0, got {width_mult}")
    return tvm.mobilenet_v2(weights=None, num_classes=num_classes, width_mult=float(width_mult))


def shufflenet_v2(num_classes: int = 1000, width: float = 1.0, **_: object) -> nn.Module:
    """ShuffleNetV2 at ``width`` 0.5, 1.0, 1.5 or 2.0 (torchvision ``shufflenet_v2_x{width}``)."""
    try:
        build = SHUFFLENET_WIDTHS[float(width)]
    except KeyError:
        allowed = ", ".join(str(w) for w in SHUFFLENET_WIDTHS)
        raise ValueError(f"model.width must be one of {allowed}; got {width}") from None
    return build(weights=None, num_classes=num_classes)
