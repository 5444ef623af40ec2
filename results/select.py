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
from typing import Iterable

from bench.record import Status
import pandas as pd

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
    """One row per (group, lr): seeds, status, and the validation mean/std over seeds."""
    rows = []
    for key, grp in records.groupby(GROUP + ["lr"], sort=True):
        status = _lr_status(grp["status"], grp["sel_val"])
        vals = grp["sel_val"]
        rows.append({**dict(zip(GROUP + ["lr"], key)), "metric": grp["metric"].iloc[0], "mode": grp["mode"].iloc[0],
                     "n_seeds": len(grp), "lr_status": status,
                     "status_counts": _counts(grp["status"]),
                     "val_mean": vals.mean() if status == Status.OK else math.nan,
                     "val_std": vals.std(ddof=1) if status == Status.OK and len(grp) > 1 else math.nan})
    return pd.DataFrame(rows, columns=GROUP + ["lr", "metric", "mode", "n_seeds", "lr_status", "status_counts",
                                               "val_mean", "val_std"])


def _counts(statuses: Iterable[str]) -> str:
    counts = pd.Series(list(statuses)).value_counts()
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def select_best_lr(records: pd.DataFrame) -> pd.DataFrame:
    """One row per group: the chosen ``lr`` (NaN if no lr is usable), ``status`` (``ok`` or
    why none is usable: diverged > failed > running), ``n_seeds``, ``val_mean``/``val_std``,
    and ``unusable`` (``"lr=0.1: diverged; ..."``) for the learning rates left out."""
    per_lr = lr_summary(records)
    counts = records.groupby(GROUP)["status"].agg(_counts)
    rows = []
    for key, grp in per_lr.groupby(GROUP, sort=True):
        usable = grp[grp["lr_status"] == Status.OK]
        unusable = "; ".join(f"lr={r.lr:g}: {r.lr_status}" for r in grp.itertuples() if r.lr_status != Status.OK)
        row = {**dict(zip(GROUP, key)), "metric": grp["metric"].iloc[0], "mode": grp["mode"].iloc[0],
               "lrs": len(grp), "unusable": unusable, "status_counts": counts.loc[key]}
        if usable.empty:
            statuses = set(grp["lr_status"])
            status = next((s for s in (Status.DIVERGED, Status.FAILED, Status.RUNNING, "no val metric") if s in statuses), Status.FAILED)
            rows.append({**row, "lr": math.nan, "status": status, "n_seeds": 0, "val_mean": math.nan,
                         "val_std": math.nan})
            continue
        ascending = grp["mode"].iloc[0] == "min"
        pick = usable.sort_values(["val_mean", "lr"], ascending=[ascending, True], kind="stable").iloc[0]
        rows.append({**row, "lr": pick["lr"], "status": Status.OK, "n_seeds": int(pick["n_seeds"]),
                     "val_mean": pick["val_mean"], "val_std": pick["val_std"]})
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
