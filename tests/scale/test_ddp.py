"""Multi-process cells: global batch semantics, sharding, and trainer=ddp_cpu == one process."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from bench.config import ConfigError
from bench.distributed import per_device_batch_size
from tasks.synthetic import SyntheticDataModule
from tasks.tensor_loader import TensorLoader
from tests.conftest import records, run_bench
from tests.scale.helpers import start_bench

# 1797 digits - 359 val - 414 test = 1024 training samples = 16 global batches of 64, so every
# step of the 2-process run sees exactly the samples of the 1-process step (no padded epoch).
EXACT_SPLIT = ("dataset.test_fraction=0.2304", "dataset.batch_size=64")
CELL = ("optimizer=adam", "lr=0.003", "epochs=3", *EXACT_SPLIT)


def test_batch_size_is_global_and_must_divide() -> None:
    assert per_device_batch_size(128, 8) == 16
    assert per_device_batch_size(64, 1) == 64
    with pytest.raises(ConfigError, match="dataset.batch_size=100 is the global batch .* 8 data-parallel"):
        per_device_batch_size(100, 8)


def test_training_shards_split_each_global_batch() -> None:
    n, world, global_batch = 40, 2, 8
    x = torch.arange(n)
    single = list(TensorLoader(x, batch_size=global_batch, shuffle=True, seed=3))
    ranks = [TensorLoader(x, batch_size=global_batch // world, shuffle=True, seed=3, rank=r, world_size=world, pad=True)
             for r in range(world)]
    per_rank = [list(loader) for loader in ranks]
    assert [len(b) for b in per_rank] == [len(single)] * world
    for step, (batch,) in enumerate(single):
        union = torch.cat([per_rank[r][step][0] for r in range(world)])
        assert sorted(union.tolist()) == sorted(batch.tolist())


def test_evaluation_shards_count_every_sample_once() -> None:
    x = torch.arange(11)  # not a multiple of the world size
    shards = [TensorLoader(x, batch_size=4, rank=r, world_size=3, pad=False) for r in range(3)]
    seen = [int(v) for loader in shards for (batch,) in loader for v in batch]
    assert sorted(seen) == list(range(11))
    # the training shards of the same data pad by wrapping instead (equal steps per rank)
    padded = [TensorLoader(x, batch_size=4, rank=r, world_size=3, pad=True) for r in range(3)]
    assert [len(list(p)) for p in padded] == [1, 1, 1] and sum(p.num_samples for p in padded) == 12


def test_data_modules_shard_their_own_loaders_by_the_trainers_rank() -> None:
    """The data object reads rank and world size from its trainer (no harness mutation)."""
    def shard(split: str, rank: int, world: int) -> list[int]:
        data = SyntheticDataModule(sample_shape=(1,), num_samples=110, batch_size=8)
        data.trainer = SimpleNamespace(global_rank=rank, world_size=world)
        return [i for x, _ in data.split_loader(split) for i in x.flatten().tolist()]

    for split in ("val", "test"):  # 11 samples each: every one on exactly one of 3 ranks
        whole = shard(split, 0, 1)
        parts = [shard(split, r, 3) for r in range(3)]
        assert sorted(v for p in parts for v in p) == sorted(whole) and len(whole) == 11
    train = [shard("train", r, 3) for r in range(3)]  # 88 samples padded to 90: equal steps
    assert [len(t) for t in train] == [30, 30, 30]
    assert set().union(*map(set, train)) == set(shard("train", 0, 1))


def test_ddp_cpu_equals_one_process_with_the_same_global_batch(tmp_path: Path) -> None:
    ddp_runs, one_runs = tmp_path / "ddp", tmp_path / "one"
    log = tmp_path / "ddp.log"
    proc = start_bench(*CELL, "trainer=ddp_cpu", f"paths.runs={ddp_runs}", log=log)
    assert run_bench(*CELL, f"paths.runs={one_runs}") == 0  # meanwhile, the 1-process run
    assert proc.wait(timeout=180) == 0, log.read_text()[-3000:]

    [ddp], [one] = records(ddp_runs), records(one_runs)
    assert ddp["cell_id"] == one["cell_id"]  # devices/strategy are not part of the identity
    assert ddp["status"] == "ok" and ddp["world_size"] == 2 and one["world_size"] == 1
    assert ddp["global_batch_size"] == one["global_batch_size"] == 64
    assert ddp["per_device_batch_size"] == 32 and one["per_device_batch_size"] == 64
    assert ddp["config"]["dataset"]["batch_size"] == 64
    assert [h["epoch"] for h in ddp["history"]] == [0, 1, 2]

    cell_dir = ddp_runs / "default" / ddp["cell_id"]
    weights = torch.load(cell_dir / "last.ckpt", weights_only=False)["state_dict"]
    reference = torch.load(one_runs / "default" / one["cell_id"] / "last.ckpt", weights_only=False)["state_dict"]
    assert weights.keys() == reference.keys()
    for name in weights:
        torch.testing.assert_close(weights[name], reference[name], rtol=1e-4, atol=1e-5, msg=name)
    for got, want in zip(ddp["history"], one["history"]):  # metrics reduced over both ranks
        for key in ("train_loss", "val_loss", "val_acc", "test_loss", "test_acc"):
            assert got[key] == pytest.approx(want[key], rel=1e-4), key

    # Only rank 0 wrote: one record, one checkpoint, no temporary files; rank 1 kept its Hydra
    # output inside rank 0's job directory.
    assert sorted(p.name for p in cell_dir.iterdir()) == [".lock", "last.ckpt", "metrics.csv", "record.json"]
    assert len(list((ddp_runs / "default" / "_hydra").iterdir())) == 1
    assert list((ddp_runs / "default" / "_hydra").glob("*/0/ranks/multirun.yaml"))
    assert log.read_text().count("- run    adam mlp/digits") == 2  # rank 0 and the rank it spawned


def test_tasks_with_unused_parameters_get_lightnings_finding_ddp_strategies() -> None:
    from bench.distributed import ddp_strategy

    assert ddp_strategy("ddp", True) == "ddp_find_unused_parameters_true"
    assert ddp_strategy("ddp_spawn", True) == "ddp_spawn_find_unused_parameters_true"
    for kept in ("ddp", "auto", "ddp_find_unused_parameters_false", None):
        assert ddp_strategy(kept, False) == kept
    assert ddp_strategy("auto", True) == "auto"  # one device: nothing to find
    assert ddp_strategy("ddp_find_unused_parameters_false", True) == "ddp_find_unused_parameters_false"  # explicit
