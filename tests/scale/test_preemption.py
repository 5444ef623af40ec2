"""A cell stopped by the scheduler's signals records itself, is requeued and resumes exactly."""

from __future__ import annotations

import os
import signal
import time
from contextlib import nullcontext
from pathlib import Path

import pytest

from bench.preemption import Preempted, Preemption
from tests.conftest import records, run_bench
from tests.scale.helpers import (history_len, in_process_threads, kill_session, processes_in_group, read_json,
                                 start_bench, strip_time, wait_for)

# batch_size=2: ~540 steps per epoch, long enough (~1 s) to signal a cell inside an epoch.
EPOCHS = 3
CELL = ("optimizer=sgd", "lr=0.05", "dataset.batch_size=2", f"epochs={EPOCHS}", "checkpoint_every_s=0")  # record every epoch


def _one_record(runs: Path) -> Path | None:
    found = list(runs.glob("default/*/record.json"))
    return found[0] if found else None


def _uninterrupted(tmp_path: Path, threads: int | None = None) -> dict:
    """The same cell run straight through in this process (with the given torch thread count)."""
    fresh = tmp_path / "fresh"
    with in_process_threads(threads) if threads else nullcontext():
        assert run_bench(*CELL, f"paths.runs={fresh}") == 0
    [record] = records(fresh)
    return record


def test_sigterm_mid_epoch_then_relaunch_resumes_without_gap(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = start_bench(*CELL, f"paths.runs={runs}", log=tmp_path / "first.log")
    try:
        path = wait_for(lambda: _one_record(runs), 120, "the record", proc)
        wait_for(lambda: history_len(path) >= 1, 120, "one finished epoch", proc)
        proc.send_signal(signal.SIGTERM)  # mid-epoch: the next epoch started right after
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        kill_session(proc)
    stopped = read_json(path)
    done = len(stopped["history"])
    assert 1 <= done < EPOCHS, "the signal did not land inside the run"
    assert stopped["status"] == "running" and stopped["finished_at"] is None
    assert stopped["preempted"]["signal"] == "SIGTERM" and stopped["preempted"]["epochs_done"] == done
    assert [h["epoch"] for h in stopped["history"]] == list(range(done))
    assert not list(path.parent.glob("*.tmp"))  # no half-written checkpoint or record

    assert run_bench(*CELL, f"paths.runs={runs}") == 0  # relaunch: same cell directory
    [resumed] = records(runs)
    assert resumed["cell_id"] == path.parent.name
    assert resumed["status"] == "ok" and resumed["resumed_from"] == str(path.parent / "last.ckpt")
    assert [h["epoch"] for h in resumed["history"]] == list(range(EPOCHS))  # no gap, no duplicate
    assert strip_time(resumed["history"][:done]) == strip_time(stopped["history"])
    fresh = _uninterrupted(tmp_path)
    assert strip_time(resumed["history"]) == strip_time(fresh["history"])  # bit for bit on CPU
    assert resumed["final"] == fresh["final"]


@pytest.mark.slow
def test_submitit_local_requeues_a_preempted_cell_itself(tmp_path: Path) -> None:
    """SIGUSR2 (submitit's preemption signal) to the job: it checkpoints, requeues, finishes."""
    runs = tmp_path / "runs"
    proc = start_bench(*CELL, "hydra/launcher=local", f"paths.runs={runs}", log=tmp_path / "sweep.log")
    try:
        path = wait_for(lambda: _one_record(runs), 180, "the record", proc)
        wait_for(lambda: history_len(path) >= 1, 180, "one finished epoch", proc)
        [job] = processes_in_group(proc.pid, "submitit.core._submit")
        os.kill(job, signal.SIGUSR2)
        assert proc.wait(timeout=240) == 0, (tmp_path / "sweep.log").read_text()[-3000:]
    finally:
        kill_session(proc)
    [resumed] = records(runs)
    assert resumed["status"] == "ok" and resumed["resumed_from"] == str(path.parent / "last.ckpt")
    assert [h["epoch"] for h in resumed["history"]] == list(range(EPOCHS))
    job_log = "".join(p.read_text() for p in runs.glob("default/_hydra/*/.submitit/*/*_log.out"))
    assert "preempted sgd mlp/digits" in job_log and "Requeued job" in job_log
    assert job_log.count("- resume sgd mlp/digits") == 1
    fresh = _uninterrupted(tmp_path, threads=1)  # the local launcher runs one cell per core, 1 thread each
    assert strip_time(resumed["history"]) == strip_time(fresh["history"])


def test_signal_outside_fit_interrupts_and_restores_handlers() -> None:
    before = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(Preempted) as caught:
        with Preemption():
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.05)
    assert caught.value.signum == signal.SIGUSR1
    assert signal.getsignal(signal.SIGUSR1) is before


def test_requeue_is_handed_to_the_previous_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside a submitit job, submitit's own USR2 handler checkpoints and requeues."""
    calls = []
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: calls.append(signum))
    try:
        with Preemption() as preemption:
            with pytest.raises(Preempted):
                os.kill(os.getpid(), signal.SIGUSR2)
                time.sleep(0.05)
            assert calls == []  # the cell stops first (and records itself) ...
            with pytest.raises(SystemExit) as exited:
                preemption.requeue_or_exit()
        assert calls == [signal.SIGUSR2]  # ... then submitit's handler requeues
        assert exited.value.code == 128 + signal.SIGUSR2
    finally:
        signal.signal(signal.SIGUSR2, previous)


def test_plain_slurm_job_is_requeued_with_scontrol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No submitit: SIGUSR1 under SLURM runs `scontrol requeue <array job>_<task>`."""
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "scontrol"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "901")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "900")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    preemption = Preemption()
    preemption.signum = signal.SIGUSR1
    with pytest.raises(SystemExit) as exited:
        preemption.requeue_or_exit()
    assert exited.value.code == 128 + signal.SIGUSR1
    assert calls.read_text().split() == ["requeue", "900_3"]
