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


def test_a_node_is_instantiated_once_and_each_build_gets_fresh_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.config

    monkeypatch.setattr(bench.config, "_PARTIALS", {})
    calls = []
    real = bench.config.instantiate
    monkeypatch.setattr(bench.config, "instantiate", lambda *a, **k: calls.append(1) or real(*a, **k))
    node = {"_target_": "builtins.dict", "a": [1, 2], "b": {"c": 1}}
    first = build(node)
    first["a"].append(3)
    first["b"]["c"] = 5
    second, third = build(node), build(node, d=4)
    assert len(calls) == 1  # Hydra instantiated the node once
    assert list(second["a"]) == [1, 2] and second["b"]["c"] == 1  # the first build's changes stay its own
    assert second["a"] is not first["a"] and dict(third) == {**dict(second), "d": 4}
    assert list(build({**node, "a": [7]})["a"]) == [7]  # another node, another partial


def test_nested_targets_are_made_afresh_by_every_build() -> None:
    node = {"_target_": "builtins.dict", "sub": {"_target_": "builtins.list"}}
    first, second = build(node), build(node)
    assert first == second == {"sub": []} and first["sub"] is not second["sub"]


def test_a_blocked_target_is_refused_at_every_build() -> None:
    for _ in range(2):
        with pytest.raises(InstantiationException, match="blocklisted"):
            build({"_target_": "os.remove", "path": "/nonexistent"})
