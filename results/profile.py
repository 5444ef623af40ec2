"""Speed to target and an AlgoPerf-style performance profile.

**Target** (per workload = experiment × model × dataset): ``TARGET_FRACTION`` (0.99) of the best
final validation score among the optimizers, each at its selected learning rate and averaged
over seeds — ``0.99 × best`` where higher is better, ``best / 0.99`` where lower is better.

**Speed to target** of an optimizer: on its seed-mean validation curve at the selected lr, the
first evaluation that reaches the target; reported as epochs (``epoch + 1``, i.e. epochs
trained), the row's ``step`` and wall time (seed mean of the history's ``time`` there). Never reached: ``inf``.

**Performance profile** (Dolan & Moré 2002, as AlgoPerf scores training algorithms): for each
workload, ``r = t / t_fastest`` with ``t`` the time to target; ``rho(tau)`` = fraction of the
workloads an optimizer was run on that it solves within ``tau ×`` the fastest optimizer's time.
A curve at 1 for small ``tau`` is fast everywhere; a curve that never reaches 1 misses targets.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from results.select import chosen_records, select_best_lr
from results.style import colors, plt, save

TARGET_FRACTION = 0.99
WORKLOAD = ["experiment", "model", "dataset"]


def _target(best: float, mode: str, fraction: float) -> float:
    return best * fraction if mode == "max" else best / fraction


def _reached(value: float, target: float, mode: str) -> bool:
    return value >= target if mode == "max" else value <= target


def speed_frame(records: pd.DataFrame, fraction: float = TARGET_FRACTION) -> pd.DataFrame:
    """One row per (workload, optimizer) with a usable lr: target, epochs and time to reach it."""
    selection = select_best_lr(records)
    chosen = chosen_records(records, selection)
    rows = []
    for work_key, work in chosen.groupby(WORKLOAD, sort=True):
        metric, mode = work["metric"].iloc[0], work["mode"].iloc[0]
        key = f"val_{metric}"
        finals = work.groupby("optimizer")[f"final_{key}"].mean() if f"final_{key}" in work else pd.Series(dtype=float)
        finals = finals[finals.map(math.isfinite)]
        if finals.empty:
            continue
        best = finals.max() if mode == "max" else finals.min()
        target = _target(best, mode, fraction)
        for opt, runs in work.groupby("optimizer", sort=True):
            curve = pd.DataFrame([{"epoch": h.get("epoch"), "step": h.get("step", h.get("epoch")),
                                   "val": h.get(key, math.nan), "time": h.get("time", math.nan)}
                                  for hist in runs["history"] for h in hist])
            epochs, steps, wall = math.inf, math.inf, math.inf
            if not curve.empty:  # one row per evaluation, identified by its step (epoch when no steps)
                mean = curve.groupby("step", sort=True)[["epoch", "val", "time"]].mean()
                hit = [s for s, v in zip(mean.index, mean["val"]) if math.isfinite(v) and _reached(v, target, mode)]
                if hit:
                    row = mean.loc[hit[0]]
                    epochs, steps, wall = float(row["epoch"]) + 1, float(hit[0]), float(row["time"])
            rows.append({**dict(zip(WORKLOAD, work_key)), "optimizer": opt, "metric": metric, "mode": mode,
                         "lr": runs["lr"].iloc[0], "n_seeds": runs["seed"].nunique(),
                         "final_val": finals.get(opt, math.nan), "target": target,
                         "epochs_to_target": epochs, "steps_to_target": steps, "time_to_target": wall})
    return pd.DataFrame(rows, columns=WORKLOAD + ["optimizer", "metric", "mode", "lr", "n_seeds", "final_val",
                                                  "target", "epochs_to_target", "steps_to_target",
                                                  "time_to_target"])


def performance_profile(speed: pd.DataFrame, column: str = "time_to_target",
                        taus: np.ndarray | None = None) -> pd.DataFrame:
    """``rho(tau)`` per optimizer: rows (optimizer, tau, rho, workloads)."""
    taus = np.unique(np.concatenate([[1.0], np.geomspace(1.0, 10.0, 61)])) if taus is None else np.asarray(taus)
    ratios: dict[str, list[float]] = {}
    for _, work in speed.groupby(WORKLOAD, sort=True):
        times = work[column].astype(float)
        solved = times[np.isfinite(times)]
        fastest = solved.min() if len(solved) else math.nan
        for opt, t in zip(work["optimizer"], times):
            r = t / fastest if math.isfinite(t) and fastest > 0 else (1.0 if math.isfinite(t) else math.inf)
            ratios.setdefault(opt, []).append(r)
    rows = []
    for opt, rs in sorted(ratios.items()):
        arr = np.asarray(rs)
        for tau in taus:
            rows.append({"optimizer": opt, "tau": float(tau), "rho": float(np.mean(arr <= tau)), "workloads": len(arr)})
    return pd.DataFrame(rows, columns=["optimizer", "tau", "rho", "workloads"])


def plot_profile(records: pd.DataFrame, out_dir: Path, fraction: float = TARGET_FRACTION) -> list[Path]:
    """``speed.csv``, ``profile.csv`` and ``profile.png`` (wall time and epochs side by side)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    speed = speed_frame(records, fraction)
    speed.to_csv(out_dir / "speed.csv", index=False)
    files = [out_dir / "speed.csv"]
    profiles = {c: performance_profile(speed, c) for c in ("time_to_target", "epochs_to_target")}
    pd.concat([p.assign(measure=c) for c, p in profiles.items()]).to_csv(out_dir / "profile.csv", index=False)
    files.append(out_dir / "profile.csv")
    if speed.empty:
        return files
    palette = colors(list(speed["optimizer"].unique()))
    n_work = speed.groupby(WORKLOAD).ngroups
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained", sharey=True)
    for ax, (column, prof) in zip(axes, profiles.items()):
        for opt, line in prof.groupby("optimizer", sort=True):
            ax.step(line["tau"], line["rho"], where="post", color=palette[opt],
                    label=f"{opt} ({line['workloads'].iloc[0]})")
        ax.set_xscale("log")
        ax.set(xlabel="τ (× fastest optimizer)", ylim=(-0.02, 1.02),
               title=("wall time" if column.startswith("time") else "epochs") + f" to {fraction:.0%} of best final val")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("fraction of its workloads solved")
    fig.suptitle(f"Performance profile over {n_work} workload(s) (legend: workloads run)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=8)
    files.append(save(fig, out_dir / "profile.png"))
    return files
