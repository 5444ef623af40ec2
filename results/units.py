"""How a record value prints: read from the record's own metric descriptions.

Every record stores its task's selection metric (``record["metric"]``: name, mode, unit,
scale, label) and the units of the other metrics it logs (``record["metrics"]``); results
code asks here instead of guessing from a metric's name. Records written before units were
stored fall back to :data:`LEGACY`.
"""

from __future__ import annotations

import math
from typing import Any

# Metric descriptions of records that predate ``record["metrics"]`` (schema 1, early 2026).
LEGACY: dict[str, dict[str, Any]] = {
    "acc": {"name": "acc", "mode": "max", "unit": "%", "scale": 100.0, "label": "top-1 accuracy"},
    "acc5": {"name": "acc5", "mode": "max", "unit": "%", "scale": 100.0, "label": "top-5 accuracy"},
    "dist": {"name": "dist", "mode": "min", "unit": "", "scale": 1.0, "label": "distance to the minimum"},
}


def describe(record: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """The description of metric ``name`` (default: the selection metric) in ``record``."""
    selection = dict(record.get("metric") or {})
    name = name or selection.get("name")
    known = dict(record.get("metrics") or {})
    if selection.get("name") and "unit" in selection:
        known.setdefault(selection["name"], selection)
    if name in known:
        return {**LEGACY.get(name, {}), **known[name]}
    if name in LEGACY:
        return dict(LEGACY[name])
    return {"name": name, "mode": selection.get("mode", "max") if name == selection.get("name") else "max",
            "unit": "", "scale": 1.0, "label": name}


def is_fraction(info: dict[str, Any]) -> bool:
    """Stored as a fraction and printed in percent (accuracies)."""
    return float(info.get("scale", 1.0)) == 100.0 and info.get("unit") == "%"


def to_unit(value: float, info: dict[str, Any], unit: str) -> float:
    """A record value of metric ``info`` in the printed ``unit``: ``%`` or ``error%`` for
    fractions, the metric's own unit (times its scale) otherwise."""
    if unit in ("%", "error%"):
        if not is_fraction(info):
            raise ValueError(f"metric {info.get('name')!r} is not a fraction; it cannot be printed in unit {unit!r}")
        return 100.0 * value if unit == "%" else 100.0 * (1.0 - value)
    return value * float(info.get("scale", 1.0))


def std_to_unit(std: float, info: dict[str, Any], unit: str) -> float:
    """A spread in the printed unit (scale only: error% and % have the same spread)."""
    if not math.isfinite(std):
        return std
    return 100.0 * std if unit in ("%", "error%") else std * float(info.get("scale", 1.0))


def printed_unit(info: dict[str, Any]) -> str:
    """The unit a table prints the metric in by default."""
    return info.get("unit") or ""
