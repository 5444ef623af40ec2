"""Oscillation index Q of AdaRem (Liu et al.), Sec. 3.2.2, Figs. 1-2.

Per coordinate over a window: path length ``l = sum_t |x_t - x_{t-1}|`` over the optimizer
steps, displacement ``d = |x_end - x_start|``, ``q = l / d`` (>= 1; 1 = a straight path).
``Q`` = mean of ``q`` over coordinates. Coordinates with ``d = 0`` (did not move, or came back
exactly) have no ``q`` and are left out (their count is recorded as ``undefined``).

Memory: per tensor at most ``max_coords`` coordinates are tracked — all of them when the tensor
is that small, else a fixed random subset drawn once (seeded by ``seed`` and the tensor's
position, so every optimizer of a sweep is measured on the same coordinates) — with three
buffers each (window start, previous value, path length), i.e. ``<= 3 x max_coords`` floats per
tensor (default 4096: ~3 MB for a ResNet-18). ``max_coords: null`` tracks every coordinate
(three extra copies of the model). ``Q`` over the model weights each tensor's sample mean by
its share of the model's coordinates, so a sampled Q estimates the all-coordinate Q.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch

from bench.probes.base import Probe


class OscillationProbe(Probe):
    name = "oscillation"

    def __init__(self, every_n_steps: int | None = None, max_coords: int | None = 4096, seed: int = 0) -> None:
        super().__init__(every_n_steps)
        if max_coords is not None and (isinstance(max_coords, bool) or not isinstance(max_coords, int)
                                       or max_coords < 1):
            raise ValueError(f"probes.oscillation.max_coords: {max_coords!r}; allowed: null or an integer >= 1")
        self.max_coords, self.seed = max_coords, seed
        self._tracked: dict[str, dict[str, Any]] = {}

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "max_coords": self.max_coords, "seed": self.seed}

    def _index(self, position: int, p: torch.Tensor) -> torch.Tensor | None:
        n = p.numel()
        if self.max_coords is None or n <= self.max_coords:
            return None
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + position)
        return torch.randperm(n, generator=gen)[: self.max_coords].sort().values.to(p.device)

    def _read(self, p: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
        flat = p.detach().reshape(-1)
        return (flat if index is None else flat[index]).float().clone()

    def _open(self, pl_module: pl.LightningModule) -> None:
        fresh = not self._tracked
        for position, (name, p) in enumerate(pl_module.named_parameters()):
            if not p.requires_grad:
                continue
            if fresh:
                self._tracked[name] = {"index": self._index(position, p), "numel": p.numel()}
            t = self._tracked[name]
            t["start"] = self._read(p, t["index"])
            t["prev"] = t["start"].clone()
            t["path"] = torch.zeros_like(t["start"])

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if not self._open_window:
            return
        with torch.no_grad():
            params = dict(pl_module.named_parameters())
            for name, t in self._tracked.items():
                now = self._read(params[name], t["index"])
                t["path"] += (now - t["prev"]).abs()
                t["prev"] = now
        self._stepped(trainer, pl_module)

    def _close(self, pl_module: pl.LightningModule) -> dict[str, Any]:
        per_layer, weighted, weight, undefined = {}, 0.0, 0, 0
        for name, t in self._tracked.items():
            d = (t["prev"] - t["start"]).abs()
            ok = d > 0
            undefined += int((~ok).sum())
            if not ok.any():
                continue
            q = float((t["path"][ok] / d[ok]).mean())
            per_layer[name] = q
            share = t["numel"] * float(ok.float().mean())
            weighted += q * share
            weight += share
        return {"q": weighted / weight if weight else float("nan"), "per_layer": per_layer, "undefined": undefined}
