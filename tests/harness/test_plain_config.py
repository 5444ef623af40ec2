"""``bench.plain_config.to_dictconfig`` equals ``OmegaConf.create`` on every input, reuses a
parsed shape for the cells of a sweep, and never lets one cell's config change another's."""

from __future__ import annotations

import json
import math

import pytest
from omegaconf import DictConfig, OmegaConf

from bench import plain_config
from bench.perf.runner import WORKLOADS, compose_cell
from bench.plan import planned_entry


def typed(value):
    """A JSON-able form that keeps Python types apart (1, 1.0 and True compare equal)."""
    if isinstance(value, dict):
        return {str(k): typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return ["nan"]
    return [type(value).__name__, value]


def same(cfg: DictConfig, plain: dict) -> bool:
    made = OmegaConf.create(plain)
    return (isinstance(cfg, DictConfig)
            and typed(OmegaConf.to_container(cfg)) == typed(OmegaConf.to_container(made))
            and OmegaConf.to_yaml(cfg) == OmegaConf.to_yaml(made))


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plain_config, "_TEMPLATES", {})


def test_cells_of_a_sweep_reuse_one_parse_and_equal_create(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [planned_entry(compose_cell([*WORKLOADS["digits"], f"lr={lr}", f"seed={seed}", f"paths.runs={tmp_path}/{lr}"]))
               ["config"] for lr in (0.1, 0.01, 1) for seed in (0, 3)]
    assert entries[0] != entries[1]
    parses = []
    real_create = OmegaConf.create
    monkeypatch.setattr(plain_config.OmegaConf, "create", lambda *a, **k: parses.append(1) or real_create(*a, **k))
    made = [plain_config.to_dictconfig(e) for e in entries]
    assert len(parses) == 1  # one shape: parsed once, every later cell from the template
    monkeypatch.setattr(plain_config.OmegaConf, "create", real_create)
    for cfg, plain in zip(made, entries):
        assert same(cfg, plain)
    assert made[2].lr == 0.01 and made[3].seed == 3 and type(made[4].lr) is int


def test_types_none_nan_and_lists_follow_the_new_values() -> None:
    base = {"a": 1, "b": {"c": [1.0, 2.0], "d": None, "e": "x"}, "f": True, "g": float("nan")}
    variants = [
        {"a": 1.0, "b": {"c": [1, 2.0], "d": "y", "e": None}, "f": 1, "g": 0.5},  # int -> float, bool -> int, ...
        {"a": True, "b": {"c": [float("nan"), 3.0], "d": 0, "e": "x"}, "f": False, "g": float("nan")},
        {"a": "${b.e}", "b": {"c": [1.0, 2.0], "d": None, "e": "z"}, "f": True, "g": 1},  # an interpolation, as create reads it
    ]
    assert same(plain_config.to_dictconfig(base), base)
    for plain in variants:
        cfg = plain_config.to_dictconfig(plain)
        assert same(cfg, plain), json.dumps(typed(plain))
    assert plain_config.to_dictconfig(variants[2]).a == "z"


def test_another_shape_is_parsed_on_its_own() -> None:
    one = plain_config.to_dictconfig({"a": [1, 2], "b": {"c": 1}})
    two = plain_config.to_dictconfig({"a": [1, 2, 3], "b": {"c": 1}})  # a longer list
    three = plain_config.to_dictconfig({"b": {"c": 1}, "a": [1, 2]})  # other key order
    four = plain_config.to_dictconfig({"a": [1, 2], "b": {"c": {"d": 1}}})  # a leaf became a node
    assert list(two.a) == [1, 2, 3] and list(three.keys()) == ["b", "a"] and four.b.c.d == 1
    assert len(plain_config._TEMPLATES) == 4 and list(one.a) == [1, 2]


def test_configs_are_independent_of_each_other_and_of_the_input() -> None:
    plain = {"lr": 0.1, "model": {"hidden": [128, 128]}}
    first = plain_config.to_dictconfig(plain)
    first.model.hidden[0] = 7
    first.lr = 9.0
    plain["model"]["hidden"][1] = 5  # the caller changes its own dict afterwards
    second = plain_config.to_dictconfig({"lr": 0.2, "model": {"hidden": [128, 128]}})
    assert list(second.model.hidden) == [128, 128] and second.lr == 0.2
    assert second is not first and list(first.model.hidden) == [7, 128]


def test_many_changed_leaves_parse_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [f"k{i}" for i in range(plain_config.MAX_CHANGED + 1)]
    plain_config.to_dictconfig(dict.fromkeys(keys, 0))
    parses = []
    real_create = OmegaConf.create
    monkeypatch.setattr(plain_config.OmegaConf, "create", lambda *a, **k: parses.append(1) or real_create(*a, **k))
    cfg = plain_config.to_dictconfig(dict.fromkeys(keys, 1))
    assert parses == [1] and all(cfg[k] == 1 for k in keys)
