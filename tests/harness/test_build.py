"""``bench.config.build``: object kwargs bound to Hydra's partial make what ``instantiate`` with
the same kwargs makes, and Hydra's target policy still applies."""

from __future__ import annotations

import pytest
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from bench.config import build


def test_object_kwargs_reach_the_target_as_they_are() -> None:
    model = object()
    made = build({"_target_": "builtins.dict", "name": "x", "a": 1}, model=model, a=2.5)
    assert made == instantiate({"_target_": "builtins.dict", "a": 1}, model=model, a=2.5) == {"a": 2.5, "model": model}
    assert made["model"] is model  # the object itself, not a config node or a copy


def test_a_factory_node_keeps_its_kwargs_bound_until_called() -> None:
    made = build({"_target_": "builtins.dict", "_partial_": True, "a": 1}, lr=0.1)
    assert made(b=2) == instantiate({"_target_": "builtins.dict", "_partial_": True, "a": 1}, lr=0.1)(b=2)
    assert made(b=2) == {"a": 1, "lr": 0.1, "b": 2}


def test_container_kwargs_become_configs_as_in_instantiate() -> None:
    made = build({"_target_": "builtins.dict"}, sub={"_target_": "builtins.list"})
    assert made == {"sub": []}  # Hydra instantiated the nested node


def test_blocked_targets_stay_blocked() -> None:
    with pytest.raises(InstantiationException, match="blocklisted"):
        build({"_target_": "os.remove", "path": "/nonexistent"}, dir_fd=None)
