"""Generated-sample grids: for a generative experiment, the ``samples.png`` each cell writes at
every evaluation (an 8 x 8 grid of its fixed evaluation noise), one panel per optimizer, from
the seed with the best selection metric at the optimizer's chosen learning rate. One PNG per
model x dataset; nothing when no cell left a grid (every non-generative experiment)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from results.select import chosen_records, select_best_lr
from results.style import plt, save, slug

GRID_FILE = "samples.png"


def best_seed_grids(records: pd.DataFrame) -> list[tuple[str, Path, pd.Series]]:
    """``(optimizer, samples.png, record row)`` of the best seed per optimizer (chosen lr), where present."""
    chosen = chosen_records(records, select_best_lr(records))
    out = []
    for optimizer, runs in chosen.groupby("optimizer", sort=True):
        runs = runs[runs["path"].map(lambda p: (Path(p).parent / GRID_FILE).is_file())]
        if runs.empty:
            continue
        scored = runs.assign(_key=runs["sel_val"].fillna(math.inf if runs["mode"].iloc[0] == "min" else -math.inf))
        best = scored.sort_values("_key", ascending=runs["mode"].iloc[0] == "min", kind="stable").iloc[0]
        out.append((optimizer, Path(best["path"]).parent / GRID_FILE, best))
    return out


def plot_samples(records: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Write ``samples_<model>_<dataset>.png`` per model x dataset that has grids; return the paths."""
    paths = []
    multi = records["experiment"].nunique() > 1
    for (experiment, model, dataset), grp in records.groupby(["experiment", "model", "dataset"], sort=True):
        grids = best_seed_grids(grp)
        if not grids:
            continue
        cols = min(4, len(grids))
        rows = math.ceil(len(grids) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.5 * rows), squeeze=False, layout="constrained")
        for ax in axes.flat:
            ax.axis("off")
        metric = grp["metric"].iloc[0]
        for ax, (optimizer, png, row) in zip(axes.flat, grids):
            ax.imshow(plt.imread(png))
            value = row["sel_val"]
            ax.set_title(f"{optimizer} (seed {row['seed']}, val {metric} {value:.2f})" if value == value
                         else f"{optimizer} (seed {row['seed']})", fontsize=8)
        fig.suptitle(f"{experiment}: {model} / {dataset}: samples at the last evaluation, best seed per optimizer",
                     fontsize=9)
        name = slug(*([experiment] if multi else []), "samples", model, dataset) + ".png"
        paths.append(save(fig, Path(out_dir) / name))
    return paths
