"""Training curves: train loss and test metric vs epoch, one line per optimizer at its best
learning rate (chosen on validation), mean over seeds with a ±1 std band; one PNG per
model × dataset. Accuracy panels follow the paper's figures (error % for Padam and AdaRem,
accuracy % otherwise); train loss is on a log axis whenever it is positive.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.ticker import MaxNLocator

from results.load import load_history, metric_info
from results.select import chosen_records, select_best_lr
from results.style import axis_label, colors, display_unit, log_scale_ok, plt, save, slug
from results.units import to_unit


def _panels(history: pd.DataFrame, metric: str, reported: list[str]) -> list[tuple[str, str]]:
    """(history key, split label) of each panel after the train-loss one: the selection
    metric, then any other metric the task reports (top-5 accuracy) that was logged."""
    logged = f"test_{metric}" in history and history[f"test_{metric}"].notna().any()
    key = f"test_{metric}" if logged else f"val_{metric}"
    panels = [(key, key.split("_", 1)[0])]
    for other in reported:
        if other != metric and f"test_{other}" in history and history[f"test_{other}"].notna().any():
            panels.append((f"test_{other}", "test"))
    return panels


def _band(ax, frame: pd.DataFrame, key: str, color, label: str | None, convert) -> None:
    data = frame[["epoch", key]].dropna()
    if data.empty:
        return
    stats = data.groupby("epoch")[key].agg(["mean", "std", "count"]).reset_index()
    x = stats["epoch"] + 1
    mean = stats["mean"].map(convert)
    ax.plot(x, mean, color=color, linewidth=1.5, label=label)
    if (stats["count"] > 1).any():
        lo = (stats["mean"] - stats["std"].fillna(0)).map(convert)
        hi = (stats["mean"] + stats["std"].fillna(0)).map(convert)
        ax.fill_between(x, lo, hi, color=color, alpha=0.2, linewidth=0)


def curves_figure(records: pd.DataFrame):
    """The figure for one experiment × model × dataset: train loss, then the test metric
    panel(s) (top-5 too where logged). Optimizers with no usable lr appear in the legend
    with their status."""
    experiment, model, dataset = (records[c].iloc[0] for c in ("experiment", "model", "dataset"))
    selection = select_best_lr(records)
    history = load_history(chosen_records(records, selection))
    metric, paper = records["metric"].iloc[0], records["paper"].iloc[0]
    info = metric_info(records, metric)
    unit = display_unit(info, paper)
    reported = sorted({name for infos in records["metrics_info"] for name in infos})
    panels = _panels(history, metric, reported) if len(history) else [(f"test_{metric}", "test")]
    fig, axes = plt.subplots(1, 1 + len(panels), figsize=(5.0 * (1 + len(panels)) + 1.8, 4.0), layout="constrained")
    palette = colors(list(selection["optimizer"]))
    for sel in selection.itertuples():
        color = palette[sel.optimizer]
        if sel.status != "ok":
            axes[0].plot([], [], color=color, linestyle="none", marker="x", label=f"{sel.optimizer}: {sel.status}")
            continue
        runs = history[history["optimizer"] == sel.optimizer]
        if "train_loss" in runs:
            _band(axes[0], runs, "train_loss", color, f"{sel.optimizer} (lr={sel.lr:g})", float)
        for ax, (key, _) in zip(axes[1:], panels):
            if key in runs:
                m = metric_info(records, key.split("_", 1)[1])
                panel_unit = display_unit(m, paper)
                _band(ax, runs, key, color, None, lambda v, m=m, u=panel_unit: to_unit(v, m, u))
    if "train_loss" in history and log_scale_ok(list(history["train_loss"])):
        axes[0].set_yscale("log")
    axes[0].set(xlabel="epoch", ylabel="train loss", title="train loss")
    for ax, (key, split) in zip(axes[1:], panels):
        name = key.split("_", 1)[1]
        label = axis_label(split, name, display_unit(metric_info(records, name), paper))
        ax.set(xlabel="epoch", ylabel=label, title=label)
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    fig.suptitle(f"{experiment}: {model} / {dataset} (best lr by validation; band: ±1 std over seeds)", fontsize=10)
    return fig


def plot_curves(records: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Write ``curves_<model>_<dataset>.png`` per model × dataset into ``out_dir``; return the paths."""
    multi = records["experiment"].nunique() > 1
    paths = []
    for (experiment, model, dataset), grp in records.groupby(["experiment", "model", "dataset"], sort=True):
        name = slug(*([experiment] if multi else []), "curves", model, dataset) + ".png"
        paths.append(save(curves_figure(grp), Path(out_dir) / name))
    return paths
