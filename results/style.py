"""Shared plot conventions: Agg backend, one colour per optimizer, metric axis labels."""

from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from results.layouts import FIGURE_STYLE  # noqa: E402
from results.units import is_fraction, printed_unit  # noqa: E402

METRIC_NAMES = {"acc": "accuracy", "acc5": "top-5 accuracy", "ppl": "perplexity", "fid": "FID", "bleu": "BLEU",
                "iou": "IoU", "dist": "distance to optimum"}


def colors(optimizers: list[str]) -> dict[str, tuple]:
    """A fixed colour per optimizer (sorted names), the same in every plot of an experiment."""
    cmap = plt.get_cmap("tab10" if len(optimizers) <= 10 else "tab20")
    return {name: cmap(i % cmap.N) for i, name in enumerate(sorted(optimizers))}


def display_unit(info: dict, paper: str | None) -> str:
    """How a metric (its record description) is drawn: fractions as % (or error % where the
    paper plots error), other metrics in their own unit."""
    if not is_fraction(info):
        return printed_unit(info)
    return FIGURE_STYLE.get(paper or "", {}).get("test", "%")


def axis_label(split: str, metric: str, unit: str) -> str:
    name = METRIC_NAMES.get(metric, metric)
    if unit == "error%":
        name = name.replace("accuracy", "error")
        return f"{split} {name} (%)"
    return f"{split} {name}" + (f" ({unit})" if unit and unit.lower() not in name.lower() else "")


def log_scale_ok(values) -> bool:
    finite = [v for v in values if isinstance(v, float) and math.isfinite(v)]
    return bool(finite) and min(finite) > 0


def slug(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9.=-]+", "-", str(p)).strip("-") for p in parts)


def save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
