"""Every optimizer composes with every task preset and dataset into valid, distinct cells."""

from __future__ import annotations

import itertools

import pytest

from bench.plan import group_options, plan_cells

OPTIMIZERS = group_options("optimizer")
TASKS = group_options("task")


def test_groups_are_populated() -> None:
    assert {"sgd", "adam", "adamw", "amsgrad", "rmsprop", "nadam", "radam"} <= set(OPTIMIZERS)
    assert "digits_mlp" in TASKS


@pytest.mark.parametrize(("optimizer", "task"), list(itertools.product(OPTIMIZERS, TASKS)))
def test_optimizer_task_pair_composes(optimizer: str, task: str, tmp_path) -> None:
    planned = plan_cells([f"optimizer={optimizer}", f"task={task}", f"paths.runs={tmp_path}"])
    # One cell per lr of the optimizer's grid (seeds=[0]); ids are distinct.
    assert len(planned.cells) >= 1
    assert len(set(planned.run_dirs)) == len(planned.cells)
    for cell in planned.cells:
        assert any(o.startswith("lr=") for o in cell) and any(o.startswith("seed=") for o in cell)
    assert all(d.name.startswith(f"{optimizer}_") for d in planned.run_dirs)


def test_identity_ignores_paths_and_logger(tmp_path) -> None:
    a = plan_cells(["lr=0.1", f"paths.runs={tmp_path}", "logger=csv"]).run_dirs[0].name
    b = plan_cells(["lr=0.1", f"paths.runs={tmp_path}/other", "logger=none", "paths.data=/elsewhere"]).run_dirs[0].name
    c = plan_cells(["lr=0.1", f"paths.runs={tmp_path}", "epochs=7"]).run_dirs[0].name
    assert a == b
    assert a != c  # epochs change the result, so the identity


def test_identity_ignores_where_the_data_is_mounted(tmp_path) -> None:
    """dataset.data_dir is ${paths.data}/...: moving the data set does not rename the cells."""
    cell = ["lr=0.1", "model=resnet18", "dataset=cifar10", f"paths.runs={tmp_path}"]
    a = plan_cells([*cell, "paths.data=/mnt/a"])
    b = plan_cells([*cell, "paths.data=/scratch/b"])
    assert a.configs[0].dataset.data_dir != b.configs[0].dataset.data_dir
    assert a.run_dirs[0].name == b.run_dirs[0].name
    other = plan_cells([*cell, "paths.data=/mnt/a", "dataset.val_size=4000"])
    assert other.run_dirs[0].name != a.run_dirs[0].name  # a real data setting still counts


def test_top_level_weight_decay_is_the_optimizers_and_overrides_win(tmp_path) -> None:
    import torch

    from bench.config import build

    top = plan_cells(["optimizer=adam", "lr=0.1", "weight_decay=0.01", f"paths.runs={tmp_path}"])
    direct = plan_cells(["optimizer=adam", "lr=0.1", "optimizer.weight_decay=0.01", f"paths.runs={tmp_path}"])
    none = plan_cells(["optimizer=adam", "lr=0.1", f"paths.runs={tmp_path}"])
    assert top.run_dirs == direct.run_dirs  # the same cell, however it was spelled
    assert top.run_dirs != none.run_dirs
    overridden = plan_cells(["optimizer=adam", "lr=0.1", "weight_decay=0.01",
                             "+optimizer_overrides.adam.weight_decay=0.5", f"paths.runs={tmp_path}"])
    assert overridden.run_dirs != top.run_dirs
    for planned, want in ((top, 0.01), (overridden, 0.5)):
        opt = build(planned.configs[0].optimizer, lr=0.1)([torch.zeros(1, requires_grad=True)])
        assert opt.param_groups[0]["weight_decay"] == want
