"""Toy-function figures from records: each optimizer's path on the contour plot, and its
distance to the optimum per step (AdaMomentum Fig. 2, AdaL Fig. 4).

Per function and optimizer, the cell drawn is the learning rate with the smallest final
validation distance among finished cells; diverged cells are listed in the legend.
Reads records only; the function values for the contours come from ``tasks.toy``'s
formulas (pure maths, no training).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from results.load import read_checked, record_paths  # noqa: E402
from tasks.toy_functions import FUNCTIONS  # noqa: E402 (torch-free definitions)


def load_toy_records(runs_dir: Path, experiment: str) -> list[dict[str, Any]]:
    """Records of ``experiment`` that carry a trajectory or diverged on the way.

    Read through the shared schema-checked loader; ``ResultsError`` if there are none at all.
    """
    found = []
    for path in record_paths(runs_dir, experiment):
        record = read_checked(path)
        if (record.get("extras") or {}).get("trajectory") or record["status"] == "diverged":
            found.append(record)
    return found


def best_paths(records: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{function: {optimizer: record}}``: per optimizer the lr with the smallest final val_dist."""
    best: dict[str, dict[str, dict[str, Any]]] = {}
    for record in records:
        fn, opt = record["identity"]["dataset"], record["identity"]["optimizer"]
        current = best.setdefault(fn, {}).get(opt)
        if current is None or _score(record) < _score(current):
            best[fn][opt] = record
    return best


def _score(record: dict[str, Any]) -> float:
    dist = (record.get("final") or {}).get("val_dist")
    return dist if record["status"] == "ok" and isinstance(dist, float) and math.isfinite(dist) else math.inf


def distances(record: dict[str, Any]) -> list[float]:
    """Euclidean distance to the minimum at every visited point (start included)."""
    extras = record["extras"]
    return [math.dist(p, extras["minimum"]) for p in extras["trajectory"]]


def plot_function(fn_name: str, by_optimizer: dict[str, dict[str, Any]], out_dir: Path) -> Path:
    """Contour with paths (left) and distance-to-optimum vs step (right); returns the PNG."""
    spec = FUNCTIONS[fn_name]
    (x0, x1), (y0, y1) = spec.bounds
    gx, gy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200), indexing="xy")
    z = spec.fn(gx, gy, np)
    fig, (ax, ax_d) = plt.subplots(1, 2, figsize=(11, 4.6))
    levels = np.unique(np.quantile(z.ravel(), np.linspace(0.0, 0.98, 30)))
    ax.contour(gx, gy, z, levels=levels, cmap="viridis", linewidths=0.6)
    ax.plot(*spec.minimum, marker="x", color="purple", markersize=12, mew=3, linestyle="none", label="minimum")
    ax.plot(*spec.start, marker="o", color="black", markersize=5, linestyle="none", label="start")
    for opt, record in sorted(by_optimizer.items()):
        lr = record["identity"]["lr"]
        if record["status"] != "ok" or not (record.get("extras") or {}).get("trajectory"):
            ax.plot([], [], linestyle="none", label=f"{opt} (lr={lr:g}): {record['status']}")
            continue
        path = record["extras"]["trajectory"]
        (line,) = ax.plot([p[0] for p in path], [p[1] for p in path], linewidth=1.4, label=f"{opt} (lr={lr:g})")
        ax_d.semilogy([max(d, 1e-12) for d in distances(record)], color=line.get_color(), label=opt)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x", ylabel="y", title=f"{fn_name}: trajectories")
    ax.legend(fontsize=7, loc="best")
    ax_d.set(xlabel="step", ylabel="distance to optimum", title=f"{fn_name}: distance to optimum")
    ax_d.grid(alpha=0.3)
    ax_d.legend(fontsize=7)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"trajectories_{fn_name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_trajectories(runs_dir: Path, experiment: str, out_dir: Path | None = None) -> list[Path]:
    """One PNG per toy function of ``experiment``; raises ``FileNotFoundError`` if none."""
    experiment_dir = Path(runs_dir) / experiment
    records = load_toy_records(runs_dir, experiment)
    if not records:
        raise FileNotFoundError(f"no toy-function records under {experiment_dir}")
    out_dir = out_dir or experiment_dir / "_results"
    return [plot_function(fn, by_opt, out_dir) for fn, by_opt in sorted(best_paths(records).items())]
