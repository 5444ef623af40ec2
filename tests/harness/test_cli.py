"""End-to-end behaviour of ``python -m bench`` on the digits MLP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import records, run_bench

FAST = ("epochs=2",)


def test_one_cell_end_to_end(runs: Path) -> None:
    assert run_bench("optimizer=adam", "lr=0.003", f"paths.runs={runs}", *FAST) == 0
    [rec] = records(runs)
    assert rec["status"] == "ok"
    assert rec["identity"] == {"optimizer": "adam", "model": "mlp", "dataset": "digits", "lr": 0.003, "seed": 0}
    assert [h["epoch"] for h in rec["history"]] == [0, 1]
    for key in ("train_loss", "val_loss", "val_acc", "test_loss", "test_acc", "lr", "time"):
        assert key in rec["history"][0], key
    # Adam at 3e-3 learns the digits in two epochs far beyond chance (0.1).
    assert rec["final"]["val_acc"] > 0.8
    assert rec["best"]["val_acc"] == max(h["val_acc"] for h in rec["history"])
    assert rec["config"]["optimizer"]["_target_"] == "torch.optim.Adam"
    assert rec["versions"]["torch"] and rec["device"].startswith("cpu")
    run_dir = runs / "default" / rec["cell_id"]
    assert (run_dir / "last.ckpt").is_file()
    csv_lines = (run_dir / "metrics.csv").read_text().splitlines()
    assert len(csv_lines) == 3 and "val_acc" in csv_lines[0]


def test_default_sweeps_lr_grid_and_seeds(runs: Path) -> None:
    grid = [0.01, 0.001]
    assert run_bench("optimizer=sgd", f"optimizer.lr_grid=[{grid[0]},{grid[1]}]", "seeds=[0,1]",
                     f"paths.runs={runs}", "epochs=1") == 0
    got = sorted((r["identity"]["lr"], r["identity"]["seed"]) for r in records(runs))
    assert got == sorted((lr, s) for lr in grid for s in (0, 1))


def test_multirun_widens_optimizers(runs: Path) -> None:
    assert run_bench("-m", "optimizer=sgd,adam", "lr=0.01", f"paths.runs={runs}", "epochs=1") == 0
    assert sorted(r["identity"]["optimizer"] for r in records(runs)) == ["adam", "sgd"]


def test_experiment_sweep_axis_and_per_optimizer_settings(runs: Path) -> None:
    assert run_bench(
        "experiment=quickstart", "sweep.optimizer=[sgd,rmsprop]", "+lr_grids.sgd=[0.05]",
        "+lr_grids.rmsprop=[0.001]", "+optimizer_overrides.rmsprop.alpha=0.5",
        f"paths.runs={runs}", "epochs=1",
    ) == 0
    recs = {r["identity"]["optimizer"]: r for r in records(runs, "quickstart")}
    assert sorted(recs) == ["rmsprop", "sgd"]
    assert recs["sgd"]["identity"]["lr"] == 0.05 and recs["rmsprop"]["identity"]["lr"] == 0.001
    assert recs["rmsprop"]["config"]["optimizer"]["alpha"] == 0.5
    assert recs["sgd"]["config"]["optimizer"]["momentum"] == 0.9


def test_same_cell_twice_is_bit_identical(tmp_path: Path) -> None:
    histories = []
    for name in ("a", "b"):
        assert run_bench("optimizer=sgd", "lr=0.05", f"paths.runs={tmp_path / name}", "epochs=3") == 0
        [rec] = records(tmp_path / name)
        histories.append([{k: v for k, v in h.items() if k != "time"} for h in rec["history"]])
    assert histories[0] == histories[1]


def test_relaunch_skips_finished_cells(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("optimizer=sgd", "optimizer.lr_grid=[0.1,0.01]", f"paths.runs={runs}", "epochs=1")
    assert run_bench(*args) == 0
    before = {r["cell_id"]: r["started_at"] for r in records(runs)}
    mtimes = {p: p.stat().st_mtime_ns for p in runs.rglob("record.json")}
    capsys.readouterr()
    assert run_bench(*args) == 0
    err = capsys.readouterr().err
    assert "2 cell(s), 2 already finished" in err
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("record.json")} == mtimes
    assert {r["cell_id"]: r["started_at"] for r in records(runs)} == before


def test_divergence_is_an_outcome_not_a_crash(runs: Path) -> None:
    # SGD at lr=1e4 blows the MLP's loss up within the first epochs; the adam cell still runs.
    assert run_bench("-m", "optimizer=sgd,adam", "lr=10000.0", f"paths.runs={runs}", "epochs=3") == 0
    by_opt = {r["identity"]["optimizer"]: r for r in records(runs)}
    assert by_opt["sgd"]["status"] == "diverged"
    assert "non-finite" in by_opt["sgd"]["error"]
    assert by_opt["adam"]["status"] in ("ok", "diverged")
    # A diverged cell counts as finished: a relaunch does not retry it.
    mtime = next(runs.rglob("sgd_*/record.json")).stat().st_mtime_ns
    assert run_bench("-m", "optimizer=sgd,adam", "lr=10000.0", f"paths.runs={runs}", "epochs=3") == 0
    assert next(runs.rglob("sgd_*/record.json")).stat().st_mtime_ns == mtime


def test_failed_cell_keeps_traceback_and_sweep_goes_on(runs: Path) -> None:
    # label_smoothing outside [0, 1) makes the LightningModule raise inside the cell (models and
    # optimizers are checked before the sweep starts; the module is built only by the cell).
    rc = run_bench("-m", "module.label_smoothing=0.0,1.5", "lr=0.01", f"paths.runs={runs}", "epochs=1")
    assert rc == 1  # the summary reports the failed cell
    by_smoothing = {r["config"]["module"]["label_smoothing"]: r for r in records(runs)}
    assert by_smoothing[1.5]["status"] == "failed"
    assert "Traceback" in by_smoothing[1.5]["error"] and "label_smoothing" in by_smoothing[1.5]["error"]
    assert by_smoothing[0.0]["status"] == "ok"
