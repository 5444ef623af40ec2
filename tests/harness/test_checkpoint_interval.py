"""``checkpoint_every_s``: last.ckpt and the record are written at most that often, yet always at
the end and on a stop signal, and a resume from such a checkpoint is bit-exact."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch

from bench.callbacks import AtomicLastCheckpoint, History
from tests.conftest import records, run_bench
from tests.scale.helpers import strip_time

CELL = ("optimizer=adam", "lr=0.01", "epochs=4", "dataset.batch_size=128")


def _count_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every last.ckpt write: 'epoch' at an evaluation, 'flush' for the held one."""
    writes: list[str] = []
    write, flush = AtomicLastCheckpoint._write, AtomicLastCheckpoint.flush

    def counted_write(self, *args, **kwargs):
        writes.append("epoch")
        return write(self, *args, **kwargs)

    def counted_flush(self, trainer):
        done = flush(self, trainer)
        if done:
            writes.append("flush")
        return done

    monkeypatch.setattr(AtomicLastCheckpoint, "_write", counted_write)
    monkeypatch.setattr(AtomicLastCheckpoint, "flush", counted_flush)
    return writes


def test_long_interval_writes_once_at_the_end_with_every_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_bench(*CELL, "checkpoint_every_s=0", f"paths.runs={tmp_path / 'every'}") == 0
    writes = _count_writes(monkeypatch)
    assert run_bench(*CELL, "checkpoint_every_s=3600", f"paths.runs={tmp_path / 'rare'}") == 0
    assert writes == ["flush"]  # no write at epochs 0-2; the last epoch's state written when fit ended
    [every], [rare] = records(tmp_path / "every"), records(tmp_path / "rare")
    assert [h["epoch"] for h in rare["history"]] == [0, 1, 2, 3]  # the history still has every epoch
    assert strip_time(rare["history"]) == strip_time(every["history"])
    assert every["cell_id"] == rare["cell_id"]  # the interval is not part of the cell's identity
    ckpt = torch.load(next((tmp_path / "rare").glob("default/*/last.ckpt")), weights_only=False)
    assert ckpt["epoch"] == 3 and len(ckpt["callbacks"]["History"]["entries"]) == 4


# digits packs each epoch into one training batch (dataset.steps_per_call), where the task
# steps a per-epoch schedule itself: the cosine case shows a resume steps it neither twice nor never
@pytest.mark.parametrize("schedule", ["schedule=constant", "schedule=cosine"])
def test_stop_signal_writes_the_held_epoch_and_resume_is_bit_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  schedule: str) -> None:
    fresh = tmp_path / "fresh"
    cell = (*CELL, schedule)
    assert run_bench(*cell, "checkpoint_every_s=0", f"paths.runs={fresh}") == 0
    runs = tmp_path / "runs"
    writes = _count_writes(monkeypatch)
    take_row = History._take_row

    def signal_after_second_epoch(self, trainer, pl_module, lr):
        take_row(self, trainer, pl_module, lr)
        if len(self.entries) == 2 and self.restored == 0:
            os.kill(os.getpid(), signal.SIGTERM)  # lands during epoch 1's end; the cell stops in epoch 2

    monkeypatch.setattr(History, "_take_row", signal_after_second_epoch)
    assert run_bench(*cell, "checkpoint_every_s=3600", f"paths.runs={runs}") == 128 + signal.SIGTERM
    assert writes == ["flush"]  # nothing was due; the stop wrote the epoch held in memory
    [cut] = records(runs)
    assert cut["status"] == "running" and [h["epoch"] for h in cut["history"]] == [0, 1]
    ckpt = torch.load(next(runs.glob("default/*/last.ckpt")), weights_only=False)
    assert len(ckpt["callbacks"]["History"]["entries"]) == 2  # checkpoint and record agree

    monkeypatch.setattr(History, "_take_row", take_row)
    assert run_bench(*cell, "checkpoint_every_s=3600", f"paths.runs={runs}") == 0
    [resumed], [straight] = records(runs), records(fresh)
    assert resumed["resumed_from"].endswith("last.ckpt")
    assert strip_time(resumed["history"]) == strip_time(straight["history"])  # bit for bit on CPU
    assert resumed["final"] == straight["final"]
    assert len({h["lr"] for h in straight["history"]}) == (4 if schedule.endswith("cosine") else 1)


def test_bad_interval_is_a_plan_time_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench("checkpoint_every_s=-1", f"paths.runs={tmp_path}") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint_every_s=-1" in err[0]
    assert not any(tmp_path.iterdir())


def test_a_finished_cell_writes_its_record_twice_and_never_ahead_of_last_ckpt(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The record is written when the cell starts and once at the end, with its final status,
    after the held evaluation reached last.ckpt (no intermediate 'running' copy in between)."""
    import bench.cell

    seen: list[tuple[str, int, int]] = []  # (status, rows in the record, rows in last.ckpt then)
    write = bench.cell.write_record

    def spy(run_dir, record):
        ckpt = Path(run_dir) / "last.ckpt"
        rows = len(torch.load(ckpt, weights_only=False)["callbacks"]["History"]["entries"]) if ckpt.exists() else 0
        seen.append((record["status"], len(record["history"]), rows))
        return write(run_dir, record)

    monkeypatch.setattr(bench.cell, "write_record", spy)
    assert run_bench(*CELL, "checkpoint_every_s=3600", f"paths.runs={tmp_path}") == 0
    assert seen == [("running", 0, 0), ("ok", 4, 4)]


def test_the_held_copy_of_a_checkpoint_is_independent_of_training() -> None:
    """``_snapshot`` copies containers and clones tensors, so training after an evaluation cannot
    change the checkpoint held in memory; immutable values are shared."""
    from collections import OrderedDict, namedtuple

    from bench.callbacks import _snapshot

    Pair = namedtuple("Pair", "a b")
    weight = torch.ones(3)
    live = {"state_dict": OrderedDict(w=weight), "entries": [{"epoch": 0, "val": 0.5}], "n": 3, "name": "x",
            "nested": {"steps": [1, 2], "t": (weight, 2)}, "pair": Pair([1], 2), "none": None, "flag": True}
    held = _snapshot(live)
    weight.add_(1)
    live["entries"].append({"epoch": 1})
    live["entries"][0]["val"] = 9.0
    live["nested"]["steps"].append(3)
    live["pair"].a.append(2)
    assert held["state_dict"]["w"].tolist() == [1.0, 1.0, 1.0] and type(held["state_dict"]) is OrderedDict
    assert held["entries"] == [{"epoch": 0, "val": 0.5}] and held["nested"]["steps"] == [1, 2]
    assert held["nested"]["t"][0].tolist() == [1.0, 1.0, 1.0] and held["pair"] == Pair([1], 2)
    assert held["name"] is live["name"] and held["n"] == 3 and held["none"] is None and held["flag"] is True
