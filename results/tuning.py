"""Tuning cost: the expected best validation score after ``k`` random draws from the lr grid.

Dodge et al. (2019), "Show Your Work: Improved Reporting of Experimental Results", Sec. 3:
with the grid's ``N`` results sorted ``v_(1) <= ... <= v_(N)`` and ``k`` draws uniformly with
replacement, ``P(max <= v_(i)) = (i/N)^k``, so exactly

    E[max of k draws] = sum_i v_(i) * ((i/N)^k - ((i-1)/N)^k)

(for a metric where lower is better, the same with the order reversed). ``k = 1`` is the grid's
mean, ``k -> inf`` its best: an optimizer whose curve rises late needs the whole grid to shine.

A grid point's result is its validation score at each run's validation-best epoch, averaged
over seeds (what the tables select on). A learning rate that diverged counts as a draw with the
workload's worst validation score among its ``ok`` runs (a bad draw, not a missing one); learning rates that
failed or are still running are left out of the grid (no outcome yet), and the CSV says so.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import pandas as pd

from results.load import metric_info
from results.select import lr_summary
from results.style import axis_label, colors, display_unit, plt, save
from results.units import to_unit


def expected_best(values: Sequence[float], k: int, mode: str = "max") -> float:
    """Exact expected best of ``k`` draws with replacement from ``values`` (``mode`` max or min)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    v = sorted(float(x) for x in values)
    if mode == "min":
        v = v[::-1]  # the "best" end last, as for max
    elif mode != "max":
        raise ValueError(f"mode must be max or min, got {mode!r}")
    n = len(v)
    if n == 0:
        return math.nan
    return sum(x * ((i / n) ** k - ((i - 1) / n) ** k) for i, x in enumerate(v, start=1))


def tuning_frame(records: pd.DataFrame) -> pd.DataFrame:
    """Rows (experiment, model, dataset, optimizer, k, expected_best) for k = 1..grid size."""
    per_lr = lr_summary(records)
    rows = []
    for (experiment, model, dataset), work in per_lr.groupby(["experiment", "model", "dataset"], sort=True):
        mode = work["mode"].iloc[0]
        observed = records[(records["experiment"] == experiment) & (records["model"] == model)
                           & (records["dataset"] == dataset) & (records["status"] == "ok")]["sel_val"]
        observed = observed[observed.map(math.isfinite)]
        worst = (observed.min() if mode == "max" else observed.max()) if len(observed) else math.nan
        for opt, grid in work.groupby("optimizer", sort=True):
            values = list(grid.loc[grid["lr_status"] == "ok", "val_mean"])
            diverged = int((grid["lr_status"] == "diverged").sum())
            if diverged and math.isfinite(worst):
                values += [worst] * diverged
            left_out = int((~grid["lr_status"].isin(["ok", "diverged"])).sum())
            for k in range(1, len(values) + 1):
                rows.append({"experiment": experiment, "model": model, "dataset": dataset, "optimizer": opt,
                             "metric": work["metric"].iloc[0], "mode": mode, "k": k,
                             "expected_best": expected_best(values, k, mode), "grid_size": len(values),
                             "diverged_lrs": diverged, "left_out_lrs": left_out})
    return pd.DataFrame(rows, columns=["experiment", "model", "dataset", "optimizer", "metric", "mode", "k",
                                       "expected_best", "grid_size", "diverged_lrs", "left_out_lrs"])


def plot_tuning(records: pd.DataFrame, out_dir: Path) -> list[Path]:
    """``tuning.png`` (one panel per model/dataset, a line per optimizer) and ``tuning.csv``."""
    out_dir = Path(out_dir)
    frame = tuning_frame(records)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = out_dir / "tuning.csv"
    frame.to_csv(csv, index=False)
    if frame.empty:
        return [csv]
    panels = list(frame.groupby(["experiment", "model", "dataset"], sort=True))
    palette = colors(list(frame["optimizer"].unique()))
    paper = records["paper"].iloc[0]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels) + 1.8, 3.8), layout="constrained",
                             squeeze=False)
    for ax, ((experiment, model, dataset), part) in zip(axes[0], panels):
        metric = part["metric"].iloc[0]
        info = metric_info(records, metric)
        unit = display_unit(info, paper)
        for opt, line in part.groupby("optimizer", sort=True):
            y = [to_unit(v, info, unit) for v in line["expected_best"]]
            ax.plot(line["k"], y, marker="o", markersize=3, color=palette[opt], label=opt)
        ax.set(xlabel="k (lr grid points drawn at random)", ylabel=axis_label("expected best val", metric, unit),
               title=f"{model} / {dataset}")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{records['experiment'].iloc[0]}: tuning cost (Dodge et al. 2019 expected max)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=8)
    return [save(fig, out_dir / "tuning.png"), csv]
