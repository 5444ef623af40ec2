"""Bad command lines end with one line on stderr, exit code 2, and no record touched."""

from __future__ import annotations

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
]


@pytest.fixture
def finished_cell(runs: Path) -> Path:
    assert run_bench("optimizer=sgd", "lr=0.1", f"paths.runs={runs}", "epochs=1") == 0
    return next(runs.rglob("record.json"))


@pytest.mark.parametrize(("override", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_one_line_and_nothing_written(
    override: str, words: list[str], runs: Path, finished_cell: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p: p.read_bytes() for p in runs.rglob("*") if p.is_file() and "_hydra" not in p.parts}
    capsys.readouterr()
    rc = run_bench(*override.split(), f"paths.runs={runs}", "epochs=1" if "epochs" not in override else "seed=0")
    out = capsys.readouterr()
    assert rc == 2
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    assert lines[0].startswith("bench: error: ")
    for word in words:
        assert word in lines[0], (word, lines[0])
    after = {p: p.read_bytes() for p in runs.rglob("*") if p.is_file() and "_hydra" not in p.parts}
    assert after == before
    assert len(records(runs)) == 1
