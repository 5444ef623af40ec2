"""rame_coco's settings against the RAME paper (Sec. VI-A, VI-D) and the cited DSB2018 code."""

from __future__ import annotations

from pathlib import Path

from bench.config import finalize
from bench.plan import plan_cells

GRID = [0.1, 0.01, 0.001, 0.0001, 0.00001]


def test_rame_coco_cells_are_the_papers(tmp_path: Path) -> None:
    planned = plan_cells(["experiment=rame_coco", f"paths.runs={tmp_path}"])
    cfgs = [finalize(c) for c in planned.configs]
    assert len(cfgs) == 4 * 5  # SHB, Adam, RAME q=1/8, RAME q=1/4 x five lrs
    by_opt: dict[str, list[float]] = {}
    for cfg in cfgs:
        by_opt.setdefault(cfg.optimizer.name, []).append(float(cfg.lr))
        assert cfg.epochs == 50 and cfg.reproduces.table == "fig3"
        assert (cfg.dataset.name, cfg.dataset.batch_size, cfg.dataset.crop_size) == ("coco_person", 16, 224)
        assert cfg.dataset.selection == "balanced" and cfg.dataset.data_dir.endswith("/coco")
        assert (cfg.model.name, cfg.model.encoder, cfg.model.classes) == ("fpn_resnet152", "resnet152", 1)
        assert cfg.module._target_ == "tasks.segmentation.module.SegmentationModule"
        assert (cfg.schedule.name, cfg.schedule.decay, cfg.schedule.interval) == ("inverse_time", 1e-4, "step")
        assert cfg.eval_test_every_epoch is False
    assert {k: sorted(v, reverse=True) for k, v in by_opt.items()} == {o: GRID for o in ("shb", "adam", "rame_q0125", "rame")}
    opts = {c.optimizer.name: c.optimizer for c in cfgs}
    assert opts["shb"]._target_ == "optimizers.SHB" and opts["shb"].momentum == 0.9  # the paper's heavy ball
    assert list(opts["adam"].betas) == [0.9, 0.999] and opts["adam"].eps == 1e-7
    assert (opts["rame"].q, opts["rame_q0125"].q) == (0.25, 0.125)
    assert all((opts[r].beta, opts[r].eta, opts[r].xi) == (0.9, 1.0, 0.0) for r in ("rame", "rame_q0125"))
    assert all(c.optimizer.weight_decay == 0.0 for c in cfgs)
