"""Smoke cells have their own identity and directory and never enter a table unless asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from results.__main__ import main as results_main
from results.load import NoRecordsOfKind, load_records
from tests.conftest import records, run_bench

CELL = ("optimizer=sgd", "lr=0.1", "epochs=2")


def test_smoke_run_never_displaces_the_full_run(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench(*CELL, f"paths.runs={runs}") == 0
    assert run_bench(*CELL, "+smoke=true", f"paths.runs={runs}") == 0  # newer, same coordinates
    full, smoke = sorted(records(runs), key=lambda r: "smoke" in r["identity"])
    assert smoke["identity"] == {**full["identity"], "smoke": True} and "smoke" not in full["identity"]
    assert smoke["cell_id"] != full["cell_id"] and "_smoke_" in smoke["cell_id"]
    assert smoke["started_at"] >= full["started_at"]

    table = load_records(runs, "default")
    assert table["cell_id"].tolist() == [full["cell_id"]] and not table.attrs["superseded"]
    assert load_records(runs, "default", smoke=True)["cell_id"].tolist() == [smoke["cell_id"]]
    capsys.readouterr()
    assert results_main(["table", "default", "--runs", str(runs), "--at", "final"]) == 0
    out = capsys.readouterr()
    assert "replaced by a newer run" not in out.err
    assert f"{full['final']['test_acc'] * 100:.2f}" in out.out
    assert results_main(["table", "default", "--runs", str(runs), "--at", "final", "--smoke"]) == 0
    assert f"{smoke['final']['test_acc'] * 100:.2f}" in capsys.readouterr().out


def test_only_smoke_records_says_so(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench(*CELL, "+smoke=true", f"paths.runs={runs}") == 0
    with pytest.raises(NoRecordsOfKind, match="no full records.*add --smoke"):
        load_records(runs, "default")
    capsys.readouterr()
    assert results_main(["table", "default", "--runs", str(runs)]) == 2
    assert "add --smoke" in capsys.readouterr().err
    assert results_main(["report", "--runs", str(runs), "--out", str(runs.parent / "report")]) == 0
    assert "no full records" in capsys.readouterr().err
    assert json.loads(next(runs.rglob("record.json")).read_text())["identity"]["smoke"] is True
