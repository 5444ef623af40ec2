"""Sweep progress: done/total, outcomes so far and an ETA; one line per cell off a TTY."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from bench.progress import Progress, format_eta
from bench.record import SCHEMA_VERSION, write_record
from tests.conftest import run_bench


def _record(run_dir: Path, status: str, lr: float) -> None:
    write_record(run_dir, {"schema_version": SCHEMA_VERSION, "status": status, "cell_id": run_dir.name,
                           "identity": {"optimizer": "sgd", "model": "mlp", "dataset": "digits", "lr": lr, "seed": 0},
                           "wall_time": 1.5})


def test_lines_per_finished_cell_off_a_tty(tmp_path: Path) -> None:
    dirs = [tmp_path / f"cell{i}" for i in range(4)]
    _record(dirs[0], "ok", 0.1)  # finished before the launch: done from the start, never announced
    _record(dirs[1], "failed", 0.2)  # failed before: it is rerun, so not done yet
    stream = io.StringIO()
    progress = Progress(dirs, stream=stream, tty=False, poll_s=3600).start()
    progress.poll()
    assert stream.getvalue() == ""
    _record(dirs[2], "running", 0.3)
    progress.poll()
    assert stream.getvalue() == ""  # running is not done
    _record(dirs[2], "diverged", 0.3)
    progress.poll()
    progress.poll()  # polled again: not announced twice
    [line] = stream.getvalue().splitlines()
    assert line.startswith("bench: [2/4] diverged sgd mlp/digits lr=0.3 seed=0 (1.5 s) | 2/4 done: 1 ok, 1 diverged, 0 failed")
    assert re.search(r"\| ETA \d+:\d\d:\d\d$", line)
    _record(dirs[1], "failed", 0.2)
    _record(dirs[3], "ok", 0.4)
    progress.stop()  # the final poll picks up both
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[-1].endswith("4/4 done: 2 ok, 1 diverged, 1 failed")  # no ETA once everything is done
    assert {line.split("]")[0] for line in lines} == {"bench: [2/4", "bench: [3/4", "bench: [4/4"}


def test_live_line_on_a_tty(tmp_path: Path) -> None:
    dirs = [tmp_path / "a", tmp_path / "b"]
    stream = io.StringIO()
    progress = Progress(dirs, stream=stream, tty=True, poll_s=3600).start()
    _record(dirs[0], "ok", 0.1)
    progress.poll()
    assert stream.getvalue().startswith("\r\033[Kbench: 1/2 done: 1 ok, 0 diverged, 0 failed | ETA ")
    assert "\n" not in stream.getvalue()  # rewritten in place, not one line per cell
    drawn = stream.getvalue()
    progress.poll()
    assert stream.getvalue() == drawn  # nothing new: no redraw over Lightning's bar
    _record(dirs[1], "ok", 0.2)
    progress.stop()
    assert stream.getvalue().endswith("\r\033[Kbench: 2/2 done: 2 ok, 0 diverged, 0 failed\n")


def test_eta_format() -> None:
    assert format_eta(0) == "0:00:00" and format_eta(3725.4) == "1:02:05"


def test_a_sweep_reports_each_cell_once(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench("optimizer=sgd", "optimizer.lr_grid=[0.1,0.05]", "epochs=1", f"paths.runs={runs}") == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if re.match(r"bench: \[\d/2\]", line)]
    assert len(lines) == 2 and sorted(line[:12] for line in lines) == ["bench: [1/2]", "bench: [2/2]"], lines
    assert {re.search(r"lr=(\S+)", line).group(1) for line in lines} == {"0.1", "0.05"}
    assert lines[-1].endswith("2/2 done: 2 ok, 0 diverged, 0 failed")
