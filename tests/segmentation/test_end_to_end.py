"""A tiny rame_coco cell through ``python -m bench``: record, history keys, encoder warning."""

from __future__ import annotations

import math
from pathlib import Path

from tests.conftest import records, run_bench

TINY = ["model.encoder=resnet18", "dataset.crop_size=32", "dataset.input_shape=[3,32,32]", "dataset.eval_size=64",
        "dataset.batch_size=4", "dataset.eval_batch_size=2", "dataset.num_workers=0"]


def test_rame_coco_cell_runs_and_records_iou(coco_root: Path, runs: Path, tmp_path: Path) -> None:
    code = run_bench("experiment=rame_coco", "optimizer=rame", "lr=0.0001", "epochs=2", *TINY,
                     f"dataset.data_dir={coco_root}", f"dataset.cache_dir={tmp_path / 'cache'}", f"paths.runs={runs}")
    assert code == 0
    [record] = records(runs, "rame_coco")
    assert record["status"] == "ok", record["error"]
    assert record["metric"]["name"] == "iou" and record["metric"]["mode"] == "max"
    assert [h["epoch"] for h in record["history"]] == [0, 1]
    for row in record["history"]:
        assert math.isfinite(row["train_loss"]) and math.isfinite(row["val_loss"]) and 0.0 <= row["val_iou"] <= 1.0
        assert not any(k.startswith("test_") for k in row)
    assert "randomly initialised" in record["extras"]["warning"]
    assert record["config"]["schedule"]["name"] == "inverse_time"
    assert record["identity"]["model"] == "fpn_resnet152"  # the name stays the recipe's; the encoder key says resnet18
    assert (tmp_path / "cache" / "masks" / "val2017").is_dir()


def test_missing_coco_is_a_plan_time_error_naming_path_and_source(runs: Path, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nothing"
    code = run_bench("experiment=rame_coco", "optimizer=adam", "lr=0.001", "epochs=1", *TINY,
                     f"dataset.data_dir={missing}", "dataset.cache_dir=null", f"paths.runs={runs}")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert f"COCO-2017 not found: no folder '{missing}'" in err[0] and "cocodataset.org" in err[0]
    assert not (runs / "rame_coco").exists()  # nothing ran, nothing was written
