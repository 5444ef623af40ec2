"""REGISTRY and the conf/optimizer/<name>.yaml files of this package's optimizers."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

import optimizers
from optimizers import REGISTRY

CONF = Path(__file__).resolve().parents[2] / "conf" / "optimizer"
NAMES = ["rame", "padam", "adamomentum", "adarem", "adarems", "adal", "yogi", "adabound", "adabelief", "nosadam", "shb"]
CONFIGS = NAMES + ["amsbound"]
METADATA = {"name", "lr_grid"}


def test_registry_names_and_classes():
    assert sorted(REGISTRY) == sorted(NAMES)
    for name, cls in REGISTRY.items():
        assert issubclass(cls, torch.optim.Optimizer)
        assert cls.__name__.lower() == name
        assert getattr(optimizers, cls.__name__) is cls
        assert cls.__name__ in optimizers.__all__


@pytest.mark.parametrize("name", CONFIGS)
def test_config_shape(name):
    path = CONF / f"{name}.yaml"
    assert path.read_text().startswith("# "), "first line cites where the defaults come from"
    node = OmegaConf.to_container(OmegaConf.load(path))
    assert node["_partial_"] is True
    assert node["name"] == name
    assert "lr" not in node, "the runner passes lr"
    grid = node["lr_grid"]
    assert 4 <= len(grid) <= 5
    assert all(isinstance(v, float) and v > 0 for v in grid)
    assert grid == sorted(grid, reverse=True) and len(set(grid)) == len(grid)
    cls = REGISTRY["adabound" if name == "amsbound" else name]
    assert node["_target_"] == f"optimizers.{cls.__name__}"
    signature = inspect.signature(cls.__init__).parameters
    expected = {k for k in signature if k not in {"self", "params", "lr", "foreach", "compile"}}  # path switches
    given = set(node) - METADATA - {"_target_", "_partial_"}
    assert given == expected, "every algorithm kwarg is spelled out in the yaml"


@pytest.mark.parametrize("name", CONFIGS)
def test_config_instantiates_and_steps(name):
    node = OmegaConf.load(CONF / f"{name}.yaml")
    kwargs = {k: v for k, v in node.items() if k not in METADATA}
    factory = instantiate(OmegaConf.create(kwargs), _convert_="all")
    w = torch.nn.Parameter(torch.randn(3, 4))
    opt = factory([w], lr=node.lr_grid[0])
    assert isinstance(opt, REGISTRY["adabound" if name == "amsbound" else name])
    assert opt.param_groups[0]["lr"] == node.lr_grid[0]
    if name == "amsbound":
        assert opt.param_groups[0]["amsbound"] is True
    before = w.detach().clone()
    w.grad = torch.randn(3, 4)
    opt.step()
    assert not torch.equal(before, w)
