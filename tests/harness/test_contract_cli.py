"""The task contract through ``python -m bench`` and ``python -m results``: stand-in LM and GAN
tasks whose configs live outside ``conf/`` (``hydra.searchpath``), plan, run, resume and render."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import bench.cell
import bench.plan
from tests.conftest import records, run_bench

CONF = Path(__file__).parent / "conf"
SEARCH = f"hydra.searchpath=[file://{CONF}]"
LM = ("module=tiny_lm", "model=lstm_tiny", "dataset=markov16", "optimizer=sgd", SEARCH)
GAN = ("module=tiny_gan", "model=gan_tiny", "dataset=gauss1d", "optimizer=adam", "lr=0.01",
       "max_steps=20", "eval_every=5", SEARCH)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()} if root.exists() else {}


def test_a_task_without_a_metric_is_refused_at_plan_time(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = run_bench("module=forgetful", "model=gan_tiny", "dataset=gauss1d", "lr=0.1", SEARCH, f"paths.runs={tmp_path}")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "Forgetful declares no selection metric" in err[0]
    assert _tree(tmp_path) == {}  # nothing written


def test_language_model_sweeps_through_the_cli_into_a_perplexity_table(tmp_path: Path, capsys) -> None:
    from results.__main__ import main as results_main

    runs = tmp_path / "runs"
    assert run_bench(*LM, "lr_grids.sgd=[1.0,0.1]", "epochs=2", f"paths.runs={runs}") == 0
    recs = records(runs)
    assert sorted(r["identity"]["lr"] for r in recs) == [0.1, 1.0]
    assert all(r["status"] == "ok" and r["metric"]["unit"] == "ppl" for r in recs)
    # lower is better: the selected lr is the one with the smaller best validation perplexity
    best = min(recs, key=lambda r: r["best"]["val_ppl"])
    capsys.readouterr()
    assert results_main(["table", "default", "--runs", str(runs)]) == 0
    table = (runs / "default" / "_results" / "table.md").read_text()
    row = next(line for line in table.splitlines() if "| sgd |" in line and "model /" not in line)  # the summary row
    assert f"| sgd | {best['identity']['lr']:g} | {best['best']['val_ppl']:.2f} |" in row
    assert "%" not in table  # perplexity, not a percentage


def test_gan_roles_get_their_own_hyperparameters_and_enter_the_identity(tmp_path: Path) -> None:
    plain = bench.plan.plan_cells([*GAN, f"paths.runs={tmp_path}"])
    tuned = bench.plan.plan_cells([*GAN, "+optimizer_overrides.adam.discriminator.betas=[0.0,0.9]", f"paths.runs={tmp_path}"])
    [cfg] = tuned.configs
    assert list(cfg.optimizer_roles.discriminator.betas) == [0.0, 0.9]
    assert list(cfg.optimizer_roles.generator.betas) == [0.9, 0.999]
    assert plain.run_dirs[0] != tuned.run_dirs[0]
    with pytest.raises(bench.plan.PlanError, match=r"optimizer_overrides.adam.critic.*roles: generator, discriminator"):
        bench.plan.plan_cells([*GAN, "+optimizer_overrides.adam.critic.betas=[0.0,0.9]", f"paths.runs={tmp_path}"])

    captured: dict[str, list] = {}
    original = bench.cell.optimizer_factory

    def spy(cfg):
        make = original(cfg)

        def factory(params, role="model"):
            opt = make(params, role)
            captured.setdefault(role, []).append(opt.param_groups[0]["betas"])
            return opt
        return factory

    bench.cell.optimizer_factory = spy
    try:
        assert run_bench(*GAN, "+optimizer_overrides.adam.discriminator.betas=[0.0,0.9]", f"paths.runs={tmp_path}") == 0
    finally:
        bench.cell.optimizer_factory = original
    assert captured == {"generator": [(0.9, 0.999)], "discriminator": [(0.0, 0.9)]}


def test_step_budget_rows_per_evaluation_and_a_resumed_cell_replays_exactly(tmp_path: Path, monkeypatch) -> None:
    import tests.harness.contract_tasks as stand_ins

    assert run_bench(*GAN, f"paths.runs={tmp_path / 'fresh'}") == 0
    [fresh] = records(tmp_path / "fresh")
    assert fresh["status"] == "ok" and fresh["budget"] == {"per": "step", "max_steps": 20, "eval_every": 5}
    assert [h["step"] for h in fresh["history"]] == [5, 10, 15, 20]  # 8 batches an epoch: rows are not epochs
    assert [h["epoch"] for h in fresh["history"]] == [0, 1, 1, 2]

    original = stand_ins.StepGAN.training_step

    def crash_at_step_13(self, batch, batch_idx):
        if self.trainer.fit_loop.epoch_loop.batch_progress.total.completed == 13:
            raise RuntimeError("simulated crash")
        return original(self, batch, batch_idx)

    monkeypatch.setattr(stand_ins.StepGAN, "training_step", crash_at_step_13)
    assert run_bench(*GAN, f"paths.runs={tmp_path / 'runs'}") == 1
    [crashed] = records(tmp_path / "runs")
    assert crashed["status"] == "failed" and [h["step"] for h in crashed["history"]] == [5, 10]
    monkeypatch.setattr(stand_ins.StepGAN, "training_step", original)
    assert run_bench(*GAN, f"paths.runs={tmp_path / 'runs'}") == 0
    [resumed] = records(tmp_path / "runs")
    strip = lambda hs: [{k: v for k, v in h.items() if k != "time"} for h in hs]  # noqa: E731
    assert resumed["status"] == "ok" and strip(resumed["history"]) == strip(fresh["history"])


def test_each_cell_is_finalized_and_hashed_once_and_jobs_read_the_plan(tmp_path: Path, monkeypatch) -> None:
    calls = {"plan": 0, "job": 0}
    for module, name, key in ((bench.plan, "cell_run_dir", "plan"), (bench.cell, "planned_entry", "job")):
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda cfg, _o=original, _k=key: calls.__setitem__(_k, calls[_k] + 1) or _o(cfg))
    assert run_bench("optimizer=adam", "lr_grids.adam=[0.01,0.001]", "seeds=[0,1]", "epochs=1", f"paths.runs={tmp_path}") == 0
    assert calls == {"plan": 4, "job": 0}
    [plan] = (tmp_path / "_plans").glob("*.json")
    cells = json.loads(plan.read_text())["cells"]
    assert sorted(Path(c["run_dir"]).name for c in cells) == sorted(r["cell_id"] for r in records(tmp_path))
    assert all(math.isclose(c["config"]["lr"], float(c["overrides"][-2].split("=")[1])) for c in cells)
