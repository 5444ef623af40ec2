"""Learning-rate sensitivity: final validation metric vs learning rate, one line per
optimizer (mean over seeds, error bar ±1 std) — how hard each optimizer is to tune.

A learning rate where a seed diverged or failed has no number: it is drawn as an ``x`` on
the bottom edge of the plot. The learning rate chosen for the tables (best mean validation
metric at the validation-best epoch) is circled.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from results.load import GROUP, metric_info
from results.select import lr_summary, select_best_lr
from results.style import axis_label, colors, display_unit, plt, save, slug
from results.units import std_to_unit, to_unit

UNUSABLE_LABEL = "x: diverged / failed / running"


def sensitivity_frame(records: pd.DataFrame) -> pd.DataFrame:
    """Per (group, lr): status and the final validation metric's mean/std over seeds (raw units)."""
    per_lr = lr_summary(records)
    values = records.assign(_final_val=[row.get(f"final_val_{m}", math.nan)
                                        for row, m in zip(records.to_dict("records"), records["metric"])])
    stats = (values.groupby(GROUP + ["lr"])["_final_val"]
             .agg(final_val_mean="mean", final_val_std=lambda s: s.std(ddof=1) if s.notna().sum() > 1 else math.nan)
             .reset_index())
    frame = per_lr.merge(stats, on=GROUP + ["lr"], how="left")
    unusable = frame["lr_status"] != "ok"
    frame.loc[unusable, ["final_val_mean", "final_val_std"]] = math.nan
    return frame


def sensitivity_figure(records: pd.DataFrame, frame: pd.DataFrame | None = None):
    """The figure for one experiment × model × dataset."""
    frame = sensitivity_frame(records) if frame is None else frame
    selection = select_best_lr(records)
    experiment, model, dataset = (records[c].iloc[0] for c in ("experiment", "model", "dataset"))
    metric, paper = records["metric"].iloc[0], records["paper"].iloc[0]
    info = metric_info(records, metric)
    unit = display_unit(info, paper)
    palette = colors(list(frame["optimizer"].unique()))
    fig, ax = plt.subplots(figsize=(7.6, 4.4), layout="constrained")
    bad_label_done = False
    for opt, runs in frame.groupby("optimizer", sort=True):
        runs = runs.sort_values("lr")
        color = palette[opt]
        ok = runs[runs["lr_status"] == "ok"]
        y = [to_unit(v, info, unit) for v in ok["final_val_mean"]]
        err = [std_to_unit(v, info, unit) if math.isfinite(v) else 0.0 for v in ok["final_val_std"]]
        ax.errorbar(ok["lr"], y, yerr=err if any(err) else None, color=color, marker="o", markersize=4,
                    linewidth=1.4, capsize=3, label=opt)
        bad = runs[runs["lr_status"] != "ok"]
        if len(bad):
            ax.scatter(bad["lr"], [0.02] * len(bad), marker="x", color=color, s=50, clip_on=False,
                       transform=ax.get_xaxis_transform())
            if not bad_label_done:  # one neutral legend entry for every optimizer's crosses
                ax.plot([], [], marker="x", color="0.3", linestyle="none", label=UNUSABLE_LABEL)
                bad_label_done = True
        chosen = selection[(selection["optimizer"] == opt) & (selection["status"] == "ok")]
        for lr in chosen["lr"]:
            pick = ok[ok["lr"] == lr]["final_val_mean"]
            if len(pick) and math.isfinite(pick.iloc[0]):
                value = to_unit(pick.iloc[0], info, unit)
                ax.scatter([lr], [value], s=160, facecolors="none", edgecolors=color, linewidths=1.5)
    ax.set_xscale("log")
    ax.set_xlim(frame["lr"].min() / 2, frame["lr"].max() * 2)  # every lr tried, usable or not
    ylabel = axis_label("final val", metric, unit)
    ax.set(xlabel="learning rate", ylabel=ylabel,
           title=f"{experiment}: {model} / {dataset}\n{ylabel} vs learning rate (circled: selected lr)")
    ax.grid(alpha=0.3, which="both")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    return fig


def plot_sensitivity(records: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Write ``sensitivity_<model>_<dataset>.png`` per model × dataset and ``sensitivity.csv``."""
    out_dir = Path(out_dir)
    frame = sensitivity_frame(records)
    multi = records["experiment"].nunique() > 1
    paths = []
    for (experiment, model, dataset), grp in records.groupby(["experiment", "model", "dataset"], sort=True):
        part = frame[(frame["experiment"] == experiment) & (frame["model"] == model) & (frame["dataset"] == dataset)]
        name = slug(*([experiment] if multi else []), "sensitivity", model, dataset) + ".png"
        paths.append(save(sensitivity_figure(grp, part), out_dir / name))
    out_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_dir / "sensitivity.csv", index=False)
    return paths
