"""Run records: the one source of truth for every cell of a sweep.

A record is a JSON file ``runs/<experiment>/<cell_id>/record.json``. It is written
atomically (temporary file + ``os.replace``), so a reader never sees half a record and a
killed writer never destroys the previous one.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from enum import StrEnum
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
RECORD_FILE = "record.json"


class Status(StrEnum):
    """A cell's status as its record states it (compares equal to the plain string)."""

    OK = "ok"  # trained its whole budget
    DIVERGED = "diverged"  # the loss became non-finite; history up to there kept
    FAILED = "failed"  # an exception; traceback kept
    RUNNING = "running"  # in progress, killed or preempted: resumable


STATUSES = tuple(Status)
FINISHED = (Status.OK, Status.DIVERGED)  # outcomes a relaunch skips

log = logging.getLogger("bench")


class RecordError(ValueError):
    """A record file that cannot be read as the current schema."""


def _jsonable(value: Any) -> Any:
    """Map non-finite floats to strings so the file stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # 'nan', 'inf', '-inf'
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def restore_nonfinite(value: Any) -> Any:
    """Inverse of the writer's mapping: ``'nan'``/``'inf'``/``'-inf'`` strings back to floats."""
    if value in ("nan", "inf", "-inf"):
        return float(value)
    if isinstance(value, dict):
        return {k: restore_nonfinite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [restore_nonfinite(v) for v in value]
    return value


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never a mix.

    The rename is atomic against killed processes; it does not fsync (a power cut may lose
    the newest epoch, never corrupt the record), which keeps per-epoch writes cheap.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record_path(run_dir: Path | str) -> Path:
    run_dir = Path(run_dir)
    return run_dir if run_dir.name == RECORD_FILE else run_dir / RECORD_FILE


def write_record(run_dir: Path | str, record: dict[str, Any]) -> Path:
    """Validate the record's envelope and write it atomically; return the file path."""
    if record.get("schema_version") != SCHEMA_VERSION:
        raise RecordError(f"record schema_version must be {SCHEMA_VERSION}, got {record.get('schema_version')!r}")
    if record.get("status") not in STATUSES:
        raise RecordError(f"record status must be one of {', '.join(STATUSES)}, got {record.get('status')!r}")
    path = record_path(run_dir)
    atomic_write_text(path, json.dumps(_jsonable(record), indent=1, sort_keys=False) + "\n")
    return path


def read_record(path: Path | str) -> dict[str, Any]:
    """Read a record (a ``record.json`` path or its run directory); reject other schemas."""
    path = record_path(path)
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(record, dict):
        raise RecordError(f"{path}: expected a JSON object")
    version = record.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RecordError(
            f"{path}: schema_version {version!r} is not supported (this optbench reads version {SCHEMA_VERSION})"
        )
    return restore_nonfinite(record)


def newer_schema(run_dir: Path | str) -> str | None:
    """A one-line problem when the cell's record was written by a newer optbench (its schema
    version is above ours): such a record is never overwritten. ``None`` otherwise."""
    path = record_path(run_dir)
    try:
        version = json.loads(path.read_text()).get("schema_version")
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        return (f"{path}: schema_version {version} is newer than this optbench writes ({SCHEMA_VERSION}); "
                f"it is never overwritten: update optbench, or move the cell directory aside to rerun it")
    return None


def move_aside(path: Path, stamp: str | None = None) -> Path:
    """Rename an unreadable ``path`` to ``<name>.corrupt-<UTC time>`` (kept, never deleted)."""
    stamp = stamp or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    os.replace(path, target)
    return target


def read_status(run_dir: Path | str) -> str | None:
    """The status of the cell's record; ``None`` when there is none or it is unreadable (warned)."""
    try:
        return read_record(run_dir)["status"]
    except OSError:  # no record (or no such directory)
        return None
    except RecordError as exc:
        log.warning("ignoring unreadable record: %s", exc)
        return None
