"""The runner is task-generic: a truncated-BPTT language model and a two-optimizer GAN run
through ``bench.cell.run_cell`` unchanged (contract in ``tasks/__init__.py``)."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from bench.cell import run_cell
from bench.plan import CONF_DIR
from tests.harness.contract_tasks import ClipProbeSGD

HERE = "tests.harness.contract_tasks"


def _cell(runs: Path, model: dict, dataset: dict, module: str, *overrides: str, **top: object) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"paths.runs={runs}", "seed=0", *overrides])
    OmegaConf.set_struct(cfg, False)
    cfg.model = model
    cfg.dataset = dataset
    cfg.module = {"_target_": f"{HERE}.{module}"}
    for key, value in top.items():
        cfg[key] = value
    return cfg


def _lm(runs: Path, grad_clip: float | None) -> DictConfig:
    cfg = _cell(runs, {"_target_": f"{HERE}.LSTMNet", "name": "lstm_tiny", "vocab": 16},
                {"_target_": f"{HERE}.TokenStream", "name": "markov16", "vocab": 16},
                "TinyLM", lr=1.0, epochs=3, grad_clip=grad_clip)
    cfg.optimizer = {"_target_": f"{HERE}.ClipProbeSGD", "_partial_": True, "name": "probe_sgd"}
    return cfg


def test_language_model_carries_state_clips_gradients_and_selects_min_perplexity(runs: Path) -> None:
    ClipProbeSGD.norms.clear()
    record = run_cell(_lm(runs, grad_clip=None))
    unclipped = list(ClipProbeSGD.norms)
    assert record["status"] == "ok", record["error"]
    assert max(unclipped) > 0.2  # so the clipped run below has something to clip

    ClipProbeSGD.norms.clear()
    record = run_cell(_lm(runs, grad_clip=0.1))
    assert record["status"] == "ok", record["error"]
    assert len(ClipProbeSGD.norms) == len(unclipped)
    assert max(ClipProbeSGD.norms) <= 0.1 * (1 + 1e-5)  # the cell's grad_clip reached the Trainer

    history = record["history"]
    assert [h["epoch"] for h in history] == [0, 1, 2]
    assert record["metric"]["name"] == "ppl" and record["metric"]["mode"] == "min" and record["metric"]["unit"] == "ppl"
    for h in history:
        assert math.isclose(h["val_ppl"], math.exp(h["val_loss"]), rel_tol=1e-6)  # logged as float32 and "test_ppl" in h
    assert history[-1]["val_ppl"] < 8  # learned the 2-successor chain (uniform guessing: 16)
    best = min(history, key=lambda h: h["val_ppl"])
    assert record["best"]["epoch"] == best["epoch"] and record["best"]["val_ppl"] == best["val_ppl"]


def _gan(runs: Path, epochs: int = 3) -> DictConfig:
    return _cell(runs, {"_target_": f"{HERE}.GeneratorDiscriminator", "name": "gan_tiny"},
                 {"_target_": f"{HERE}.GaussianSamples", "name": "gauss1d"},
                 "TinyGAN", "optimizer=adam", "schedule=multistep", "schedule.milestones=[1]",
                 "schedule.gamma=0.1", lr=0.01, epochs=epochs)


def test_gan_two_optimizers_manual_optimization_and_both_schedules(runs: Path) -> None:
    record = run_cell(_gan(runs))
    assert record["status"] == "ok", record["error"]
    history = record["history"]
    assert [h["epoch"] for h in history] == [0, 1, 2]
    for h, lr in zip(history, [0.01, 0.001, 0.001]):  # milestone 1, gamma 0.1, on both optimizers
        assert math.isclose(h["lr_g"], lr, rel_tol=1e-6) and math.isclose(h["lr_d"], lr, rel_tol=1e-6)
    assert (record["metric"]["name"], record["metric"]["mode"]) == ("dist", "min") and "test_dist" in history[-1]
    ckpt = torch.load(Path(runs) / "default" / record["cell_id"] / "last.ckpt", weights_only=False)
    assert len(ckpt["optimizer_states"]) == 2 and len(ckpt["lr_schedulers"]) == 2


def test_gan_resumed_after_a_crash_equals_an_uninterrupted_run(tmp_path: Path, monkeypatch) -> None:
    fresh = run_cell(_gan(tmp_path / "fresh"))

    import tests.harness.contract_tasks as tasks_mod

    original = tasks_mod.TinyGAN.on_train_epoch_start

    def crash_in_epoch_2(self) -> None:
        if self.current_epoch == 2:
            raise RuntimeError("simulated crash")
        original(self)

    monkeypatch.setattr(tasks_mod.TinyGAN, "on_train_epoch_start", crash_in_epoch_2)
    crashed = run_cell(_gan(tmp_path / "runs"))
    assert crashed["status"] == "failed" and len(crashed["history"]) == 2
    monkeypatch.setattr(tasks_mod.TinyGAN, "on_train_epoch_start", original)

    resumed = run_cell(_gan(tmp_path / "runs"))  # a failed cell with last.ckpt resumes from it
    assert resumed["status"] == "ok" and resumed["resumed_from"].endswith("last.ckpt")
    strip = lambda hs: [{k: v for k, v in h.items() if k != "time"} for h in hs]  # noqa: E731
    assert strip(resumed["history"]) == strip(fresh["history"])  # both optimizers and schedules restored
