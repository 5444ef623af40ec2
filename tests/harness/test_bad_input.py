"""Bad command lines end with one line on stderr, exit code 2, and no record touched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import records, run_bench

CASES = [
    # (override, words the message must contain)
    ("optimizer=nosuch", ["optimizer=nosuch", "choose one of", "adam", "sgd"]),
    ("task=nosuch", ["task=nosuch", "digits_mlp"]),
    ("model=nosuch", ["model=nosuch", "mlp"]),
    ("-m optimizer=sgd,nosuch", ["optimizer=nosuch"]),
    ("lr=-0.1", ["lr=-0.1", "> 0"]),
    ("lr=0", ["lr=0", "> 0"]),
    ("lr=nan", ["lr=nan", "finite"]),
    ("optimizer.lr_grid=[]", ["optimizer.lr_grid", "empty"]),
    ("+lr_grids.sgd=[]", ["lr_grids.sgd", "empty"]),
    ("optimizer.lr_grid=[0.1,-1]", ["optimizer.lr_grid", "-1"]),
    ("epochs=0", ["epochs=0", ">= 1"]),
    ("epochs=-3", ["epochs=-3", ">= 1"]),
    ("seeds=[]", ["seeds", "non-empty"]),
    ("nosuchkey=1", ["nosuchkey", "unknown config key"]),
    ("dataset.nosuchkey=1", ["dataset.nosuchkey", "unknown config key"]),
    ("dataset.batch_size=0", ["dataset.batch_size=0", ">= 1"]),
    ("optimizer=adam optimizer.betas=[0.9,1.5]", ["optimizer/adam", "beta"]),
    ("+optimizer_overrides.sgd.nosuch=1", ["optimizer_overrides.sgd.nosuch", "momentum"]),
    ("grad_clip=-1", ["grad_clip", "> 0"]),
    ("weight_decay=-0.1", ["weight_decay=-0.1", ">= 0"]),
    ("experiment=padam_table1 model=resnet99", ["model=resnet99", "resnet18"]),
    # an image model on the default flat digits vectors: caught at plan time, fitting datasets named
    ("optimizer=rame model=vgg16", ["model=vgg16", "dataset=digits", "[64]", "cifar10, cifar100, imagenet"]),
    ("model=resnet20 dataset=rosenbrock", ["model=resnet20", "dataset=rosenbrock", "cifar10"]),
    # schedules: every argument checked at plan time
    ("schedule=multistep schedule.milestones=[abc]", ["schedule.milestones=['abc']", "integers >= 1"]),
    ("schedule=multistep schedule.milestones=[0,5]", ["schedule.milestones", "integers >= 1"]),
    ("schedule=multistep schedule.milestones=[150,100]", ["schedule.milestones", "strictly increasing"]),
    ("schedule=multistep schedule.gamma=0", ["schedule.gamma=0", "(0, 1]"]),
    ("schedule=step schedule.gamma=1.5", ["schedule.gamma=1.5", "(0, 1]"]),
    ("schedule=step schedule.step_size=0", ["schedule.step_size=0", ">= 1"]),
    ("schedule=piecewise schedule.factors=[0.1,2,0.1,0.1]", ["schedule.factors", "(0, 1]"]),
    ("schedule=piecewise schedule.factors=[0.1]", ["schedule.factors", "one factor per milestone (4)"]),
    ("schedule=constant schedule.factor=-1", ["schedule.factor=-1", "(0, 1]"]),
    ("schedule=cosine schedule.eta_min=-1", ["schedule.eta_min=-1", ">= 0"]),
    ("+schedule.warmup_steps=-5", ["schedule.warmup_steps=-5", ">= 0"]),
    ("+schedule.warmup_steps=2.5", ["schedule.warmup_steps=2.5", "integer"]),
    ("schedule.interval=batch", ["schedule.interval='batch'", "epoch, step"]),
    # unknown options of any config group, Hydra's own included
    ("hydra/launcher=nosuch", ["hydra/launcher=nosuch", "choose one of", "basic", "local", "slurm"]),
    ("hydra/sweeper=nosuch", ["hydra/sweeper=nosuch", "choose one of", "optbench"]),
    ("hydra/nosuch=x", ["hydra/nosuch", "unknown config group"]),
    ("trainer=nosuch", ["trainer=nosuch", "choose one of", "cpu", "gpu"]),
    ("logger=nosuch", ["logger=nosuch", "csv", "wandb"]),
    ("schedule=nosuch", ["schedule=nosuch", "multistep", "cosine"]),
    # preflight: data files, before any cell (exit 2, not one failed record per cell)
    ("dataset=cifar10 model=resnet18 paths.data=/nonexistent",
     ["CIFAR-10 not found", "/nonexistent/cifar-10-batches-py", "paths.data=DIR", "dataset.download=true"]),
    ("dataset=cifar100 model=resnet18 paths.data=/nonexistent", ["CIFAR-100 not found", "/nonexistent/cifar-100-python"]),
    ("dataset=imagenet model=resnet18 paths.data=/nonexistent", ["ImageNet not found", "/nonexistent/imagenet/train",
                                                                 "image-net.org"]),
    ("experiment=padam_table1 +smoke=true paths.data=/nonexistent", ["CIFAR-10 not found", "/nonexistent"]),
]


def tree(root: Path) -> dict[Path, bytes | None]:
    """Every path under ``root`` with its bytes (``None`` for a directory)."""
    return {p: (p.read_bytes() if p.is_file() else None) for p in root.rglob("*")}


@pytest.fixture(scope="module")
def _finished_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("finished") / "runs"
    assert run_bench("optimizer=sgd", "lr=0.1", f"paths.runs={runs}", "epochs=1") == 0
    return runs


@pytest.fixture
def finished_cell(runs: Path, _finished_runs: Path) -> Path:
    """A runs tree holding one finished cell (trained once per module, copied per test)."""
    shutil.copytree(_finished_runs, runs, dirs_exist_ok=True)
    return next(runs.rglob("record.json"))


@pytest.mark.parametrize(("override", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_one_line_and_nothing_written(
    override: str, words: list[str], runs: Path, finished_cell: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree(runs)
    capsys.readouterr()
    rc = run_bench(*override.split(), f"paths.runs={runs}", "epochs=1" if "epochs" not in override else "seed=0")
    out = capsys.readouterr()
    assert rc == 2
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    assert lines[0].startswith("bench: error: ")
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in out.err + out.out
    assert tree(runs) == before  # byte-identical: no file or directory created, changed or removed
    assert len(records(runs)) == 1
