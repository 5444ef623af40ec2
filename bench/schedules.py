"""Plan-time checks of the ``schedule`` group's arguments, for every schedule config.

Arguments are checked by name, so a schedule added under ``conf/schedule/`` is covered by
the names it shares with the others: ``milestones`` (strictly increasing integers >= 1),
``gamma``/``factor``/``factors`` (in (0, 1]), ``step_size``/``T_max`` (integers >= 1),
``eta_min``/``total_iters`` and any ``warmup*`` key (>= 0), ``interval`` (epoch | step).
A milestone at or past the cell's budget is legal but never reached: a warning.
"""

from __future__ import annotations

import math
from typing import Any

from omegaconf import DictConfig, OmegaConf

INTERVALS = ("epoch", "step")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_schedule(cfg: DictConfig) -> list[str]:
    """Raise ``ConfigError`` (one line) for a bad schedule argument; return warnings."""
    from bench.config import ConfigError

    node = cfg.get("schedule")
    if node is None:
        return []
    args = OmegaConf.to_container(node, resolve=True)
    name = args.get("name", "?")

    def bad(key: str, allowed: str) -> ConfigError:
        return ConfigError(f"schedule.{key}={args[key]!r} is invalid (schedule={name}): {allowed}")

    interval = args.get("interval", "epoch")
    if interval not in INTERVALS:
        raise bad("interval", f"must be one of {', '.join(INTERVALS)}")
    warnings: list[str] = []
    if "milestones" in args:
        ms = args["milestones"]
        if not isinstance(ms, list) or not all(_integer(m) and m >= 1 for m in ms):
            raise bad("milestones", "must be a list of integers >= 1, e.g. [100,150]")
        if any(b <= a for a, b in zip(ms, ms[1:])):
            raise bad("milestones", "must be strictly increasing")
        per, limit = ("step", cfg.get("max_steps")) if interval == "step" else ("epoch", cfg.get("epochs"))
        if cfg.get("max_steps") is None or interval == "step":
            late = [m for m in ms if _integer(limit) and m >= limit]
            if late:
                warnings.append(f"schedule.milestones {late} (schedule={name}) are at or past the budget of "
                                f"{limit} {per}s: never reached")
    for key in ("gamma", "factor"):
        if key in args and not (_number(args[key]) and 0 < args[key] <= 1):
            raise bad(key, "must be a number in (0, 1]")
    if "factors" in args:
        fs = args["factors"]
        if not isinstance(fs, list) or not all(_number(f) and 0 < f <= 1 for f in fs):
            raise bad("factors", "must be a list of numbers in (0, 1]")
        if isinstance(args.get("milestones"), list) and len(fs) != len(args["milestones"]):
            raise bad("factors", f"needs one factor per milestone ({len(args['milestones'])})")
    for key in ("step_size", "T_max"):
        if key in args and not (_integer(args[key]) and args[key] >= 1):
            raise bad(key, "must be an integer >= 1")
    for key in ("eta_min", "total_iters"):
        if key in args and not (_number(args[key]) and args[key] >= 0):
            raise bad(key, "must be a number >= 0")
    for key in args:
        if key.lower().startswith("warmup") and not (_number(args[key]) and args[key] >= 0):
            raise bad(key, "must be a number >= 0" + (" (an integer)" if "step" in key or "iter" in key else ""))
        if key.lower().startswith("warmup") and ("step" in key or "iter" in key) and not _integer(args[key]):
            raise bad(key, "must be an integer >= 0")
    return warnings
