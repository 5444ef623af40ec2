"""The PTB recipes: cell counts and per-cell settings read off the papers (dry run, nothing
trained), the tables they render, and every cell of each in smoke mode (slow)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.plan import plan_cells
from tests.conftest import records, run_bench
from tests.lm.conftest import VOCAB, write_ptb

AM_LR = {  # AdaMomentum App. D Tables 9 / 10 / 11: step size, eps per layer count
    "lstm1": {"adam": (1e-3, 1e-12), "adamw": (1e-3, 1e-12), "yogi": (1e-2, 1e-8), "adabound": (1e-2, 1e-8),
              "radam": (1e-3, 1e-12), "adabelief": (1e-3, 1e-16), "adamomentum": (1e-3, 1e-16)},
    "lstm2": {"adam": (1e-2, 1e-12), "adamw": (1e-3, 1e-12), "yogi": (1e-2, 1e-8), "adabound": (1e-2, 1e-8),
              "radam": (1e-3, 1e-12), "adabelief": (1e-2, 1e-12), "adamomentum": (1e-3, 1e-16)},
}
AM_LR["lstm3"] = AM_LR["lstm2"]  # Table 11 prints the same values as Table 10
PADAM_LR = {"lstm2": {"sgd": 1.0, "yogi": 0.01, "padam": 0.01, "adam": 1e-3, "amsgrad": 1e-3, "adamw": 1e-3,
                      "adabound": 1e-3},
            "lstm3": {"sgd": 10.0, "yogi": 0.1, "padam": 1.0, "adam": 1e-3, "amsgrad": 1e-3, "adamw": 1e-3,
                      "adabound": 1e-3}}


def _cells(*overrides: str) -> dict[tuple[str, str, int, float], object]:
    planned = plan_cells(list(overrides))
    return {(c.optimizer.name, c.model.name, c.seed, c.lr): c for c in planned.configs}


def test_adamomentum_table5_cells_are_the_papers() -> None:
    cells = _cells("experiment=adamomentum_table5", "seeds=[0]")  # the 5 seeds: counted by the dry run
    assert len(cells) == 3 * 8
    for (opt, model, seed, lr), c in cells.items():
        assert (c.epochs, c.dataset.batch_size, c.grad_clip) == (200, 20, 0.25)
        assert list(c.schedule.milestones) == [100, 145] and c.schedule.gamma == 0.1
        assert c.dataset.variable_bptt and c.dataset.bptt == 70 and c.dataset.name == "ptb"
        assert c.model.layers == int(model[-1]) and (c.model.embedding_size, c.model.hidden_size) == (400, 1150)
        assert (c.model.dropout_h, c.model.dropout_i) == (0.25, 0.4)
        assert c.optimizer.weight_decay == 1.2e-6
        if opt == "sgd":
            assert lr == 30.0 and c.optimizer.momentum == 0.9
            continue
        assert (lr, c.optimizer.eps) == AM_LR[model][opt], (opt, model)
        assert list(c.optimizer.betas) == [0.9, 0.999]
        if opt == "adabound":
            assert (c.optimizer.final_lr, c.optimizer.gamma) == (30.0, 1e-3)
    paper_decay = _cells("experiment=adamomentum_table5", "weight_decay=1.2e-4", "model=lstm2", "optimizer=yogi")
    assert [c.optimizer.weight_decay for c in paper_decay.values()] == [1.2e-4] * 5


def test_padam_table3_cells_are_the_papers() -> None:
    cells = _cells("experiment=padam_table3")
    assert len(cells) == 2 * 7
    for (opt, model, seed, lr), c in cells.items():
        assert (c.epochs, c.dataset.batch_size, list(c.schedule.milestones), c.schedule.gamma) == (200, 20, [100, 150], 0.1)
        assert lr == PADAM_LR[model][opt], (opt, model)
        if opt != "sgd":
            assert list(c.optimizer.betas) == [0.9, 0.999]
    by = {(o, m): c.optimizer for (o, m, _, _), c in cells.items()}
    assert by["padam", "lstm2"].partial == 0.4 and by["padam", "lstm3"].partial == 0.2
    assert by["adabound", "lstm2"].final_lr == 10.0 and by["adabound", "lstm3"].final_lr == 100.0
    assert by["yogi", "lstm2"].eps == 1e-3 and by["sgd", "lstm3"].momentum == 0.9
    # normalised 4e-4 -> 4e-4 * sqrt(1 / (664 steps x 200 epochs)) / lr 1e-3
    assert by["adamw", "lstm2"].weight_decay == pytest.approx(4e-4 * (1 / (664 * 200)) ** 0.5 / 1e-3, rel=0.01)


def test_adarem_table3_cells() -> None:
    cells = _cells("experiment=adarem_table3")
    assert len(cells) == 9 and {m for _, m, _, _ in cells} == {"lstm3"}
    assert sorted(lr for o, _, _, lr in cells if o == "adarem") == [10.0, 30.0, 50.0]
    for (opt, model, seed, lr), c in cells.items():
        assert (c.epochs, list(c.schedule.milestones), c.schedule.gamma, c.dataset.batch_size) == (100, [50], 0.1, 20)


@pytest.mark.parametrize("name,count,hours", [pytest.param("adamomentum_table5", 120, 5 * 8 * 200 * (25 + 35 + 45) / 3600,
                                                           marks=pytest.mark.slow),  # plans 120 cells: ~30 s
                                              ("padam_table3", 14, 7 * 200 * (35 + 45) / 3600),
                                              ("adarem_table3", 9, 9 * 100 * 45 / 3600)])
def test_dry_run_counts_cells_and_gpu_hours(name: str, count: int, hours: float, runs: Path, capsys) -> None:
    assert run_bench(f"experiment={name}", f"paths.runs={runs}", "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"dry run: {count} cell(s), 0 already finished" in out
    total = float(re.search(r"estimate: ([\d.]+) GPU-hours", out).group(1))
    assert total == pytest.approx(hours, abs=0.01) and "no cost entry" not in out


# --- runs on a tiny corpus in the real format -------------------------------------------------
@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_ptb(root / "ptb")
    return root


def _smoke(recipe: str, data_root: Path, runs: Path, *extra: str) -> list[str]:
    return [f"experiment={recipe}", "+smoke=true", "seeds=[0]", f"paths.data={data_root}", f"paths.runs={runs}",
            f"dataset.num_classes={VOCAB}", *extra]


def test_ptb_small_runs_on_real_format_text_and_learns(data_root: Path, runs: Path) -> None:
    assert run_bench("experiment=ptb_small", f"paths.data={data_root}", f"paths.runs={runs}",
                     f"dataset.num_classes={VOCAB}") == 0
    recs = records(runs, "ptb_small")
    assert sorted(r["identity"]["optimizer"] for r in recs) == ["adam", "sgd"]
    for r in recs:
        assert r["status"] == "ok" and [h["epoch"] for h in r["history"]] == [0, 1, 2]
        assert r["metric"]["name"] == "ppl" and r["metric"]["mode"] == "min"
        assert {"train_ppl", "val_ppl", "test_ppl"} <= set(r["history"][-1])
        assert r["history"][-1]["val_ppl"] < VOCAB  # better than uniform guessing


def test_padam_table3_smoke_cells_render_beside_the_published_numbers(data_root: Path, runs: Path, capsys) -> None:
    """Fast representative: two (shrunk) smoke cells of Padam Table 3, then the table."""
    from results.__main__ import main as results_main

    assert run_bench(*_smoke("padam_table3", data_root, runs, "model=lstm3", "optimizer=padam,sgd",
                             "model.hidden_size=24", "model.embedding_size=16")) == 0
    recs = records(runs, "padam_table3")
    assert len(recs) == 2 and all(r["status"] == "ok" for r in recs), [r["error"] for r in recs]
    capsys.readouterr()
    assert results_main(["table", "padam_table3", "--runs", str(runs), "--smoke"]) in (0, None)
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| 3-layer LSTM"))
    assert "58.48" in row and "61.22" in row  # published Padam and SGDM beside ours
    ours = next(r for r in recs if r["identity"]["optimizer"] == "padam")["final"]["test_ppl"]
    assert f"{ours:.2f}" in row
    assert "—" in next(line for line in out.splitlines() if line.startswith("| 2-layer LSTM"))


def test_report_draws_test_and_train_perplexity_curves(data_root: Path, runs: Path, tmp_path: Path) -> None:
    from results.__main__ import main as results_main

    assert run_bench(*_smoke("adamomentum_table5", data_root, runs, "model=lstm1", "optimizer=adamomentum,adam",
                             "model.hidden_size=24", "model.embedding_size=16")) == 0
    out = tmp_path / "report"
    assert results_main(["report", "--runs", str(runs), "--out", str(out), "--smoke"]) in (0, None)
    assert (out / "adamomentum_table5" / "curves_lstm1_ptb.png").stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.parametrize("recipe,count", [("adamomentum_table5", 24), ("padam_table3", 14), ("adarem_table3", 9)])
def test_every_cell_of_the_recipe_runs_in_smoke_mode(recipe: str, count: int, data_root: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    assert run_bench(*_smoke(recipe, data_root, runs)) == 0
    recs = records(runs, recipe)
    assert len(recs) == count
    assert all(r["status"] == "ok" for r in recs), [(r["cell_id"], r["status"]) for r in recs if r["status"] != "ok"]
