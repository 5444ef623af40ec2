"""Gradient norms over training (AdaL, Figs. 1-3 and Sec. 2.3).

At every optimizer step (Lightning's ``on_before_optimizer_step``: after backward, before
gradient clipping and the update) per parameter tensor ``||g||_1``, ``||g||_2`` and the norm of
AdaL's transformed gradient ``||g_hat||_2 = ||g||_1 * ||g||_2`` (``g_hat = ||g||_1 g``, computed
from ``g`` whatever the optimizer). A row per window: the window's mean of each per tensor
(``per_tensor``), and over tensors the mean of ``l1``/``l2``/``adal`` plus the global
``||g||_2`` (all tensors as one vector) averaged over the window's steps.
"""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch

from bench.probes.base import Probe

KEYS = ("l1", "l2", "adal")


class GradNormProbe(Probe):
    name = "grad_norm"

    def _open(self, pl_module: pl.LightningModule) -> None:
        self._sums: dict[str, list[float]] = {}
        self._global = 0.0

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        if not self._open_window:
            return
        total_sq = 0.0
        with torch.no_grad():
            for name, p in pl_module.named_parameters():
                if p.grad is None:
                    continue
                g = p.grad.detach().float()
                l1, l2 = float(g.abs().sum()), float(torch.linalg.vector_norm(g))
                sums = self._sums.setdefault(name, [0.0, 0.0, 0.0])
                sums[0] += l1
                sums[1] += l2
                sums[2] += l1 * l2
                total_sq += l2 * l2
        self._global += math.sqrt(total_sq)
        self._stepped(trainer, pl_module)

    def _close(self, pl_module: pl.LightningModule) -> dict[str, Any]:
        n = self._steps
        per_tensor = {name: dict(zip(KEYS, (v / n for v in sums))) for name, sums in self._sums.items()}
        row: dict[str, Any] = {"global_l2": self._global / n, "per_tensor": per_tensor}
        for key in KEYS:
            values = [t[key] for t in per_tensor.values()]
            row[f"mean_{key}"] = sum(values) / len(values) if values else float("nan")
        return row
