"""GAN cells through the runner: n_dis D steps per G step, records, resume, divergence, the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import tasks.gan.module as gan_module
from bench.cell import run_cell
from tasks.gan.data import RealStream
from tasks.gan.models import sngan_resnet
from tests.conftest import run_bench
from tests.gan.conftest import gan_cell


def _strip(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k != "time"} for h in history]


def test_cell_takes_n_dis_discriminator_steps_per_generator_step_and_records_fid(
        tmp_path: Path, gan_cifar: Path, monkeypatch) -> None:
    steps: list[str] = []
    batches: list[int] = []
    adam_step = torch.optim.Adam.step
    model = sngan_resnet(num_classes=10, z_dim=32, g_channels=16, d_channels=16)
    n_disc = len(list(model.discriminator.parameters()))

    def spy_step(self, *args, **kwargs):
        steps.append("D" if len(self.param_groups[0]["params"]) == n_disc else "G")
        return adam_step(self, *args, **kwargs)

    real_batch = RealStream.batch
    monkeypatch.setattr(torch.optim.Adam, "step", spy_step)
    monkeypatch.setattr(RealStream, "batch", lambda self, j, device="cpu": (batches.append(j), real_batch(self, j, device))[1])
    record = run_cell(gan_cell(tmp_path / "runs", gan_cifar, "module.n_dis=3"))
    assert record["status"] == "ok", record["error"]
    assert steps == ["D", "D", "D", "G"] * 6  # 2 evaluations x 3 generator steps
    assert batches == list(range(18))  # a fresh real batch for every discriminator step

    history = record["history"]
    assert [(h["step"], h["g_step"]) for h in history] == [(3, 3.0), (6, 6.0)]
    for h in history:
        assert {"val_fid", "test_fid", "g_loss", "d_loss", "train_loss", "time"} <= set(h)
        assert h["val_fid"] > 0 and h["test_fid"] > 0 and math.isfinite(h["d_loss"])
    assert record["metric"]["name"] == "fid" and record["metric"]["mode"] == "min" and record["metric"]["unit"] == "FID"
    assert record["extras"]["gan"]["fid_extractor"] == "random_conv-64-s0"
    cell = tmp_path / "runs" / "gan_small" / record["cell_id"]
    ckpt = torch.load(cell / "last.ckpt", weights_only=False)
    assert len(ckpt["optimizer_states"]) == 2 and ckpt["gan"]["g_step"] == 6
    assert {k.split(".")[1] for k in ckpt["state_dict"]} == {"generator", "discriminator"}
    assert (cell / "samples.png").stat().st_size > 0


def test_killed_cell_resumes_to_the_history_of_an_uninterrupted_one(tmp_path: Path, gan_cifar: Path,
                                                                     monkeypatch) -> None:
    fresh = run_cell(gan_cell(tmp_path / "fresh", gan_cifar, "max_steps=9"))
    assert fresh["status"] == "ok", fresh["error"]

    original = gan_module.GANModule.training_step

    def crash_between_evaluations(self, stream, batch_idx):
        if self.g_step == 7:  # inside the third evaluation interval (steps 7..9)
            raise RuntimeError("simulated kill")
        return original(self, stream, batch_idx)

    monkeypatch.setattr(gan_module.GANModule, "training_step", crash_between_evaluations)
    crashed = run_cell(gan_cell(tmp_path / "runs", gan_cifar, "max_steps=9"))
    assert crashed["status"] == "failed" and len(crashed["history"]) == 2
    monkeypatch.setattr(gan_module.GANModule, "training_step", original)

    resumed = run_cell(gan_cell(tmp_path / "runs", gan_cifar, "max_steps=9"))
    assert resumed["status"] == "ok" and resumed["resumed_from"].endswith("last.ckpt")
    assert [h["step"] for h in fresh["history"]] == [3, 6, 9]
    assert _strip(resumed["history"]) == _strip(fresh["history"])  # FID, losses: bit for bit


def test_non_finite_loss_ends_the_cell_as_diverged(tmp_path: Path, gan_cifar: Path, monkeypatch) -> None:
    monkeypatch.setattr(gan_module, "hinge_g_loss", lambda logits: logits.mean() * float("nan"))
    record = run_cell(gan_cell(tmp_path / "runs", gan_cifar))
    assert record["status"] == "diverged" and record["history"] == []
    assert "GAN losses (d, g) became non-finite" in record["error"]


def test_evaluation_noise_is_fixed_by_the_seed(tmp_path: Path, gan_cifar: Path) -> None:
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    def module(seed: int):
        cfg = OmegaConf.to_container(gan_cell(tmp_path, gan_cifar, f"seed={seed}"), resolve=True)
        model = instantiate({k: v for k, v in cfg["model"].items() if k != "name"})
        return instantiate(cfg["module"], model=model, optimizer_factory=None)

    (z0, y0), (z0b, y0b), (z1, _) = module(0).eval_latents(), module(0).eval_latents(), module(1).eval_latents()
    assert z0.shape == (64, 32) and torch.equal(z0, z0b) and torch.equal(y0, y0b) and not torch.equal(z0, z1)


def test_table2_smoke_cell_runs_through_the_cli_and_renders_beside_the_paper(
        tmp_path: Path, gan_cifar: Path, capsys) -> None:
    runs = tmp_path / "runs"
    code = run_bench("experiment=adamomentum_table2", "optimizer=adamomentum", "seed=0", "+smoke=true",
                     f"paths.runs={runs}", f"paths.data={gan_cifar}", f"paths.fid_cache={tmp_path}/fid",
                     "dataset.verify_md5=false", "dataset.batch_size=4", "module.fid.extractor=random_conv",
                     "module.fid.samples=16", "model.g_channels=32", "model.d_channels=32")  # CPU-sized widths
    assert code == 0
    from results.__main__ import main as results_main

    capsys.readouterr()
    assert results_main(["table", "adamomentum_table2", "--runs", str(runs), "--smoke"]) == 0
    table = capsys.readouterr().out
    assert "12.06" in table and "49.70" in table  # the published row
    row = next(line for line in table.splitlines() if line.startswith("| FID |"))
    cells = [c.strip() for c in row.strip("|").split("|")][1:]
    assert len(cells) == 7 and all(c.startswith("— / ") for c in cells[:6])  # six optimizers not run
    ours, published = cells[6].split(" / ")
    ours = ours.rstrip("†*")  # † marks fewer seeds than the recipe's five
    assert float(ours) > 0 and published.startswith("12.06 ± 0.21")
    assert "best training-split FID" in table  # the layout's note: which evaluation is reported

    import json
    (record,) = [json.loads(p.read_text()) for p in runs.glob("adamomentum_table2/*/record.json")]
    best = min(record["history"], key=lambda h: h["val_fid"])
    assert float(ours) == pytest.approx(best["test_fid"], abs=0.006)  # printed with 2 decimals
    assert results_main(["table", "adamomentum_table2", "--runs", str(runs), "--at", "final", "--smoke"]) == 0
    final_row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| FID |"))
    final = float(final_row.strip("|").split("|")[-1].split(" / ")[0].strip().rstrip("†*"))
    assert final == pytest.approx(record["history"][-1]["test_fid"], abs=0.006)


def test_per_role_overrides_reach_each_optimizer(tmp_path: Path, gan_cifar: Path, monkeypatch) -> None:
    built: dict[str, dict] = {}
    original = gan_module.GANModule.configure_optimizers

    def spy(self):
        out = original(self)
        opt_g, opt_d = out[0] if isinstance(out, tuple) else out  # ([g, d], [schedules]) or [g, d]
        built.update(generator=opt_g.param_groups[0], discriminator=opt_d.param_groups[0])
        return out

    monkeypatch.setattr(gan_module.GANModule, "configure_optimizers", spy)
    record = run_cell(gan_cell(tmp_path / "runs", gan_cifar, "max_steps=1", "eval_every=1",
                               "+optimizer_overrides.adam.discriminator.betas=[0.0,0.9]"))
    assert record["status"] == "ok", record["error"]
    assert built["discriminator"]["betas"] == (0.0, 0.9) and built["generator"]["betas"] == (0.5, 0.999)


def test_missing_inception_weights_are_a_plan_time_error(tmp_path: Path, gan_cifar: Path, capsys) -> None:
    weights = tmp_path / "nowhere" / "weights-inception-2015-12-05-6726825d.pth"
    runs = tmp_path / "runs"
    code = run_bench("experiment=adamomentum_table2", "optimizer=adam", "seed=0", f"paths.runs={runs}",
                     f"paths.data={gan_cifar}", f"paths.fid_weights={weights}", "dataset.verify_md5=false")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not runs.exists()  # before any cell: nothing written
    assert err[-1].startswith(f"bench: error: FID Inception weights not found at '{weights}'")
    assert "paths.fid_weights=FILE" in err[-1] and "torch-fidelity" in err[-1]


def test_missing_inception_weights_also_fail_a_cell_run_directly(tmp_path: Path, gan_cifar: Path) -> None:
    """``run_cell`` without the planner's preflight: the module's constructor gives the same message."""
    weights = tmp_path / "nowhere" / "weights-inception-2015-12-05-6726825d.pth"
    cfg = gan_cell(tmp_path / "runs", gan_cifar, "module.fid.extractor=inception", f"paths.fid_weights={weights}")
    record = run_cell(cfg)
    assert record["status"] == "failed" and record["history"] == []
    assert f"FID Inception weights not found at '{weights}'" in record["error"]
    assert "paths.fid_weights=FILE" in record["error"]
