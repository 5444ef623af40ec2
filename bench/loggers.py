"""Optional experiment trackers next to the record (``logger=wandb``).

The record stays the one source of truth; a tracker mirrors it: the cell's config at the
start, one row per completed epoch (the record's history entry, ``step`` = epoch), and the
record summary (status, final/best metrics, wall time) at the end. Only global rank 0 logs.

wandb is offline unless the config or ``WANDB_MODE`` says otherwise (the environment wins), so
no account or network is needed; files go to ``<cell dir>/wandb/`` (or ``logger.dir``), never
the source tree. Runs are grouped by experiment and tagged ``optimizer=..``, ``model=..``,
``dataset=..``, ``lr=..``, ``seed=..`` so the UI can slice a sweep. The run id is derived from
the cell directory, so an online run that is preempted and resumed continues the same run.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from bench.record import Status

log = logging.getLogger("bench")

SUMMARY_KEYS = ("status", "final", "best", "wall_time", "device", "error", "global_batch_size", "world_size")


def wants_tracker(cfg: DictConfig) -> bool:
    return cfg.logger.get("kind") == "wandb"


def identity_tags(identity: dict[str, Any]) -> list[str]:
    """``['optimizer=adam', 'model=mlp', 'dataset=digits', 'lr=0.001', 'seed=0']``."""
    tags = []
    for key in ("optimizer", "model", "dataset", "lr", "seed"):
        value = identity[key]
        tags.append(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}")
    return tags


def run_id(run_dir: Path) -> str:
    """A wandb-safe run id, stable for a cell directory."""
    return hashlib.sha256(str(Path(run_dir).resolve()).encode()).hexdigest()[:16]


class WandbRun:
    """The wandb mirror of one cell's record."""

    def __init__(self, cfg: DictConfig, run_dir: Path, record: dict[str, Any]) -> None:
        self.cfg = cfg.logger
        self.run_dir = Path(run_dir)
        self.record = record
        self.run: Any = None

    def start(self) -> None:
        import wandb

        rec = self.record
        mode = os.environ.get("WANDB_MODE") or self.cfg.get("mode") or "offline"
        directory = Path(self.cfg.get("dir") or self.run_dir)
        directory.mkdir(parents=True, exist_ok=True)
        extra = [str(t) for t in (self.cfg.get("tags") or [])]
        config = dict(rec["config"])
        config.update(identity=rec["identity"], cell_id=rec["cell_id"], experiment=rec["experiment"],
                      reproduces=rec["reproduces"], **{k: rec[k] for k in ("global_batch_size", "per_device_batch_size",
                                                                          "world_size") if k in rec})
        ident = rec["identity"]
        self.run = wandb.init(
            project=self.cfg.get("project") or "optbench",
            entity=self.cfg.get("entity"),
            group=self.cfg.get("group") or rec["experiment"],
            job_type=self.cfg.get("job_type"),
            name=f"{ident['optimizer']} {ident['model']}/{ident['dataset']} lr={ident['lr']:g} s{ident['seed']}",
            id=run_id(self.run_dir),
            resume="allow",
            tags=[f"experiment={rec['experiment']}", *identity_tags(ident), *extra],
            config=config,
            dir=str(directory),
            mode=mode,
            settings=wandb.Settings(console="off", silent=True, x_disable_stats=True, save_code=False),
        )
        log.info("wandb  %s run in %s", mode, self.run.dir)

    def log_epoch(self, entry: dict[str, Any]) -> None:
        if self.run is not None:
            self.run.log(dict(entry), step=int(entry["epoch"]))

    def finish(self, record: dict[str, Any]) -> None:
        if self.run is None:
            return
        summary = {k: record.get(k) for k in SUMMARY_KEYS if k in record}
        self.run.summary.update(_flat(summary))
        self.run.finish(exit_code=0 if record.get("status") != Status.FAILED else 1)
        self.run = None


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{'final': {'val_acc': 0.9}}`` -> ``{'final/val_acc': 0.9}`` (wandb's UI columns)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, f"{name}/"))
        elif value is not None:
            out[name] = value
    return out


def make_tracker(cfg: DictConfig, run_dir: Path, record: dict[str, Any], rank_zero: bool) -> WandbRun | None:
    """The configured tracker for this cell, or ``None`` (CSV/none, or not rank 0)."""
    if not wants_tracker(cfg) or not rank_zero:
        return None
    return WandbRun(cfg, run_dir, record)
