"""Sweep progress in the launching process: cells done/total, outcomes so far, an ETA.

The launching process watches the planned cells' ``record.json`` files (a background thread
polls their modification times), so it works the same for every launcher: cells run in this
process (basic), in local subprocesses (submitit local, joblib) or on other machines that
share the runs directory (SLURM). A cell counts as done when its record, rewritten during
this launch, says ``ok``, ``diverged`` or ``failed``; cells already finished before the launch
count as done from the start. The ETA is the cells still to run times the wall-clock time per
cell finished during this launch (so parallel launchers shorten it).

Not on a TTY: one line per finished cell. On a TTY: one live line, rewritten in place each time
a cell finishes (Lightning's per-epoch bar of a long cell stays as it is).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from bench.record import FINISHED, RecordError, Status, read_record, record_path

FINAL = (*FINISHED, Status.FAILED)


def _mtime(run_dir: Path) -> float | None:
    try:
        return record_path(run_dir).stat().st_mtime_ns
    except OSError:
        return None


def format_eta(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class Progress:
    """Watch ``run_dirs`` until :meth:`stop`; print progress to ``stream``."""

    def __init__(self, run_dirs: list[Path], stream: TextIO | None = None, tty: bool | None = None,
                 poll_s: float = 1.0) -> None:
        self.run_dirs = [Path(d) for d in run_dirs]
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.poll_s = poll_s
        self.counts: Counter[str] = Counter()
        self.done: set[Path] = set()
        self.finished_here = 0
        self._initial: dict[Path, float | None] = {}
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._drawn = False  # the live line is on screen (TTY)

    # --- life cycle ------------------------------------------------------------------------
    def start(self) -> Progress:
        for run_dir in self.run_dirs:
            self._initial[run_dir] = _mtime(run_dir)
            status = _status(run_dir)
            if status in FINISHED:  # a relaunch skips it: done from the start
                self.done.add(run_dir)
                self.counts[status] += 1
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._watch, name="bench-progress", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.poll()  # whatever finished since the last poll
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.poll()

    # --- polling ---------------------------------------------------------------------------
    def poll(self) -> None:
        with self._lock:
            finished_before = len(self.done)
            for run_dir in self.run_dirs:
                if run_dir in self.done:
                    continue
                mtime = _mtime(run_dir)
                if mtime is None or mtime == self._initial.get(run_dir):
                    continue  # not rewritten during this launch
                record = _record(run_dir)
                if record is None or record.get("status") not in FINAL:
                    continue
                self.done.add(run_dir)
                self.finished_here += 1
                self.counts[record["status"]] += 1
                if not self.tty:
                    self._line(self._cell_text(record) + " | " + self.summary())
            if self.tty and len(self.done) > finished_before:  # redrawn when a cell finishes, so it does
                self._line(self.summary(), live=True)          # not fight Lightning's per-epoch bar

    def eta_s(self) -> float | None:
        left = len(self.run_dirs) - len(self.done)
        if not self.finished_here:
            return None
        return left * (time.monotonic() - self._start) / self.finished_here

    def summary(self) -> str:
        eta = self.eta_s()
        outcome = ", ".join(f"{self.counts[s]} {s}" for s in FINAL)
        return (f"{len(self.done)}/{len(self.run_dirs)} done: {outcome}"
                + (f" | ETA {format_eta(eta)}" if eta is not None and len(self.done) < len(self.run_dirs) else ""))

    def _cell_text(self, record: dict[str, Any]) -> str:
        ident = record.get("identity") or {}
        label = (f"{ident.get('optimizer')} {ident.get('model')}/{ident.get('dataset')} "
                 f"lr={ident.get('lr'):g} seed={ident.get('seed')}") if ident else record.get("cell_id", "?")
        return f"[{len(self.done)}/{len(self.run_dirs)}] {record['status']} {label} ({record.get('wall_time') or 0:.1f} s)"

    def _line(self, text: str, live: bool = False) -> None:
        if live:
            self._drawn = True
            self.stream.write(f"\r\033[Kbench: {text}")
        else:
            self.stream.write(f"bench: {text}\n")
        self.stream.flush()


def _status(run_dir: Path) -> str | None:
    record = _record(run_dir)
    return None if record is None else record.get("status")


def _record(run_dir: Path) -> dict[str, Any] | None:
    try:
        return read_record(run_dir)
    except (OSError, RecordError):
        return None
