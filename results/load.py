"""Records -> pandas: the one loader every ``python -m results`` command shares.

``load_records`` gives one row per ``runs/<experiment>/<cell_id>/record.json``;
``load_history`` the per-epoch long format. Records are read through a schema check:
a newer ``schema_version`` than this code knows is rejected with a message naming the file,
an older one is converted by a registered migration or rejected — never misread.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from bench.record import RECORD_FILE, SCHEMA_VERSION, restore_nonfinite
from results.units import LEGACY, describe

IDENTITY = ("optimizer", "model", "dataset", "lr", "seed")
GROUP = ["experiment", "optimizer", "model", "dataset"]  # one table cell; lr and seed vary inside
REQUIRED = ("experiment", "cell_id", "status", "identity", "metric")
OPTIMIZER_META_KEYS = {"name", "lr_grid", "lr", "_target_", "_partial_"}

# Converters from an older schema version to the next one: {old_version: fn(raw) -> raw}.
# Version 1 is the first schema, so there are none yet; a future bump adds one here.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class ResultsError(Exception):
    """A user-facing problem (missing runs, unreadable record): one line, exit code 2."""


class NoRecordsOfKind(ResultsError):
    """Every record of the experiment is a smoke run (or, asked for smoke runs, none is)."""


def default_runs_dir() -> Path:
    return Path(os.environ.get("OPTBENCH_RUNS") or "runs")


def read_checked(path: Path) -> dict[str, Any]:
    """Read one record file, checking its schema version; raise ``ResultsError`` if unusable."""
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(raw, dict):
        raise ResultsError(f"{path}: not a record (expected a JSON object)")
    version = raw.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ResultsError(f"{path}: no integer schema_version ({version!r}); not an optbench record")
    if version > SCHEMA_VERSION:
        raise ResultsError(f"{path}: schema_version {version} is newer than this optbench reads "
                           f"(up to {SCHEMA_VERSION}); update optbench to read it")
    record = raw
    while record["schema_version"] < SCHEMA_VERSION:
        migrate = MIGRATIONS.get(record["schema_version"])
        if migrate is None:
            raise ResultsError(f"{path}: schema_version {version} is older than this optbench reads "
                               f"({SCHEMA_VERSION}) and no converter exists; re-run the cell")
        record = migrate(record)
    record = restore_nonfinite(record)
    missing = [k for k in REQUIRED if k not in record] + [
        f"identity.{k}" for k in IDENTITY if k not in (record.get("identity") or {})]
    if missing:
        raise ResultsError(f"{path}: record lacks {', '.join(missing)}")
    return record


def experiments_with_records(runs_dir: Path) -> list[str]:
    """Names of the experiment folders of ``runs_dir`` that hold at least one record."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    return sorted(p.name for p in runs_dir.iterdir() if p.is_dir() and any(p.glob(f"*/{RECORD_FILE}")))


def record_paths(runs_dir: Path, experiment: str | None = None) -> list[Path]:
    """Record files under ``runs_dir`` (one experiment, or all); ``ResultsError`` if none."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise ResultsError(f"runs directory {runs_dir} does not exist (pass --runs DIR or set OPTBENCH_RUNS)")
    known = experiments_with_records(runs_dir)
    if experiment is None:
        if not known:
            raise ResultsError(f"no records under {runs_dir} (run `python -m bench experiment=...` first)")
        return sorted(runs_dir.glob(f"*/*/{RECORD_FILE}"))
    if experiment not in known:
        listing = ", ".join(known) if known else "none"
        raise ResultsError(f"no records under {runs_dir / experiment} (experiments with records: {listing})")
    return sorted((runs_dir / experiment).glob(f"*/{RECORD_FILE}"))


def _finite(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _key(name: str) -> str:
    """History keys as columns; the scheduled lr of an epoch is ``sched_lr`` (``lr`` is the cell's base lr)."""
    return "sched_lr" if name == "lr" else name


def _row(record: dict[str, Any], path: Path) -> dict[str, Any]:
    ident = record["identity"]
    reproduces = record.get("reproduces") or {}
    metric = record["metric"]
    best, final = record.get("best") or {}, record.get("final") or {}
    history = record.get("history") or []
    error = record.get("error")
    row: dict[str, Any] = {
        "experiment": record["experiment"],
        "cell_id": record["cell_id"],
        "path": str(path),
        "status": record["status"],
        "optimizer": ident["optimizer"],
        "base_optimizer": ident["optimizer"],
        "model": ident["model"],
        "dataset": ident["dataset"],
        "lr": float(ident["lr"]),
        "seed": int(ident["seed"]),
        "paper": reproduces.get("paper"),
        "table": None if reproduces.get("table") is None else str(reproduces["table"]),
        "metric": metric["name"],
        "mode": metric["mode"],
        "metric_info": describe(record),
        "metrics_info": {name: describe(record, name) for name in {metric["name"], *(record.get("metrics") or {})}},
        "sel_val": _finite(best.get(f"val_{metric['name']}")),
        "epochs": len(history),
        "best_epoch": best.get("epoch"),
        "wall_time": _finite(record.get("wall_time")),
        "device": record.get("device"),
        "started_at": record.get("started_at"),
        "finished_at": record.get("finished_at"),
        "error": str(error).strip().splitlines()[-1] if error else None,
        "history": history,
        "has_trajectory": bool((record.get("extras") or {}).get("trajectory")),
        "probes": (record.get("extras") or {}).get("probes") or {},
        "baseline": reproduces.get("baseline") or (record.get("config") or {}).get("baseline"),
        "seeds_asked": len((record.get("config") or {}).get("seeds") or []),
        "smoke": is_smoke(record),
        "optimizer_config": {k: v for k, v in ((record.get("config") or {}).get("optimizer") or {}).items()
                             if k not in OPTIMIZER_META_KEYS},
    }
    row.update({f"best_{_key(k)}": _finite(v) for k, v in best.items() if k != "epoch"})
    row.update({f"final_{_key(k)}": _finite(v) for k, v in final.items()})
    return row


def _label_variants(frame: pd.DataFrame) -> pd.DataFrame:
    """Tell apart cells of one optimizer run with different hyperparameters on the same model
    and dataset (e.g. RAME q=0.125 and q=0.25): their optimizer label gets the differing settings.
    Settings that differ only between models or datasets (per-task defaults) do not split."""
    frame["variant"] = ""
    for _, idx in frame.groupby(["experiment", "base_optimizer", "model", "dataset"]).groups.items():
        configs = frame.loc[idx, "optimizer_config"]
        keys = sorted({k for c in configs for k in c})
        varying = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]
        if varying:
            frame.loc[idx, "variant"] = [",".join(f"{k}={c.get(k)}" for k in varying) for c in configs]
    has_variant = frame["variant"] != ""
    labelled = frame.loc[has_variant]
    frame.loc[has_variant, "optimizer"] = labelled["base_optimizer"] + "[" + labelled["variant"] + "]"
    return frame


