"""``python -m bench.perf data`` runs on a synthetic CIFAR in the real format and reports ratios."""

from __future__ import annotations

import json
from pathlib import Path

from bench.perf import data


def test_perf_data_reports_both_paths_as_a_ratio(tmp_path: Path, capsys) -> None:
    out = tmp_path / "perf.json"
    data.main(["--images", "600", "--repeats", "1", "--workers", "0", "--batch-size", "64", "--train-steps", "2", "--train-batch-size", "8", "--json", str(out)])
    result = json.loads(out.read_text())
    rates = result["images_per_s"]
    assert {"torchvision", "tensor-cpu"} <= set(rates) and all(v > 0 for v in rates.values())
    assert result["ratio_vs_torchvision"]["tensor-cpu"] == rates["tensor-cpu"] / rates["torchvision"]
    assert "tensor-cpu" in capsys.readouterr().out
    train = result["resnet18_train"]
    assert train["steps"] == 2 and train["images_per_s"] > 0 and train["seconds_per_50k_epoch"] == 50000 / train["images_per_s"]


def test_runner_workload_overrides_point_at_the_synthetic_data(tmp_path: Path) -> None:
    overrides = data.runner_workload_overrides(tmp_path)
    assert f"paths.data={tmp_path}" in overrides and "dataset.verify_md5=false" in overrides and "model=resnet18" in overrides
