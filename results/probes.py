"""Figures of the probes recorded during training (``extras.probes`` of a record; see
``bench/probes``): AdaRem Fig. 2's oscillation index Q over training and AdaL Figs. 1-3's
gradient norms, one line per optimizer at its selected learning rate (mean over seeds)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from results.select import chosen_records, select_best_lr
from results.style import colors, log_scale_ok, plt, save, slug

PANELS = {
    "oscillation": [("q", "oscillation index Q (path length / displacement)")],
    "grad_norm": [("global_l2", "‖g‖₂ (all tensors)"), ("mean_l1", "mean per-tensor ‖g‖₁"),
                  ("mean_adal", "mean per-tensor ‖(‖g‖₁ g)‖₂ (AdaL)")],
}
TITLES = {"oscillation": "oscillation (AdaRem Sec. 3.2.2, Fig. 2)", "grad_norm": "gradient norms (AdaL Figs. 1-3)"}


def probe_frame(records: pd.DataFrame, probe: str) -> pd.DataFrame:
    """Long format of one probe's scalar columns at each group's selected lr: a row per window."""
    chosen = chosen_records(records, select_best_lr(records))
    rows = []
    for rec in chosen.to_dict("records"):
        for row in (rec.get("probes") or {}).get(probe, {}).get("rows", []):
            rows.append({"experiment": rec["experiment"], "optimizer": rec["optimizer"], "model": rec["model"],
                         "dataset": rec["dataset"], "lr": rec["lr"], "seed": rec["seed"],
                         **{k: v for k, v in row.items() if not isinstance(v, dict)}})
    return pd.DataFrame(rows)


def plot_probes(records: pd.DataFrame, out_dir: Path) -> list[Path]:
    """``<probe>_<model>_<dataset>.png`` and ``<probe>.csv`` for every probe the records carry."""
    if "probes" not in records or not records["probes"].map(bool).any():
        return []
    out_dir = Path(out_dir)
    files = []
    for probe, panels in PANELS.items():
        frame = probe_frame(records, probe)
        if frame.empty:
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out_dir / f"{probe}.csv", index=False)
        files.append(out_dir / f"{probe}.csv")
        palette = colors(list(frame["optimizer"].unique()))
        for (model, dataset), part in frame.groupby(["model", "dataset"], sort=True):
            fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels) + 1.8, 3.8), layout="constrained",
                                     squeeze=False)
            for ax, (key, label) in zip(axes[0], panels):
                for opt, runs in part.groupby("optimizer", sort=True):
                    if key not in runs:
                        continue
                    line = runs.groupby("step", sort=True)[key].mean()
                    ax.plot(line.index, line.values, marker="o", markersize=2, color=palette[opt],
                            label=f"{opt} (lr={runs['lr'].iloc[0]:g})")
                if key in part and log_scale_ok([float(v) for v in part[key]]) and probe == "grad_norm":
                    ax.set_yscale("log")
                ax.set(xlabel="optimizer step", ylabel=label, title=label)
                ax.grid(alpha=0.3)
            fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
            fig.suptitle(f"{part['experiment'].iloc[0]}: {model} / {dataset}: {TITLES[probe]}", fontsize=10)
            files.append(save(fig, out_dir / f"{probe}_{slug(model, dataset)}.png"))
    return files
