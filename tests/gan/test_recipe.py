"""adamomentum_table2 and gan_small as the planner expands them: cells and per-optimizer settings."""

from __future__ import annotations

from bench.plan import plan_cells


def test_table2_plans_35_cells_with_the_reference_settings(tmp_path) -> None:
    planned = plan_cells(["experiment=adamomentum_table2", f"paths.runs={tmp_path}"])
    from bench.config import finalize

    cfgs = [finalize(c) for c in planned.configs]
    assert len(cfgs) == 35
    by_opt: dict[str, list] = {}
    for cfg in cfgs:
        by_opt.setdefault(cfg.optimizer.name, []).append(cfg)
        assert cfg.lr == 2e-4 and cfg.model.name == "sngan_resnet" and cfg.dataset.name == "cifar10"
        assert cfg.max_steps == 100_000 and cfg.eval_every == 2000 and cfg.dataset.steps_per_epoch is None
        assert cfg.trainer.precision == "32-true"
        assert cfg.dataset.batch_size == 64 and cfg.module.n_dis == 5 and cfg.model.conditional
        assert cfg.module.fid.extractor == "inception" and cfg.module.fid.samples == 10_000
        assert cfg.optimizer.weight_decay == 0.0
    assert {k: sorted(c.seed for c in v) for k, v in by_opt.items()} == {
        k: [0, 1, 2, 3, 4] for k in ("sgd", "adam", "yogi", "adabound", "radam", "adabelief", "adamomentum")}
    opt = {k: v[0].optimizer for k, v in by_opt.items()}
    for cfg in cfgs:  # both roles built from the same settings (the reference's G and D optimizers)
        assert cfg.optimizer_roles.generator == cfg.optimizer_roles.discriminator
    assert list(opt["adam"].betas) == [0.5, 0.999] and opt["adam"].eps == 1e-6  # StudioGAN load_framework.py
    assert list(opt["adabelief"].betas) == [0.5, 0.999] and opt["adabelief"].eps == 1e-12
    assert opt["adabelief"].rectify is False  # the SNGAN-AdaBelief fork's code
    assert list(opt["adamomentum"].betas) == [0.9, 0.999] and opt["adamomentum"].eps == 1e-8  # paper: defaults
    assert opt["sgd"].momentum == 0.9
    for name in ("yogi", "adabound", "radam"):
        assert list(opt[name].betas) == [0.5, 0.999]

    import io

    from bench.dryrun import report  # what `python -m bench ... --dry-run` prints for these planned cells

    out = io.StringIO()
    assert report(planned, ["experiment=adamomentum_table2", "--dry-run"], out) == 0
    lines = out.getvalue().splitlines()
    assert "bench: dry run: 35 cell(s), 0 already finished, 35 to run" in lines
    assert sum("optimizer=adabelief" in line and "lr=0.0002" in line for line in lines) == 5
    assert "no cost entry" not in out.getvalue()  # sngan_resnet/cifar10 is in costs.yaml


def test_gan_small_is_cpu_sized() -> None:
    planned = plan_cells(["experiment=gan_small", "optimizer=adamomentum"])
    (cfg,) = planned.configs
    assert cfg.model.name == "sngan_tiny" and cfg.module.fid.extractor == "random_conv"
    assert cfg.max_steps == 200 and cfg.eval_every == 50 and cfg.trainer.accelerator == "cpu"
