"""Plan-time preflight: what cannot start on this machine stops the launch before any record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.preflight import check_runs_dir, remote_launcher
from tasks.vision.cifar import CIFARDataModule
from tasks.vision.cifar_format import write_cifar
from tasks.vision.imagenet import ImageNetDataModule
from tests.conftest import run_bench
from tests.harness.test_bad_input import tree

CELL = ("optimizer=sgd", "lr=0.1", "epochs=1")


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: error: "), out.err
    assert "Traceback" not in out.err + out.out
    return lines[0]


def test_runs_path_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    assert run_bench(*CELL, f"paths.runs={afile}") == 2
    line = _one_error_line(capsys)
    assert f"paths.runs={afile}" in line and "not a directory" in line
    assert run_bench(*CELL, f"paths.runs={afile}/sub") == 2
    assert "not a directory" in _one_error_line(capsys)
    assert afile.read_text() == "mine\n" and sorted(tmp_path.iterdir()) == [afile]
    # --dry-run reports it as a warning and writes nothing either
    assert run_bench(*CELL, f"paths.runs={afile}/sub", "--dry-run") == 0
    assert "bench: warning: paths.runs=" in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == [afile]


def test_runs_path_that_cannot_be_written(tmp_path: Path) -> None:
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        problem = check_runs_dir(locked / "runs", probe=True)
        if problem is None:  # root ignores permission bits; the probe then really could write
            assert (locked / "runs").is_dir() and not list((locked / "runs").iterdir())
        else:
            assert "cannot write there" in problem and str(locked / "runs") in problem
    finally:
        locked.chmod(0o700)
    assert check_runs_dir(tmp_path / "new" / "runs", probe=False) is None
    assert not (tmp_path / "new").exists()  # the dry-run check only looks
    assert check_runs_dir(tmp_path / "new" / "runs", probe=True) is None
    assert (tmp_path / "new" / "runs").is_dir() and not list((tmp_path / "new" / "runs").iterdir())  # probe removed


def test_gpu_trainer_on_a_machine_without_gpu(runs: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert run_bench(*CELL, "trainer=gpu", f"paths.runs={runs}") == 2
    line = _one_error_line(capsys)
    assert "trainer.accelerator=gpu" in line and "no CUDA GPU" in line and "trainer=cpu" in line
    assert tree(runs) == {}
    # a SLURM launch runs its cells elsewhere: neither accelerator nor data are checked here, and it says so
    assert run_bench(*CELL, "trainer=gpu", "dataset=cifar10", "model=resnet18", "paths.data=/nonexistent",
                     "hydra/launcher=slurm", f"paths.runs={runs}", "--dry-run") == 0
    err = capsys.readouterr().err
    assert "bench: note: hydra/launcher=slurm runs the cells on other machines" in err
    assert "error" not in err and "warning" not in err
    assert remote_launcher(["hydra/launcher=submitit_slurm"]) == "submitit_slurm"
    assert remote_launcher(["hydra/launcher=local"]) is None


def test_a_failed_preflight_creates_no_runs_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench("dataset=cifar10", "paths.data=/nonexistent", *CELL, f"paths.runs={tmp_path}/new/runs") == 2
    assert "CIFAR-10 not found" in _one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_dry_run_prints_the_preflight_problems_as_warnings(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench("dataset=cifar10", "model=resnet18", "paths.data=/nonexistent", "optimizer=sgd",
                     f"paths.runs={runs}", "--dry-run") == 0
    out = capsys.readouterr()
    warnings = [line for line in out.err.splitlines() if line.startswith("bench: warning: ")]
    assert len(warnings) == 1 and "CIFAR-10 not found" in warnings[0], out.err
    assert "nothing launched" in out.out
    assert tree(runs) == {}


def test_milestone_past_the_budget_warns_but_runs(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench(*CELL, "schedule=multistep", "schedule.milestones=[1,3]", f"paths.runs={runs}") == 0
    err = capsys.readouterr().err
    assert "bench: warning: schedule.milestones [1, 3] (schedule=multistep) are at or past the budget of 1 epochs" in err


def test_record_from_a_newer_optbench_is_never_overwritten(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench(*CELL, f"paths.runs={runs}", "--dry-run") == 0
    [cell_dir] = [Path(tok) for tok in capsys.readouterr().out.split() if tok.startswith(f"{runs}/default/")]
    cell_dir.mkdir(parents=True)
    (cell_dir / "record.json").write_text(json.dumps({"schema_version": 99, "status": "ok", "future": [1, 2]}))
    before = tree(runs)
    assert run_bench(*CELL, f"paths.runs={runs}") == 2
    line = _one_error_line(capsys)
    assert "schema_version 99 is newer than this optbench writes (1)" in line and "never overwritten" in line
    assert tree(runs) == before
    # the runner itself refuses too (a job started without the CLI's preflight)
    from omegaconf import OmegaConf

    from bench.cell import run_cell
    from bench.plan import plan_cells

    planned = plan_cells([*CELL, f"paths.runs={runs}"])
    entry = {"config": OmegaConf.to_container(planned.configs[0]), "run_dir": str(planned.run_dirs[0])}
    assert run_cell(planned.configs[0], planned=entry) == {}
    assert tree(runs) == before


# --- the data objects' own preflight ----------------------------------------------------------
def _tiny_cifar(root: Path) -> Path:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(20) % 10
    write_cifar(root, "cifar10", images, labels, images[:10], labels[:10])
    return root / "cifar-10-batches-py"


def test_cifar_preflight_checks_presence_and_headers(tmp_path: Path) -> None:
    data = CIFARDataModule(data_dir=str(tmp_path), variant="cifar10")
    [missing] = data.preflight()
    assert "CIFAR-10 not found" in missing and str(tmp_path / "cifar-10-batches-py") in missing
    assert CIFARDataModule(data_dir=str(tmp_path), download=True).preflight() == []  # prepare_data fetches it
    folder = _tiny_cifar(tmp_path)
    assert data.preflight() == []
    (folder / "data_batch_3").unlink()
    [incomplete] = data.preflight()
    assert "incomplete" in incomplete and "data_batch_3" in incomplete
    _tiny_cifar(tmp_path)
    (folder / "test_batch").write_bytes(b"<html>not a pickle</html>")
    [corrupt] = data.preflight()
    assert "test_batch" in corrupt and "not a pickled CIFAR batch" in corrupt


def test_imagenet_preflight(tmp_path: Path) -> None:
    data = ImageNetDataModule(data_dir=str(tmp_path / "imagenet"))
    [missing] = data.preflight()
    assert "ImageNet not found" in missing and str(tmp_path / "imagenet" / "train") in missing
    for split in ("train", "val"):
        (tmp_path / "imagenet" / split).mkdir(parents=True)
    [empty] = data.preflight()
    assert "no class folders" in empty
    for split in ("train", "val"):
        (tmp_path / "imagenet" / split / "n01440764").mkdir()
    assert data.preflight() == []
