"""The template's model: a small ReLU network with one output."""

from __future__ import annotations

from torch import Tensor, nn


class Regressor(nn.Module):
    def __init__(self, features: int, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
