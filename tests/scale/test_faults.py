"""Fault and load figures: kills at seeded random points, and several launches of one sweep.

- A cell killed (SIGTERM: the preemption path; SIGKILL: no cleanup at all) at 10 seeded
  random points, relaunched after each, ends with the uninterrupted run's history and final
  metrics bit for bit on CPU.
- 4 launches of one 12-cell sweep started at once into one runs directory: every cell is
  trained exactly once, 12 valid records, and every launch exits 0 (a cell another launch
  holds is reported as running elsewhere).

Both take minutes on 2 cores (many Python start-ups), so they are ``slow``; the fast suite keeps
one SIGTERM point (``test_preemption``), one SIGKILL point (``harness/test_resume``) and a
cell held by another launch (``test_locking``).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from bench.record import read_record
from tests.conftest import records, run_bench
from tests.scale.helpers import history_len, kill_session, start_bench, strip_time, wait_for

# batch_size=4: ~270 steps, a fraction of a second per epoch, so kills land inside epochs
EPOCHS = 20
CELL = ("optimizer=adam", "lr=0.003", "dataset.batch_size=4", f"epochs={EPOCHS}",
        "checkpoint_every_s=0")  # last.ckpt + record every epoch: the kill points are epoch-granular
POINTS = 10


def _record_path(runs: Path) -> Path | None:
    found = list(runs.glob("default/*/record.json"))
    return found[0] if found else None


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_kills_at_random_points_then_relaunch_equal_the_uninterrupted_run(tmp_path: Path, signum: int) -> None:
    rng = random.Random(1600 + signum)  # seeded: the same points every run of the test
    runs = tmp_path / "runs"
    landed = []
    for point in range(POINTS):
        path = _record_path(runs)
        rows_before = history_len(path) if path else 0
        proc = start_bench(*CELL, f"paths.runs={runs}", log=tmp_path / f"launch{point}.log")
        try:
            # one more evaluation row than before (progress), then a random instant of the next epoch
            wait_for(lambda: (p := _record_path(runs)) is not None and history_len(p) > rows_before, 300,
                     f"a new row in launch {point}", proc)
            history = json.loads(_record_path(runs).read_text())["history"]
            epoch_s = history[-1]["time"] / len(history)
            time.sleep(rng.uniform(0.0, 0.9 * epoch_s))
            if signum == signal.SIGKILL:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=120)
        finally:
            kill_session(proc)
        record = json.loads(_record_path(runs).read_text())
        landed.append(len(record["history"]))
        if code == 0:  # the kill came after the last epoch: nothing left to interrupt
            break
        assert code == (128 + signal.SIGTERM if signum == signal.SIGTERM else -signal.SIGKILL), code
        assert record["status"] == "running"
        assert [h["epoch"] for h in record["history"]] == list(range(len(record["history"])))
    assert len(landed) >= POINTS, f"only {len(landed)} kills landed before the cell finished: {landed}"
    assert landed == sorted(landed) and landed[-1] < EPOCHS, landed  # history never shrank

    assert run_bench(*CELL, f"paths.runs={runs}") == 0
    [resumed] = records(runs)
    fresh_runs = tmp_path / "fresh"
    assert run_bench(*CELL, f"paths.runs={fresh_runs}") == 0
    [fresh] = records(fresh_runs)
    assert resumed["status"] == "ok"
    assert [h["epoch"] for h in resumed["history"]] == list(range(EPOCHS))
    assert strip_time(resumed["history"]) == strip_time(fresh["history"])  # bit for bit on CPU
    assert resumed["final"] == fresh["final"] and resumed["best"] == fresh["best"]


@pytest.mark.slow
def test_four_launches_of_a_twelve_cell_sweep_at_once(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    lrs = [round(0.01 * k, 2) for k in range(1, 13)]
    args = ("optimizer=sgd", f"optimizer.lr_grid=[{','.join(map(str, lrs))}]", "dataset.batch_size=8", "epochs=1",
            f"paths.runs={runs}")
    logs = [tmp_path / f"launch{i}.log" for i in range(4)]
    procs = [start_bench(*args, log=log) for log in logs]
    try:
        codes = [p.wait(timeout=600) for p in procs]
    finally:
        for proc in procs:
            kill_session(proc)
    texts = [log.read_text() for log in logs]
    assert codes == [0, 0, 0, 0], [t[-2000:] for t, c in zip(texts, codes) if c]
    trained = Counter(re.findall(r"- run    sgd mlp/digits lr=(\S+) ", "".join(texts)))
    assert trained == Counter({f"{lr:g}": 1 for lr in lrs}), trained  # every cell trained exactly once
    recs = records(runs)
    assert len(recs) == 12
    for rec in recs:
        assert rec["status"] == "ok" and [h["epoch"] for h in rec["history"]] == [0]
        assert read_record(runs / "default" / rec["cell_id"]) == rec  # valid under the schema check
    for text in texts:  # each summary accounts for all 12 cells, none of them "not ok"
        assert re.search(r"bench: 12 cell\(s\): (\d+ ok|\d+ ok, \d+ running elsewhere)\n", text), text[-1500:]
        assert "not ok" not in text
