"""Generic model builders shared by several workloads."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn


class MLP(nn.Sequential):
    """Flatten, then Linear-ReLU blocks of widths ``hidden``, then a linear classifier."""

    def __init__(self, input_shape: Sequence[int], num_classes: int, hidden: Sequence[int] = (128, 128)) -> None:
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            width = h
        layers.append(nn.Linear(width, num_classes))
        super().__init__(*layers)


class ConvNet(nn.Sequential):
    """Small VGG-style CNN (3 conv-BN-ReLU-pool stages, linear head) for image benchmarks."""

    def __init__(self, input_shape: Sequence[int], num_classes: int, width: int = 32) -> None:
        channels, layers = input_shape[0], []
        for i in range(3):
            out = width * 2**i
            layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            channels = out
        super().__init__(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))
