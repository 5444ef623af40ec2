"""RAME Fig. 3 panels: train loss, validation loss and validation IoU vs epoch.

One line per optimizer at its learning rate chosen by validation IoU (``results.select``),
mean over seeds; the legend names each optimizer as the paper does with its chosen lr in
brackets (``*``: the optimizer of the original code, Adam). Drawn for every model x dataset
of an experiment whose records use the ``iou`` metric. Reads records only.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.ticker import MaxNLocator

from results.load import load_history
from results.select import chosen_records, select_best_lr
from results.style import colors, log_scale_ok, plt, save, slug

PANELS = (("train_loss", "training loss"), ("val_loss", "validation loss"), ("val_iou", "validation IoU"))
PAPER_LABELS = {"sgd": "SHB", "shb": "SHB", "adam": "Adam*", "rame_q0125": "RAME (q=1/8)", "rame": "RAME (q=1/4)"}


def legend_label(optimizer: str, lr: float) -> str:
    """``"RAME (q=1/4) [0.001]"``: the paper's name and the chosen lr."""
    return f"{PAPER_LABELS.get(optimizer, optimizer)} [{lr:g}]"


def segmentation_figure(records: pd.DataFrame):
    """The three panels for one experiment x model x dataset."""
    experiment, model, dataset = (records[c].iloc[0] for c in ("experiment", "model", "dataset"))
    selection = select_best_lr(records)
    history = load_history(chosen_records(records, selection))
    fig, axes = plt.subplots(1, 3, figsize=(15.5, 4.0), layout="constrained")
    palette = colors(list(selection["optimizer"]))
    for sel in selection.itertuples():
        color = palette[sel.optimizer]
        if sel.status != "ok":
            axes[0].plot([], [], color=color, linestyle="none", marker="x", label=f"{sel.optimizer}: {sel.status}")
            continue
        runs = history[history["optimizer"] == sel.optimizer]
        for i, (ax, (key, _)) in enumerate(zip(axes, PANELS)):
            if key not in runs:
                continue
            mean = runs[["epoch", key]].dropna().groupby("epoch")[key].mean()
            ax.plot(mean.index + 1, mean.values, color=color, linewidth=1.5,
                    label=legend_label(sel.optimizer, sel.lr) if i == 0 else None)
    for ax, (key, title) in zip(axes, PANELS):
        if key.endswith("loss") and key in history and log_scale_ok(list(history[key])):
            ax.set_yscale("log")
        ax.set(xlabel="epoch", ylabel=title, title=title)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    fig.suptitle(f"{experiment}: {model} / {dataset} (lr chosen by validation IoU, in brackets; mean over seeds)",
                 fontsize=10)
    return fig


def plot_segmentation(records: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Write ``segmentation_<model>_<dataset>.png`` for each IoU model x dataset; return the paths."""
    paths = []
    iou = records[records["metric"] == "iou"]
    for (experiment, model, dataset), grp in iou.groupby(["experiment", "model", "dataset"], sort=True):
        name = slug("segmentation", model, dataset) + ".png"
        paths.append(save(segmentation_figure(grp), Path(out_dir) / name))
    return paths
