"""Helpers shared by the scale-out tests: subprocess launches, polling, on-disk readers."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import REPO, records


def start_bench(*args: str, log: Path) -> subprocess.Popen:
    """``python -m bench ARGS`` as a child process in its own session, output to ``log``."""
    return subprocess.Popen(
        [sys.executable, "-m", "bench", *args], cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, proc: subprocess.Popen | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) before: {what}")
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for: {what}")


@contextmanager
def in_process_threads(n: int) -> Iterator[None]:
    """In-process cells run with ``n`` torch threads (``OPTBENCH_THREADS``), restored afterwards.

    Bit-for-bit comparisons with cells run by ``hydra/launcher=local`` need this: its jobs use
    ``cores // parallel`` threads, and a different thread count changes float summation order.
    """
    import pytest
    import torch

    before = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OPTBENCH_THREADS", str(n))
        try:
            yield
        finally:
            torch.set_num_threads(before)  # bench.threads set it in this process


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def history_len(path: Path) -> int:
    record = read_json(path)
    return len(record["history"]) if record else 0


def strip_time(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k != "time"} for h in history]


def assert_same_records(got_dir: Path, want_dir: Path, keys: tuple[str, ...], cells: int) -> dict[str, dict]:
    """The ``cells`` records under ``got_dir`` match those under ``want_dir`` cell for cell:
    ``keys``, the config (paths aside) and the history (times aside). Returns ``got`` by cell id."""
    got = {r["cell_id"]: r for r in records(got_dir)}
    want = {r["cell_id"]: r for r in records(want_dir)}
    assert len(got) == cells and got.keys() == want.keys()
    for cell, rec in got.items():
        for key in keys:
            assert rec[key] == want[cell][key], (cell, key)
        assert {**rec["config"], "paths": None} == {**want[cell]["config"], "paths": None}
        assert strip_time(rec["history"]) == strip_time(want[cell]["history"])
    return got


def kill_session(proc: subprocess.Popen) -> None:
    """Kill what a test started (its own session), if still running."""
    if proc.poll() is None:
        os.killpg(proc.pid, 9)
    proc.wait()


def processes_in_group(pgid: int, needle: str) -> list[int]:
    """PIDs in process group ``pgid`` whose command line contains ``needle``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and needle in cmdline:  # fields: state, ppid, pgrp, ...
            found.append(int(entry.name))
    return found


# --- wandb's offline run file (run-<id>.wandb) ----------------------------------------------
# A LevelDB-style log: a 7-byte header (":W&B", magic, version), then 32 KiB blocks of
# chunks, each with a 7-byte header (crc32, length, type: 1 full, 2 first, 3 middle, 4 last)
# carrying serialized wandb.proto Record messages.
_BLOCK = 32 * 1024


def wandb_records(path: Path) -> list[Any]:
    """The complete Record messages in a run file so far (wandb 0.31 ships no Python reader)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a wandb run file"
    pos, pending, out = 7, b"", []
    while pos + 7 <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < 7:  # block trailer padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pos += 7
        if kind == 0 and length == 0:
            pos += left - 7
            continue
        if pos + length > len(data):  # a chunk still being written
            break
        chunk = data[pos : pos + length]
        pos += length
        if kind == 1:
            raw = chunk
        elif kind == 2:
            pending = chunk
            continue
        elif kind == 3:
            pending += chunk
            continue
        else:
            raw = pending + chunk
        record = pb.Record()
        record.ParseFromString(raw)
        out.append(record)
    return out


def finished_wandb_records(path: Path, timeout: float = 60.0) -> list[Any]:
    """The run file's records once wandb-core has written its ``exit`` record.

    ``run.finish()`` can return before wandb-core has flushed the file (seen on a loaded CI
    machine: a valid header and no records), so poll instead of reading once.
    """

    def complete() -> list[Any] | None:
        found = wandb_records(path)
        return found if any(r.WhichOneof("record_type") == "exit" for r in found) else None

    return wait_for(complete, timeout, f"the exit record in {path}")
