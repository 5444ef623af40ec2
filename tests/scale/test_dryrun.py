"""``--dry-run``: the cell list, its count, what is finished, a GPU-hour estimate; nothing launched."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from bench.record import SCHEMA_VERSION, write_record
from tests.conftest import REPO, run_bench

CONF = REPO / "conf"


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def _lr_grid(optimizer: str, experiment: dict, model_name: str = "") -> list:
    grids = experiment.get("lr_grids") or {}
    if optimizer not in grids:
        return _yaml(CONF / "optimizer" / f"{optimizer}.yaml")["lr_grid"]
    # a per-model grid (`${lr_grids.by_model.${model.name}.adam}`, the PTB recipes) resolves by model name
    return list(OmegaConf.create({"lr_grids": grids, "model": {"name": model_name}}).lr_grids[optimizer])


def _expected_cells(experiment: dict) -> list[dict]:
    """Every cell's coordinates, read from the YAML files directly: the swept groups
    (``{group: choice}``), ``lr``, ``seed``, and the model/dataset names for the cost table."""
    defaults = {}
    for entry in _yaml(CONF / "config.yaml")["defaults"] + experiment.get("defaults", []):
        if isinstance(entry, dict):
            for key, value in entry.items():
                defaults[key.replace("override /", "")] = value
    sweep = experiment.get("sweep") or {}
    axes = {group: sweep.get(group, [defaults[group]]) for group in ("optimizer", "model", "dataset")}
    extra = {key: values for key, values in sweep.items() if key not in axes}  # e.g. optimizer.partial
    cells = []
    for opt, model, data in itertools.product(axes["optimizer"], axes["model"], axes["dataset"]):
        names = {"model_name": _yaml(CONF / "model" / f"{model}.yaml")["name"],
                 "dataset_name": _yaml(CONF / "dataset" / f"{data}.yaml")["name"]}
        for combo in itertools.product(*extra.values()):
            swept = {g: v for g, v in (("optimizer", opt), ("model", model), ("dataset", data)) if g in sweep}
            swept.update(zip(extra, combo))
            for lr in _lr_grid(opt, experiment, names["model_name"]):
                for seed in experiment.get("seeds", [0]):
                    cells.append({"swept": swept, "lr": float(lr), "seed": seed, **names})
    return cells


def _costs() -> dict:
    return _yaml(CONF / "costs.yaml")


def _per_epoch(model: str, dataset: str) -> float:
    costs = _costs()
    return costs["pairs"].get(f"{model}/{dataset}", costs["datasets"].get(dataset, costs["default_s"]))


def _summary(out: str) -> tuple[int, int, float, float]:
    count, finished = map(int, re.search(r"dry run: (\d+) cell\(s\), (\d+) already finished", out).groups())
    todo, total = map(float, re.search(r"estimate: ([\d.]+) GPU-hours to run \(([\d.]+) for the whole", out).groups())
    return count, finished, todo, total


PAPER_EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml") if _yaml(p).get("reproduces"))
# quickstart and two paper experiments in the fast run, every other paper experiment when slow
EXPERIMENTS = ["quickstart", *PAPER_EXPERIMENTS[:2],
               *(pytest.param(name, marks=pytest.mark.slow) for name in PAPER_EXPERIMENTS[2:])]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_dry_run_counts_the_cells_of_an_experiment(name: str, runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    experiment = _yaml(CONF / "experiment" / f"{name}.yaml")
    expected = _expected_cells(experiment)
    assert run_bench(f"experiment={name}", f"paths.runs={runs}", "--dry-run") == 0
    out = capsys.readouterr().out
    count, finished, todo, total = _summary(out)
    assert (count, finished) == (len(expected), 0)
    epochs = experiment.get("epochs", _yaml(CONF / "config.yaml")["epochs"])
    if experiment.get("max_steps"):  # a step budget is priced per evaluation interval
        epochs = -(-experiment["max_steps"] // experiment.get("eval_every", 1))
    hours = sum(epochs * _per_epoch(c["model_name"], c["dataset_name"]) for c in expected) / 3600
    assert total == pytest.approx(hours, abs=0.006) and todo == total
    listed = [set(line.split()) for line in out.splitlines() if line.startswith("new ")]
    assert len(listed) == len(expected)
    for cell in expected:  # every expected cell is listed exactly once
        needles = {f"{g}={v}" for g, v in cell["swept"].items()} | {f"lr={cell['lr']!r}", f"seed={cell['seed']}"}
        assert sum(needles <= tokens for tokens in listed) == 1, cell
    assert not runs.exists() or not any(runs.iterdir())  # nothing launched, nothing written


def test_dry_run_of_a_widened_sweep_and_finished_cells(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("experiment=quickstart", "sweep.optimizer=[sgd,adam]", "seeds=[0,1,2]", "epochs=7", f"paths.runs={runs}")
    expected = sum(len(_lr_grid(o, {})) for o in ("sgd", "adam")) * 3
    assert run_bench(*args, "--dry-run") == 0
    out = capsys.readouterr().out
    assert _summary(out)[:2] == (expected, 0)
    # mark one cell finished and one half-done, the way a run leaves them
    dirs = [Path(tok) for tok in out.split() if tok.startswith(f"{runs}/quickstart/")]
    assert len(dirs) == expected
    for run_dir, status, done in ((dirs[0], "ok", 7), (dirs[1], "running", 3)):
        write_record(run_dir, {"schema_version": SCHEMA_VERSION, "status": status,
                               "history": [{"epoch": e} for e in range(done)]})
    assert run_bench(*args, "--dry-run") == 0
    count, finished, todo, total = _summary(capsys.readouterr().out)
    per_epoch = _per_epoch("mlp", "digits")
    assert (count, finished) == (expected, 1)
    assert total == pytest.approx(expected * 7 * per_epoch / 3600, abs=0.006)
    assert todo == pytest.approx(((expected - 1) * 7 - 3) * per_epoch / 3600, abs=0.006)


def test_dry_run_rejects_bad_input_like_a_launch(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench("optimizer=nope", f"paths.runs={runs}", "--dry-run") == 2
    assert "optimizer=nope: unknown optimizer" in capsys.readouterr().err
