"""Best learning rate by validation, and seed aggregation at that learning rate.

For each (experiment, optimizer, model, dataset) the learning rates are compared by the
mean over seeds of the validation metric at each run's validation-best epoch (the record's
``best`` entry; max for accuracy/BLEU, min for perplexity/FID/distance). Test numbers never
enter the choice. A learning rate where any seed diverged, failed or is still running is
unusable: it is reported with its status, never averaged as a number.

Test numbers are then averaged over the seeds of the chosen learning rate, taken ``at``
``"final"`` (last epoch; Padam and AdaRem report final test accuracy) or ``"best"`` (the
test value at the validation-best epoch).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Iterable

import numpy as np
import pandas as pd

from bench.record import Status

from results.load import GROUP

AT_CHOICES = ("final", "best")
SEVERITY = (Status.FAILED, Status.DIVERGED, Status.RUNNING, "no val metric")  # first match names an unusable lr


def _lr_status(statuses: Iterable[str], vals: Iterable[float]) -> str:
    statuses, vals = list(statuses), list(vals)
    for bad in SEVERITY[:3]:
        if bad in statuses:
            return bad
    if any(not math.isfinite(v) for v in vals):
        return "no val metric"
    return Status.OK


def lr_summary(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (group, lr): seeds, status, and the validation mean/std over seeds.

    One pass over the rows in Python, grouped in a dict: the report asks for this about
    ten times per experiment, and a pandas ``groupby`` loop costs ~40 ms a call on the
    quickstart's 89 records where this costs ~2 ms. The mean and std are numpy's, the same
    reductions pandas' ``mean``/``std(ddof=1)`` run.
    """
    keys = GROUP + ["lr"]
    groups: dict[tuple, list] = {}
    for row in records[[*keys, "metric", "mode", "status", "sel_val"]].itertuples(index=False, name=None):
        key, (metric, mode, status, val) = row[:len(keys)], row[len(keys):]
        if any(_missing(k) for k in key):
            continue  # pandas' groupby leaves rows with a missing key out, as before
        groups.setdefault(key, [metric, mode, [], []])
        groups[key][2].append(status)
        groups[key][3].append(val)
    rows = []
    for key in sorted(groups):
        metric, mode, statuses, vals = groups[key]
        status = _lr_status(statuses, vals)
        ok = status == Status.OK
        array = np.asarray(vals, dtype=float)
        rows.append({**dict(zip(keys, key)), "metric": metric, "mode": mode, "n_seeds": len(statuses),
                     "lr_status": status, "status_counts": _counts(statuses),
                     "val_mean": float(array.mean()) if ok else math.nan,
                     "val_std": float(array.std(ddof=1)) if ok and len(vals) > 1 else math.nan})
    return pd.DataFrame(rows, columns=keys + ["metric", "mode", "n_seeds", "lr_status", "status_counts",
                                              "val_mean", "val_std"])


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _counts(statuses: Iterable[str]) -> str:
    """``"1 diverged, 3 ok"``: how many of each status, by status name."""
    counts = Counter(str(s) for s in statuses)
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def select_best_lr(records: pd.DataFrame) -> pd.DataFrame:
    """One row per group: the chosen ``lr`` (NaN if no lr is usable), ``status`` (``ok`` or
    why none is usable: diverged > failed > running), ``n_seeds``, ``val_mean``/``val_std``,
    and ``unusable`` (``"lr=0.1: diverged; ..."``) for the learning rates left out."""
    per_lr = lr_summary(records)
    width = len(GROUP)
    groups: dict[tuple, list[tuple]] = {}
    for row in per_lr.itertuples(index=False, name=None):  # sorted by group, then lr
        groups.setdefault(row[:width], []).append(row)
    statuses: dict[tuple, list[str]] = {}
    for row in records[[*GROUP, "status"]].itertuples(index=False, name=None):
        statuses.setdefault(row[:width], []).append(row[width])
    at = {name: i for i, name in enumerate(per_lr.columns)}
    rows = []
    for key, lrs in groups.items():
        usable = [r for r in lrs if r[at["lr_status"]] == Status.OK]
        unusable = "; ".join(f"lr={r[at['lr']]:g}: {r[at['lr_status']]}" for r in lrs if r[at["lr_status"]] != Status.OK)
        mode = lrs[0][at["mode"]]
        row = {**dict(zip(GROUP, key)), "metric": lrs[0][at["metric"]], "mode": mode,
               "lrs": len(lrs), "unusable": unusable, "status_counts": _counts(statuses[key])}
        if not usable:
            present = {r[at["lr_status"]] for r in lrs}
            status = next((s for s in (Status.DIVERGED, Status.FAILED, Status.RUNNING, "no val metric") if s in present), Status.FAILED)
            rows.append({**row, "lr": math.nan, "status": status, "n_seeds": 0, "val_mean": math.nan,
                         "val_std": math.nan})
            continue
        sign = 1.0 if mode == "min" else -1.0  # best first; ties go to the smaller lr
        pick = min(usable, key=lambda r: (sign * r[at["val_mean"]], r[at["lr"]]))
        rows.append({**row, "lr": pick[at["lr"]], "status": Status.OK, "n_seeds": int(pick[at["n_seeds"]]),
                     "val_mean": pick[at["val_mean"]], "val_std": pick[at["val_std"]]})
    return pd.DataFrame(rows, columns=GROUP + ["metric", "mode", "lr", "status", "n_seeds", "val_mean", "val_std",
                                               "lrs", "unusable", "status_counts"])


def chosen_records(records: pd.DataFrame, selection: pd.DataFrame) -> pd.DataFrame:
    """The records (all seeds) at each group's chosen learning rate."""
    chosen = selection[selection["status"] == Status.OK][GROUP + ["lr"]]
    return records.merge(chosen, on=GROUP + ["lr"], how="inner")


def aggregate(records: pd.DataFrame, key: str, at: str = "final",
              selection: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean/std over seeds (and n) of history key ``key`` (e.g. ``test_acc``) at the chosen lr.

    Returns one row per group of ``select_best_lr`` with columns ``mean``, ``std``, ``n``;
    ``std`` is the sample standard deviation (NaN for one seed), NaN ``mean`` where the key
    was not logged or no lr is usable.
    """
    if at not in AT_CHOICES:
        raise ValueError(f"at must be one of {', '.join(AT_CHOICES)}, got {at!r}")
    selection = select_best_lr(records) if selection is None else selection
    chosen = chosen_records(records, selection)
    column = f"{at}_{key}"
    values = chosen[column] if column in chosen else pd.Series(math.nan, index=chosen.index)
    stats = (chosen.assign(_v=values).groupby(GROUP)["_v"]
             .agg(mean="mean", std=lambda s: s.std(ddof=1) if s.notna().sum() > 1 else math.nan, n="count")
             .reset_index())
    return selection.merge(stats, on=GROUP, how="left")
