"""The SN-GAN cell under DDP (``trainer=ddp_cpu``: two processes, gloo)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from bench.config import build, build_data
from tasks.gan.module import shard_bounds
from tests.conftest import records
from tests.gan.conftest import TINY
from tests.scale.helpers import start_bench


def test_two_rank_cell_trains_and_records_the_fid_of_its_checkpoint(tmp_path: Path, gan_cifar: Path) -> None:
    """A D step leaves the generator without gradients and the G step freezes the discriminator.
    DDP's reducer waits for every parameter's gradient unless told to look for unused ones, so
    before ``Task.ddp_unused_parameters`` the first step after a D step failed ("parameters
    that were not used in producing the loss"). The recorded FID is then rank 0's, of the model
    ``last.ckpt`` holds: torchmetrics' cross-rank sync would mix in rank 1's samples (its own
    BatchNorm statistics) and count the real set twice."""
    runs, log = tmp_path / "runs", tmp_path / "ddp.log"
    proc = start_bench("experiment=gan_small", f"paths.runs={runs}", f"paths.data={gan_cifar}",
                       f"paths.fid_cache={runs}/fid_cache", "lr=0.0002", *TINY, "trainer=ddp_cpu", log=log)
    assert proc.wait(timeout=240) == 0, log.read_text()[-3000:]
    [record] = records(runs, "gan_small")
    assert record["status"] == "ok", str(record.get("error"))[-2000:]
    assert record["world_size"] == 2 and record["per_device_batch_size"] == 4  # global batch 8
    assert [h["g_step"] for h in record["history"]] == [3.0, 6.0]  # max_steps=6, an evaluation every 3
    assert all(math.isfinite(h["val_fid"]) and math.isfinite(h["test_fid"]) for h in record["history"])

    cfg = OmegaConf.create(record["config"])
    module = build(cfg.module, model=build(cfg.model), optimizer_factory=None)
    module.load_state_dict(torch.load(runs / "gan_small" / record["cell_id"] / "last.ckpt",
                                      weights_only=False)["state_dict"])
    module.eval()
    data = build_data(cfg)
    data.setup("fit")
    features = module.fid.features(module.generate(*module.eval_latents()))  # one process, the whole set
    last = record["history"][-1]
    assert module.fid.score(features, data.real["val"]) == pytest.approx(last["val_fid"], rel=1e-6)
    assert module.fid.score(features, data.real["test"]) == pytest.approx(last["test_fid"], rel=1e-6)


def test_evaluation_shards_are_contiguous_and_cover_every_sample_once() -> None:
    for n, world in ((64, 2), (10, 3), (2, 4), (1, 1)):
        bounds = [shard_bounds(n, world, r) for r in range(world)]
        assert [i for a, b in bounds for i in range(a, b)] == list(range(n))
        assert bounds[0][1] - bounds[0][0] == -(-n // world)  # rank 0's share is the largest
