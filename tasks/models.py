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
