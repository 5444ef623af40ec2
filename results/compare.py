"""Per-cell seed statistics for the tables: the 95% interval of our number, n against the
seeds the recipe asked for, and the difference to the table's baseline optimizer with its
interval, Welch p-value and Holm-corrected significance (see :mod:`results.stats`).

The baseline is the records' ``baseline`` (experiment YAML ``reproduces: {baseline: ...}``
or a top-level ``baseline:``), else ``sgd`` when the experiment ran it (the papers' SGDM row),
else none. The Holm family is every non-baseline cell of one table (one metric key).
"""

from __future__ import annotations

import math
from typing import Callable

import pandas as pd

from results.load import GROUP
from results.select import chosen_records
from results.stats import holm, mean_ci, welch

DEFAULT_BASELINE = "sgd"
ALPHA = 0.05
COLUMNS = GROUP + ["n", "seeds_asked", "under_seeded", "ci_low", "ci_high", "ci_method", "baseline",
                   "vs_base", "vs_base_low", "vs_base_high", "p", "p_holm", "significant"]


def table_baseline(records: pd.DataFrame) -> str | None:
    """The baseline optimizer label for these records (see module docstring)."""
    named = [b for b in records.get("baseline", pd.Series(dtype=object)).dropna().unique() if b]
    if named:
        return str(named[0])
    return DEFAULT_BASELINE if DEFAULT_BASELINE in set(records["optimizer"]) else None


def compare_cells(records: pd.DataFrame, key: str, at: str, selection: pd.DataFrame,
                  convert: Callable[[float], float] = lambda v: v) -> pd.DataFrame:
    """One row per group with a usable lr: interval, n, and the baseline comparison.

    ``convert`` maps a record value to the printed unit (e.g. fraction -> %) before any statistic.
    """
    chosen = chosen_records(records, selection)
    column = f"{at}_{key}"
    if column not in chosen:
        return pd.DataFrame(columns=COLUMNS)
    baseline = table_baseline(records)
    values = {k: [convert(v) for v in grp[column] if isinstance(v, float) and math.isfinite(v)]
              for k, grp in chosen.groupby(GROUP, sort=True)}
    asked = chosen.groupby(GROUP)["seeds_asked"].max() if "seeds_asked" in chosen else None
    rows = []
    for k, vals in values.items():
        ci = mean_ci(vals)
        want = int(asked.loc[k]) if asked is not None and math.isfinite(asked.loc[k]) else 0
        row = {**dict(zip(GROUP, k)), "n": ci.n, "seeds_asked": want, "under_seeded": ci.n < want,
               "ci_low": ci.low, "ci_high": ci.high, "ci_method": ci.method, "baseline": baseline,
               "vs_base": math.nan, "vs_base_low": math.nan, "vs_base_high": math.nan, "p": math.nan}
        base_key = (k[0], baseline, k[2], k[3])
        if baseline is not None and k[1] != baseline and base_key in values:
            d = welch(vals, values[base_key])
            row.update(vs_base=d.diff, vs_base_low=d.low, vs_base_high=d.high, p=d.p)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("p_holm", "significant")])
    frame["p_holm"] = holm(frame["p"].tolist()) if len(frame) else []
    frame["significant"] = frame["p_holm"] < ALPHA
    return frame[COLUMNS]


def lookup(stats: pd.DataFrame, experiment: str | None, optimizer: str, model: str, dataset: str) -> dict | None:
    """The row of one cell (``experiment=None``: any experiment), or None."""
    hit = stats[(stats["optimizer"] == optimizer) & (stats["model"] == model) & (stats["dataset"] == dataset)]
    if experiment is not None:
        hit = hit[hit["experiment"] == experiment]
    return None if hit.empty else hit.iloc[0].to_dict()


def _num(v: float, unit: str) -> str:
    return f"{v:.2f}" if unit else f"{v:.4g}"


def ci_text(s: dict | None, unit: str) -> str:
    """``[lo, hi] n=3`` (``†`` when fewer seeds than asked); ``n=1`` without an interval."""
    if not s or s["n"] == 0:
        return ""
    mark = "†" if s["under_seeded"] else ""
    n_text = f"n={s['n']}{mark}" + (f"/{s['seeds_asked']}" if s["under_seeded"] else "")
    if not math.isfinite(s["ci_low"]):
        return n_text
    return f"[{_num(s['ci_low'], unit)}, {_num(s['ci_high'], unit)}] {n_text}"


def vs_base_text(s: dict | None, unit: str) -> str:
    """``+1.20 [-0.30, 2.70] p=0.08*`` against the baseline (``*``: significant after Holm)."""
    if not s or not math.isfinite(s["vs_base"]):
        return "baseline" if s and s["optimizer"] == s["baseline"] else ""
    sign = "+" if s["vs_base"] >= 0 else ""
    text = f"{sign}{_num(s['vs_base'], unit)}"
    if math.isfinite(s["vs_base_low"]):
        text += f" [{_num(s['vs_base_low'], unit)}, {_num(s['vs_base_high'], unit)}]"
    if math.isfinite(s["p"]):
        text += f" p={s['p']:.2g}" + ("*" if s["significant"] else "")
    return text


def outside_ci(s: dict | None, published: float) -> bool:
    """True when the published value lies outside our interval (then our delta is highlighted)."""
    return bool(s) and math.isfinite(published) and math.isfinite(s["ci_low"]) and not (
        s["ci_low"] <= published <= s["ci_high"])
