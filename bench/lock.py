"""One process trains a cell at a time: an exclusive ``flock`` on ``<cell dir>/.lock``.

Two launches of the same sweep (or a relaunch while the first still runs) each take the lock
before training a cell; the one that cannot skips the cell and says who holds it. The kernel
drops the lock when its process dies (even on SIGKILL), so a crashed launch never blocks a
cell. The file itself stays (deleting it would let two processes lock two different files);
it names the holder for the messages. ``flock`` works across processes on one machine and,
on Linux, across NFS clients (it is emulated with POSIX locks there).

In a multi-process (DDP) cell only global rank 0 takes the lock; it writes its *launch id*
into the file, and the other ranks of the same launch wait for that id before they start
(:func:`wait_for_launch`), so a cell another launch holds is skipped by all ranks together.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

LOCK_FILE = ".lock"


class CellLock:
    """Non-blocking exclusive lock on a cell directory; use ``acquire()`` / ``release()``."""

    def __init__(self, run_dir: Path, launch_id: str | None = None) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self.launch_id = launch_id or default_launch_id()
        self._fd: int | None = None

    def acquire(self, attempts: int = 5, pause: float = 0.02) -> bool:
        """Take the lock and write the holder; ``False`` when another process holds it.

        Contention is retried ``attempts`` times, ``pause`` seconds apart, so the momentary
        shared lock of :func:`held_elsewhere` (another launch's summary) is never mistaken
        for a holder; a real holder keeps the lock for the whole cell.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        for attempt in range(attempts):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == attempts - 1:
                    os.close(fd)
                    return False
                time.sleep(pause)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(self._holder()).encode(), 0)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> dict[str, Any]:
        """Who wrote the lock file last (the holder while it is locked)."""
        return read_holder(self.path)

    def _holder(self) -> dict[str, Any]:
        return {"launch": self.launch_id, "host": socket.gethostname(), "pid": os.getpid(),
                "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    def __enter__(self) -> CellLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def read_holder(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text() or "{}")
    except (OSError, ValueError):
        return {}


def held_elsewhere(run_dir: Path) -> dict[str, Any] | None:
    """The holder of the cell's lock when some process holds it now, else ``None``.

    Probes with a non-blocking *shared* lock, released at once; never creates the file.
    """
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_holder(path) or {"pid": None, "host": None}
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def describe_holder(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process"
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"


def default_launch_id() -> str:
    """Identifies one attempt of one launch; shared by all ranks of a DDP cell.

    ``OPTBENCH_LAUNCH_ID`` (set by rank 0 before it spawns ranks), else the SLURM job id and
    restart count (all tasks of a job share them), else this host and process.
    """
    if os.environ.get("OPTBENCH_LAUNCH_ID"):
        return os.environ["OPTBENCH_LAUNCH_ID"]
    if os.environ.get("SLURM_JOB_ID"):
        return f"slurm:{os.environ['SLURM_JOB_ID']}:{os.environ.get('SLURM_RESTART_COUNT', '0')}"
    return f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"


def wait_for_launch(run_dir: Path, launch_id: str, finished: Any, timeout: float = 300.0, poll: float = 0.2) -> bool:
    """For ranks > 0: wait until rank 0 of this launch holds the cell's lock.

    Returns ``True`` to train, ``False`` to skip: the cell finished (``finished()`` true) or
    ``timeout`` passed without rank 0 of this launch taking the lock (another launch has it).
    """
    path = Path(run_dir) / LOCK_FILE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if read_holder(path).get("launch") == launch_id:
            return True
        if finished():
            return False
        time.sleep(poll)
    return False
