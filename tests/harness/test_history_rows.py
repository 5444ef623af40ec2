"""A history row holds the metrics logged since the previous row, never a stale copy."""

from __future__ import annotations

from pathlib import Path

from bench.cell import run_cell, summarize
from bench.perf.runner import compose_cell


def test_epochs_without_an_evaluation_carry_no_validation_metrics(tmp_path: Path) -> None:
    record = run_cell(compose_cell(["model=mlp", "dataset=digits", "optimizer=adam", "lr=0.003", "epochs=5", "seed=2",
                                    "eval_every=2", f"paths.runs={tmp_path}"]))
    assert record["status"] == "ok"
    rows = record["history"]
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3, 4]
    assert all(isinstance(r["train_loss"], float) for r in rows)  # trained and logged every epoch
    evaluated = [r["epoch"] for r in rows if "val_acc" in r]
    assert evaluated == [1, 3] and [r["epoch"] for r in rows if "test_acc" in r] == [1, 3]
    assert rows[1]["val_acc"] != rows[3]["val_acc"] or rows[1]["val_loss"] != rows[3]["val_loss"]
    # final: each metric's latest value (the epoch-3 evaluation, epoch 4's training loss)
    assert record["final"]["val_acc"] == rows[3]["val_acc"] and record["final"]["train_loss"] == rows[4]["train_loss"]
    assert record["best"]["epoch"] in (1, 3)


def test_final_is_each_keys_latest_value_and_best_the_best_evaluated_row() -> None:
    rows = [{"epoch": 0, "step": 5, "train_loss": 2.0, "lr": 0.1, "time": 1.0},
            {"epoch": 1, "step": 10, "train_loss": 1.5, "val_acc": 0.7, "lr": 0.1, "time": 2.0},
            {"epoch": 2, "step": 15, "train_loss": 1.2, "lr": 0.05, "time": 3.0}]
    final, best = summarize(rows, "acc", "max")
    assert final == {"train_loss": 1.2, "val_acc": 0.7, "lr": 0.05}
    assert best == {"epoch": 1, "step": 10, "train_loss": 1.5, "val_acc": 0.7, "lr": 0.1}
