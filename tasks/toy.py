"""2-D test functions: an optimizer's path from a start point, through the same runner.

A cell trains one point ``(x, y)``: every "batch" is one optimizer step on ``f(x, y)``.
The record's history holds per-epoch ``train_loss`` (mean f), ``val_loss`` (f at the end
of the epoch) and ``val_dist`` / ``test_dist`` (distance to the global minimum, the
selection metric), and ``extras.trajectory`` holds every visited point (start included).

The functions, their minima and start points are in :mod:`tasks.toy_functions` (torch-free,
shared with the contour plots of ``results/``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from tasks import Diverged
from tasks.base import Task, TaskData
from tasks.metric import DISTANCE
from tasks.tensor_loader import TensorLoader
from tasks.toy_functions import FUNCTIONS, ToyFunction, get_function  # noqa: F401 (re-exported)


class Point(nn.Module):
    """The trainable point; ``forward()`` returns ``f(point)``."""

    def __init__(self, function: str, start: Sequence[float] | None = None) -> None:
        super().__init__()
        self.function = get_function(function)
        self.xy = nn.Parameter(torch.tensor(list(start or self.function.start), dtype=torch.float64))

    def forward(self) -> Tensor:
        return self.function.fn(self.xy[0], self.xy[1], torch)


class ToyProblem(TaskData):
    """No data: ``steps_per_epoch`` empty batches, each one optimizer step."""

    def __init__(self, function: str, start: Sequence[float] | None = None, steps_per_epoch: int = 20) -> None:
        """``start`` is read by the model config (``${dataset.start}``); accepted here so the
        dataset node can carry it."""
        super().__init__()
        get_function(function)
        if steps_per_epoch < 1:
            raise ValueError(f"dataset.steps_per_epoch must be >= 1, got {steps_per_epoch}")
        self.steps = steps_per_epoch

    def split_loader(self, split: str) -> TensorLoader:
        return TensorLoader(torch.zeros(self.steps if split == "train" else 1), batch_size=1)

    def example_batch(self) -> Tensor:
        return torch.zeros(1)


class ToyModule(Task):
    """Minimise ``f`` over the point; the selection metric is the distance to the minimum."""

    metric = DISTANCE
    logged_keys = ("train_loss", "val_loss", "val_dist", "test_loss", "test_dist")

    def __init__(self, model: Point, optimizer_factory: Callable, scheduler_factory: Callable | None = None,
                 divergence_check_every: int = 1) -> None:
        super().__init__(model, optimizer_factory, scheduler_factory, divergence_check_every)
        self.trajectory: list[list[float]] = [model.xy.detach().tolist()]
        self._losses: list[float] = []

    def _distance(self) -> float:
        return math.dist(self.model.xy.detach().tolist(), self.model.function.minimum)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        loss = self.model()
        self.check_finite(loss, "f", step=batch_idx)
        self._losses.append(loss.item())
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        point = self.model.xy.detach().tolist()
        if not all(math.isfinite(v) for v in point):
            raise Diverged(f"the point became non-finite at epoch {self.current_epoch}, step {batch_idx}")
        self.trajectory.append(point)

    def on_train_epoch_end(self) -> None:
        self.log("train_loss", sum(self._losses) / max(len(self._losses), 1))
        self._losses = []

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        split = ("val", "test")[dataloader_idx]
        with torch.no_grad():
            value = self.model().item()
        self.log_dict({f"{split}_loss": value, f"{split}_dist": self._distance()}, add_dataloader_idx=False)

    @classmethod
    def fit_check(cls, model: nn.Module, batch: Any) -> None:
        model()  # the point takes no input

    def record_extras(self) -> dict[str, Any]:
        """Extra record fields: the whole path, for trajectory plots."""
        fn = self.model.function
        return {"trajectory": self.trajectory, "minimum": list(fn.minimum), "bounds": [list(b) for b in fn.bounds]}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["toy_trajectory"] = self.trajectory

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.trajectory = checkpoint["toy_trajectory"]
