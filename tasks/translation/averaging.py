"""Checkpoint averaging (fairseq ``scripts/average_checkpoints.py --num-epoch-checkpoints N``).

The reference averages every entry of the model state of the last N epoch checkpoints.
:class:`RunningAverage` keeps their sum instead of N copies (one model's worth of memory, and
of ``last.ckpt``), adding the weights at the end of each of the last N epochs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor


def average_state_dicts(states: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
    """Element-wise mean of ``states`` (same keys and shapes), in each tensor's dtype."""
    if not states:
        raise ValueError("nothing to average")
    keys = list(states[0])
    for i, s in enumerate(states[1:], 1):
        if list(s) != keys:
            raise ValueError(f"state {i} has different keys from state 0")
    out = {}
    for k in keys:
        total = sum(s[k].detach().double() for s in states)
        out[k] = (total / len(states)).to(states[0][k].dtype)
    return out


class RunningAverage:
    """Sum of model states (float64, on the CPU) and how many were added."""

    def __init__(self) -> None:
        self.sum: dict[str, Tensor] | None = None
        self.count = 0

    def add(self, state: Mapping[str, Tensor]) -> None:
        if self.sum is None:
            self.sum = {k: v.detach().to("cpu", torch.float64, copy=True) for k, v in state.items()}
        else:
            for k, v in state.items():
                self.sum[k] += v.detach().to("cpu", torch.float64)
        self.count += 1

    def average(self, like: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.sum is None:
            raise ValueError("nothing to average")
        return {k: (self.sum[k] / self.count).to(like[k].device, like[k].dtype) for k in like}

    def state_dict(self) -> dict:
        return {"sum": self.sum, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.sum, self.count = state["sum"], int(state["count"])
