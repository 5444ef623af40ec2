"""One process trains a cell at a time; concurrent launches of a sweep never corrupt a record."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bench.lock import CellLock
from bench.record import read_record
from tests.conftest import records, run_bench
from tests.scale.helpers import kill_session, start_bench

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(120)
"""


def test_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    first, second = CellLock(tmp_path / "cell"), CellLock(tmp_path / "cell")
    assert first.acquire()
    assert not second.acquire()
    assert second.holder()["pid"] == first.holder()["pid"] and second.holder()["launch"] == first.launch_id
    first.release()
    assert second.acquire()
    second.release()


def test_lock_of_a_killed_process_does_not_block(tmp_path: Path) -> None:
    lock = CellLock(tmp_path / "cell")
    lock.path.parent.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock.path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert not lock.acquire()
    finally:
        holder.kill()  # SIGKILL: no cleanup code runs
        holder.wait()
    assert lock.acquire()  # the kernel released it
    lock.release()


def test_cell_locked_by_another_process_is_skipped(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("optimizer=sgd", "lr=0.05", "epochs=1", f"paths.runs={runs}")
    assert run_bench(*args, "--dry-run") == 0
    [cell_dir] = [Path(tok) for tok in capsys.readouterr().out.split() if tok.startswith(f"{runs}/default/")]
    other = CellLock(cell_dir, launch_id="other-launch")
    assert other.acquire()
    try:
        # another launch has the cell: a normal outcome of a shared sweep, reported with its holder, exit 0
        assert run_bench(*args) == 0
        err = capsys.readouterr().err
        assert "1 cell(s): 1 running elsewhere" in err, err
        assert f"running elsewhere: {cell_dir} (pid {os.getpid()} on {socket.gethostname()}" in err, err
        assert other.held  # the summary's probe did not take the lock from its holder
    finally:
        other.release()
    assert run_bench(*args, "--dry-run") == 0 and "running elsewhere" not in capsys.readouterr().err
    assert not (cell_dir / "record.json").exists() and not (cell_dir / "last.ckpt").exists()
    assert run_bench(*args) == 0  # released: now it runs
    assert read_record(cell_dir)["status"] == "ok"


@pytest.mark.slow
def test_two_launches_of_one_sweep_at_once(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    # 4 cells of ~2 s each (batch_size=2), so the two launches overlap for sure
    args = ("optimizer=sgd", "optimizer.lr_grid=[0.05,0.04,0.03,0.02]", "dataset.batch_size=2", "epochs=1",
            f"paths.runs={runs}")
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [start_bench(*args, log=log) for log in logs]
    try:
        codes = [p.wait(timeout=300) for p in procs]
    finally:
        for proc in procs:
            kill_session(proc)
    text = "".join(log.read_text() for log in logs)
    trained = Counter(re.findall(r"- run    sgd mlp/digits lr=(\S+) ", text))
    assert trained == Counter({"0.05": 1, "0.04": 1, "0.03": 1, "0.02": 1}), text[-3000:]  # each cell once
    assert "running elsewhere" in text  # the launches did meet on a cell
    assert 0 in codes  # the launch that finished last saw every cell ok
    recs = records(runs)
    assert len(recs) == 4
    for rec in recs:  # every record whole and consistent
        assert rec["status"] == "ok" and [h["epoch"] for h in rec["history"]] == [0]
    assert run_bench(*args) == 0  # and a third launch finds the sweep finished
