"""The template workload end to end: CLI plan and run, resume-safe records, a results table."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from tasks.template.data import RegressionData
from tests.conftest import records, run_bench


def test_template_experiment_runs_into_a_table_selected_by_minimum_mse(tmp_path: Path, capsys) -> None:
    from results.__main__ import main as results_main

    runs = tmp_path / "runs"
    assert run_bench("experiment=template", "epochs=3", "seeds=[0]", f"paths.runs={runs}") == 0
    recs = records(runs, "template")
    assert len(recs) == 6 and all(r["status"] == "ok" for r in recs)  # 3 optimizers x 2 lrs
    assert all(r["metric"]["name"] == "mse" and r["metric"]["mode"] == "min" for r in recs)
    for r in recs:  # best = the row with the lowest validation MSE
        assert r["best"]["val_mse"] == min(h["val_mse"] for h in r["history"])
    # a least-squares net learns: the final validation MSE is well below the variance of the targets
    data = RegressionData()
    data.setup()
    variance = data.splits["val"][1].var().item()
    assert min(r["final"]["val_mse"] for r in recs) < 0.2 * variance

    capsys.readouterr()
    assert results_main(["table", "template", "--runs", str(runs)]) == 0
    table = (runs / "template" / "_results" / "table.md").read_text()
    for opt in ("sgd", "adam", "rame"):
        mine = [r for r in recs if r["identity"]["optimizer"] == opt]
        best_lr = min(mine, key=lambda r: r["best"]["val_mse"])["identity"]["lr"]
        assert any(f"| {opt} | {best_lr:g} |" in line for line in table.splitlines())


def test_template_example_batch_matches_the_real_batches() -> None:
    data = RegressionData(features=5, num_samples=50, batch_size=4)
    x, y = next(iter(data.split_loader("train")))
    ex, ey = data.example_batch()
    assert (ex.dtype, ey.dtype) == (x.dtype, y.dtype) and ex.shape[1:] == x.shape[1:] and ey.shape[1:] == y.shape[1:]
    assert not math.isnan(float(torch.as_tensor(x).sum()))
