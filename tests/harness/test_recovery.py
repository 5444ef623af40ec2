"""Corrupt or truncated cell files: nothing that was recorded is lost, and the cell ends ok.

A cell is stopped in this process by a real SIGTERM sent at the start of an epoch (the
runner's preemption path: it records itself as ``running`` and keeps ``last.ckpt``). A digits
epoch is one packed Lightning batch, which Lightning finishes (with its evaluation) before it
stops, so that epoch is recorded too (``FINISHED_AFTER_SIGNAL``). Then a
file is damaged and the same command relaunched. The result must equal an uninterrupted run
of the cell, bit for bit on CPU.
"""

from __future__ import annotations

import csv
import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.callbacks import OptimizerEpochHook
from tests.conftest import records, run_bench
from tests.scale.helpers import strip_time

EPOCHS = 4
CELL = ("optimizer=sgd", "lr=0.05", f"epochs={EPOCHS}")
FINISHED_AFTER_SIGNAL = 1  # epochs a stop signal at an epoch's start lets finish (the packed epoch under way)


@contextmanager
def sigterm_at_epoch(epoch: int) -> Iterator[None]:
    """Send this process SIGTERM when the cell starts training epoch ``epoch``."""
    original = OptimizerEpochHook.on_train_epoch_start

    def hook(self, trainer, pl_module):  # noqa: ANN001
        original(self, trainer, pl_module)
        if trainer.current_epoch == epoch:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(OptimizerEpochHook, "on_train_epoch_start", hook)
        yield


def interrupt(runs: Path, epoch: int) -> Path:
    with sigterm_at_epoch(epoch):
        assert run_bench(*CELL, f"paths.runs={runs}") == 128 + signal.SIGTERM
    [path] = list(runs.glob("default/*/record.json"))
    record = json.loads(path.read_text())
    assert record["status"] == "running" and len(record["history"]) == epoch + FINISHED_AFTER_SIGNAL
    return path.parent


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    runs = tmp_path_factory.mktemp("fresh") / "runs"
    assert run_bench(*CELL, f"paths.runs={runs}") == 0
    [record] = records(runs)
    return record


def assert_equals_uninterrupted(record: dict, fresh: dict) -> None:
    assert record["status"] == "ok"
    assert [h["epoch"] for h in record["history"]] == list(range(EPOCHS))
    assert strip_time(record["history"]) == strip_time(fresh["history"])
    assert record["final"] == fresh["final"]


@pytest.mark.parametrize("damage", ["truncated", pytest.param("garbage", marks=pytest.mark.slow),
                                    pytest.param("empty", marks=pytest.mark.slow)])
def test_unreadable_checkpoint_is_moved_aside_and_the_old_history_kept(
        tmp_path: Path, uninterrupted: dict, damage: str, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    cell = interrupt(runs, epoch=2)
    stopped = json.loads((cell / "record.json").read_text())
    ckpt = cell / "last.ckpt"
    data = ckpt.read_bytes()
    ckpt.write_bytes({"garbage": b"\x00not a checkpoint" * 100, "truncated": data[: len(data) // 2],
                      "empty": b""}[damage])
    damaged = ckpt.read_bytes()

    # the restarted run is stopped again before it has caught up: the old rows stay beside the new
    interrupt_epoch = 1
    with sigterm_at_epoch(interrupt_epoch):
        assert run_bench(*CELL, f"paths.runs={runs}") == 128 + signal.SIGTERM
    [aside] = list(cell.glob("last.ckpt.corrupt-*"))
    assert aside.read_bytes() == damaged  # kept, byte for byte
    out = capsys.readouterr()
    warning = [line for line in (out.out + out.err).splitlines() if "- corrupt " in line]
    assert len(warning) == 1 and "last.ckpt cannot be read (not a complete torch checkpoint" in warning[0], warning
    assert aside.name in warning[0] and "restarting from scratch" in warning[0]
    midway = json.loads((cell / "record.json").read_text())
    assert midway["history_before_restart"] == stopped["history"]  # nothing recorded is lost
    assert len(midway["history"]) == interrupt_epoch + FINISHED_AFTER_SIGNAL < len(stopped["history"])
    [note] = midway["recovery"]
    assert note["file"] == "last.ckpt" and note["moved_to"] == aside.name and note["error"]

    assert run_bench(*CELL, f"paths.runs={runs}") == 0
    [final] = records(runs)
    assert_equals_uninterrupted(final, uninterrupted)  # a fresh start is the same deterministic run
    assert "history_before_restart" not in final  # the new run passed it
    assert final["recovery"] == [note]  # the note survives later resumes


@pytest.mark.parametrize("damage", ["truncated", pytest.param("not-json", marks=pytest.mark.slow),
                                    pytest.param("not-an-object", marks=pytest.mark.slow)])
def test_unreadable_record_resumes_from_the_checkpoint(tmp_path: Path, uninterrupted: dict, damage: str) -> None:
    runs = tmp_path / "runs"
    cell = interrupt(runs, epoch=2)
    path = cell / "record.json"
    text = path.read_text()
    path.write_text({"truncated": text[: len(text) // 3], "not-json": "\x00\x01 garbage",
                     "not-an-object": "[1, 2, 3]"}[damage])
    damaged = path.read_bytes()
    assert run_bench(*CELL, f"paths.runs={runs}") == 0
    [final] = records(runs)
    assert_equals_uninterrupted(final, uninterrupted)
    assert final["resumed_from"] == str(cell / "last.ckpt")  # the history came back from last.ckpt
    [aside] = list(cell.glob("record.json.corrupt-*"))
    assert aside.read_bytes() == damaged
    assert final["recovery"][0]["file"] == "record.json" and final["recovery"][0]["moved_to"] == aside.name


def test_truncated_metrics_csv_is_rewritten(tmp_path: Path, uninterrupted: dict) -> None:
    runs = tmp_path / "runs"
    cell = interrupt(runs, epoch=2)
    csv_path = cell / "metrics.csv"
    csv_path.write_text(csv_path.read_text()[:17])
    assert run_bench(*CELL, f"paths.runs={runs}") == 0
    [final] = records(runs)
    assert_equals_uninterrupted(final, uninterrupted)
    rows = list(csv.DictReader(csv_path.open()))
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    assert [float(r["train_loss"]) for r in rows] == [h["train_loss"] for h in final["history"]]


def test_a_failed_resume_never_shrinks_the_history(tmp_path: Path, uninterrupted: dict,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "runs"
    cell = interrupt(runs, epoch=2)
    stopped = json.loads((cell / "record.json").read_text())

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003
        raise OSError("data volume went away")

    with monkeypatch.context() as patch:
        patch.setattr("bench.cell.build_data", broken)
        assert run_bench(*CELL, f"paths.runs={runs}") == 1
    failed = json.loads((cell / "record.json").read_text())
    assert failed["status"] == "failed" and "data volume went away" in failed["error"]
    assert failed["history"] == stopped["history"] and failed["final"] == stopped["final"]
    assert run_bench(*CELL, f"paths.runs={runs}") == 0
    [final] = records(runs)
    assert_equals_uninterrupted(final, uninterrupted)
