"""A sweep killed mid-cell resumes from last.ckpt: nothing runs twice, history continuous."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO, records, run_bench

# batch_size=2 makes a digits epoch take long enough (~0.5 s) to kill a cell inside one.
ARGS = ["optimizer=sgd", "optimizer.lr_grid=[0.05,0.02]", "dataset.batch_size=2", "epochs=3",
        "checkpoint_every_s=0"]  # last.ckpt + record every epoch, so the test sees the cell mid-run


def _history_len(path: Path) -> int:
    try:
        return len(json.loads(path.read_text())["history"])
    except (OSError, ValueError, KeyError):
        return 0


def test_kill_mid_sweep_then_relaunch(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", *ARGS, f"paths.runs={runs}"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    second = None
    deadline = time.monotonic() + 120
    try:  # wait until the second cell has finished one epoch but not all, then SIGKILL
        while time.monotonic() < deadline and proc.poll() is None:
            recs = {p: json.loads(p.read_text()) for p in runs.glob("default/*/record.json")}
            ok = [p for p, r in recs.items() if r["status"] == "ok"]
            running = [p for p, r in recs.items() if r["status"] == "running" and 1 <= _history_len(p) < 3]
            if len(ok) == 1 and running:
                second = running[0]
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert second is not None, "never caught the second cell mid-run"
    first = next(p for p in runs.glob("default/*/record.json") if p != second)
    first_before = first.read_bytes()
    done_epochs = _history_len(second)

    assert run_bench(*ARGS, f"paths.runs={runs}") == 0
    assert first.read_bytes() == first_before  # the finished cell was skipped, not rerun
    resumed = json.loads(second.read_text())
    assert resumed["status"] == "ok"
    assert resumed["resumed_from"].endswith("last.ckpt")
    assert [h["epoch"] for h in resumed["history"]] == [0, 1, 2]  # no gap, no duplicate
    assert done_epochs >= 1

    # The resumed cell equals an uninterrupted run of the same cell, bit for bit on CPU.
    lr = resumed["identity"]["lr"]
    fresh_runs = tmp_path / "fresh"
    assert run_bench(*ARGS, f"lr={lr}", f"paths.runs={fresh_runs}") == 0
    [fresh] = records(fresh_runs)
    strip = lambda hist: [{k: v for k, v in h.items() if k != "time"} for h in hist]  # noqa: E731
    assert strip(resumed["history"]) == strip(fresh["history"])
