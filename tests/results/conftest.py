"""Synthetic run records, written through the real record writer (``bench.record.write_record``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pytest

from bench.record import SCHEMA_VERSION, write_record
from tasks import metric as metrics

# The metric descriptions the tasks store in their records (tasks/metric.py is torch-free).
DESCRIPTIONS = {m.name: m.to_dict() for m in (metrics.ACCURACY, metrics.TOP5, metrics.PERPLEXITY, metrics.FID,
                                             metrics.BLEU, metrics.IOU, metrics.DISTANCE)}


def make_record(experiment: str = "exp", optimizer: str = "adam", model: str = "mlp", dataset: str = "digits",
                lr: float = 0.01, seed: int = 0, val: Sequence[float] = (0.5, 0.6), test: Sequence[float] | None = None,
                train_loss: Sequence[float] | None = None, status: str = "ok", metric: str = "acc",
                mode: str = "max", reproduces: dict | None = None, extra: dict[str, Sequence[float]] | None = None,
                optimizer_config: dict[str, Any] | None = None, started_at: str = "2026-01-01T00:00:00+00:00",
                cell_suffix: str = "0123456789") -> dict[str, Any]:
    """A schema-conformant record whose history has one entry per value of ``val``.

    ``best`` is the epoch with the best validation metric (``mode``), ``final`` the last,
    as the runner writes them.
    """
    n = len(val)
    test = list(test) if test is not None else [v - 0.01 for v in val]
    train_loss = list(train_loss) if train_loss is not None else [1.0 / (e + 1) for e in range(n)]
    history = []
    for e in range(n):
        entry = {"epoch": e, "train_loss": train_loss[e], f"val_{metric}": val[e], f"test_{metric}": test[e],
                 "val_loss": 1.0, "test_loss": 1.0, "lr": lr * 0.5 ** e, "time": float(e + 1)}
        for key, values in (extra or {}).items():
            entry[key] = values[e]
        history.append(entry)
    pick = max if mode == "max" else min
    best_entry = pick(history, key=lambda h: h[f"val_{metric}"]) if history else None
    cell_id = f"{optimizer}_{model}_{dataset}_lr{lr:g}_s{seed}_{cell_suffix}"
    return {
        "schema_version": SCHEMA_VERSION,
        "experiment": experiment,
        "cell_id": cell_id,
        "status": status,
        "identity": {"optimizer": optimizer, "model": model, "dataset": dataset, "lr": lr, "seed": seed},
        "reproduces": reproduces,
        "metric": {**DESCRIPTIONS.get(metric, {"name": metric, "unit": "", "scale": 1.0}), "mode": mode},
        "metrics": {k: DESCRIPTIONS[k] for k in ((metric, "acc5") if metric == "acc" else (metric,)) if k in DESCRIPTIONS},
        "config": {"optimizer": {"_target_": "x", "_partial_": True, "name": optimizer, "lr_grid": [lr],
                                 **(optimizer_config or {})}},
        "history": history,
        "final": {k: v for k, v in history[-1].items() if k not in ("epoch", "time")} if history else {},
        "best": {k: v for k, v in best_entry.items() if k != "time"} if best_entry else {},
        "wall_time": float(n),
        "device": "cpu",
        "versions": {},
        "git_commit": None,
        "error": "Traceback ...\nRuntimeError: boom" if status == "failed" else None,
        "extras": None,
        "started_at": started_at,
        "finished_at": None if status == "running" else started_at,
    }


@pytest.fixture
def write_cell(runs: Path):
    """``write_cell(**make_record kwargs) -> Path``: write one record under ``runs``."""

    def write(**kwargs: Any) -> Path:
        record = make_record(**kwargs)
        return write_record(runs / record["experiment"] / record["cell_id"], record)

    return write
