"""The selection metric of a task, as data: name, direction, unit, how it prints.

Torch-free on purpose: every record stores its task's metric as :meth:`Metric.to_dict`, and
``results/`` reads units and directions from there without importing any task code.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

MODES = ("max", "min")


@dataclass(frozen=True)
class Metric:
    """A task's selection metric, logged per evaluation as ``val_<name>`` and ``test_<name>``.

    ``scale`` is the print multiplier (accuracy is stored as a fraction and printed in %);
    ``unit`` is what the printed number is in; ``mode`` says whether larger is better.
    """

    name: str
    mode: str
    unit: str = ""
    scale: float = 1.0
    label: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"Metric.name must be an identifier (it becomes val_<name>), got {self.name!r}")
        if self.mode not in MODES:
            raise ValueError(f"Metric.mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not (isinstance(self.scale, (int, float)) and math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"Metric.scale must be a finite number > 0, got {self.scale!r}")

    @property
    def key(self) -> str:
        """The history key of the validation value (what selection reads)."""
        return f"val_{self.name}"

    def better(self, a: float, b: float) -> bool:
        """True when ``a`` is strictly better than ``b``."""
        return a > b if self.mode == "max" else a < b

    def format(self, value: float | None, digits: int = 2) -> str:
        """``value`` as printed in tables (scaled; ``—`` when missing or non-finite)."""
        if value is None or not math.isfinite(value):
            return "—"
        return f"{value * self.scale:.{digits}f}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Metric":
        return cls(**{k: data[k] for k in ("name", "mode", "unit", "scale", "label") if k in data})


# The metrics of the workload families this harness has; a task may define its own.
ACCURACY = Metric("acc", "max", "%", 100.0, "top-1 accuracy")
TOP5 = Metric("acc5", "max", "%", 100.0, "top-5 accuracy")
PERPLEXITY = Metric("ppl", "min", "ppl", 1.0, "perplexity")
FID = Metric("fid", "min", "FID", 1.0, "Fréchet Inception distance")
BLEU = Metric("bleu", "max", "BLEU", 1.0, "BLEU")
IOU = Metric("iou", "max", "IoU", 1.0, "foreground IoU")
DISTANCE = Metric("dist", "min", "", 1.0, "distance to the minimum")