def _drop_superseded(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep the newest of several records with equal coordinates (a re-run with another
    config, e.g. more epochs); never average them as if they were seeds."""
    keys = ["experiment", "optimizer", "model", "dataset", "lr", "seed"]
    frame = frame.sort_values("started_at", na_position="first", kind="stable")
    superseded = frame.duplicated(keys, keep="last")
    kept = frame[~superseded].copy()
    kept.attrs["superseded"] = frame.loc[superseded, "path"].tolist()
    return kept


def is_smoke(record: dict[str, Any]) -> bool:
    """A few-batch smoke run (``+smoke=true``): a check of the machinery, never a result."""
    return bool((record.get("identity") or {}).get("smoke") or (record.get("config") or {}).get("smoke"))


def load_records(runs_dir: Path | str, experiment: str | None = None, smoke: bool = False) -> pd.DataFrame:
    """One row per record: identity columns, status, metric name/mode, ``sel_val`` (the
    validation metric at the validation-best epoch), ``best_*``/``final_*`` history entries,
    and the raw ``history`` as an object column. ``df.attrs["superseded"]`` lists the paths
    of older records that a newer record with the same coordinates replaced.

    Smoke records are left out, so they can never stand in for full runs; ``smoke=True``
    loads only them (``python -m results ... --smoke``).
    """
    paths = record_paths(Path(runs_dir), experiment)
    rows = [row for row in (_row(read_checked(p), p) for p in paths) if row["smoke"] == smoke]
    if not rows:
        where = f"experiment {experiment!r}" if experiment else str(runs_dir)
        raise NoRecordsOfKind(f"{where}: no {'smoke' if smoke else 'full'} records (only "
                           f"{'full' if smoke else 'smoke'} ones){'' if smoke else '; add --smoke to tabulate them'}")
    frame = _drop_superseded(_label_variants(pd.DataFrame(rows)))
    return frame.sort_values(["experiment", "optimizer", "model", "dataset", "lr", "seed"],
                             kind="stable").reset_index(drop=True)


def metric_info(records: pd.DataFrame, name: str) -> dict[str, Any]:
    """How metric ``name`` prints in these records (from the first record that describes it)."""
    for infos in records.get("metrics_info", pd.Series(dtype=object)):
        if isinstance(infos, dict) and name in infos:
            return infos[name]
    return dict(LEGACY.get(name) or {"name": name, "mode": "max", "unit": "", "scale": 1.0, "label": name})


def load_history(records: pd.DataFrame) -> pd.DataFrame:
    """Long format: one row per (record, epoch) with every logged key (train_loss, val_*, test_*)."""
    ident = ["experiment", "cell_id", "optimizer", "model", "dataset", "lr", "seed", "status", "metric"]
    rows = [{**{k: rec[k] for k in ident}, **{_key(k): v for k, v in entry.items()}}
            for rec in records[ident + ["history"]].to_dict("records") for entry in rec["history"]]
    if not rows:
        return pd.DataFrame(columns=ident + ["epoch"])
    return pd.DataFrame(rows)
