"""``logger=wandb``: offline by default, config + per-epoch rows + record summary, sliceable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import records, run_bench
from tests.scale.helpers import finished_wandb_records

CELL = ("optimizer=adam", "lr=0.003", "epochs=3", "logger=wandb")


def _values(items) -> dict:
    return {("/".join(i.nested_key) if i.nested_key else i.key): json.loads(i.value_json) for i in items}


def test_offline_run_has_config_history_summary_and_tags(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)  # offline must be the config's default
    assert run_bench(*CELL, "experiment_name=wb", f"paths.runs={runs}") == 0
    [rec] = records(runs, "wb")
    cell_dir = runs / "wb" / rec["cell_id"]
    [run_file] = cell_dir.glob("wandb/offline-run-*/run-*.wandb")  # under the cell, offline
    assert (cell_dir / "metrics.csv").is_file()  # CSV stays on with wandb
    log = finished_wandb_records(run_file)

    [run] = [r.run for r in log if r.WhichOneof("record_type") == "run"]
    assert run.project == "optbench" and run.run_group == "wb"
    assert set(run.tags) >= {"experiment=wb", "optimizer=adam", "model=mlp", "dataset=digits", "lr=0.003", "seed=0"}
    config = _values(run.config.update)
    assert config["identity"] == rec["identity"] and config["cell_id"] == rec["cell_id"]
    assert config["optimizer"]["_target_"] == "torch.optim.Adam" and config["epochs"] == 3
    assert config["global_batch_size"] == 64 and config["world_size"] == 1

    rows = [_values(r.history.item) for r in log if r.WhichOneof("record_type") == "history"]
    assert [row["_step"] for row in rows] == [0, 1, 2]
    for row, entry in zip(rows, rec["history"]):
        assert {k: row[k] for k in entry} == entry  # the record's history entry, verbatim

    summary: dict = {}
    for r in log:
        if r.WhichOneof("record_type") == "summary":
            summary.update(_values(r.summary.update))
    assert summary["status"] == "ok" and summary["wall_time"] == rec["wall_time"]
    assert summary["final/val_acc"] == rec["final"]["val_acc"] and summary["best/epoch"] == rec["best"]["epoch"]


def test_wandb_mode_from_the_environment_wins(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert run_bench(*CELL, "epochs=1", f"paths.runs={runs}") == 0
    [rec] = records(runs)
    assert rec["status"] == "ok"
    assert not list((runs / "default" / rec["cell_id"]).glob("wandb/offline-run-*"))
