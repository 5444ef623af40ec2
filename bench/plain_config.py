"""A cell's resolved plain config as a ``DictConfig``, cheaply for cells that share a shape.

``OmegaConf.create`` validates and wraps every node (~45-70 us each here; a digits cell's
config has ~80: 3.5-5.7 ms, a tenth of the runner's overhead on that cell). The cells of one
sweep share a shape (the same keys, nesting and list lengths) and differ in a few leaves
(``lr``, ``seed``, paths), so a process keeps, per shape, one parsed config pickled, and
unpickles it (~0.4 ms) and sets only the leaves that differ. The result equals
``OmegaConf.create(plain)`` (``tests/harness/test_plain_config.py``).
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

from omegaconf import DictConfig, OmegaConf

MAX_SHAPES = 32  # parsed shapes kept per process (a sweep has about one per optimizer)
MAX_CHANGED = 16  # more leaves than this differ: parsing afresh is about as cheap

_TEMPLATES: dict[Any, tuple[dict[str, Any], bytes]] = {}  # shape -> (its plain config, pickled DictConfig)


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return ("d", tuple((key, _shape(v)) for key, v in value.items()))
    if isinstance(value, list):
        return ("l", tuple(_shape(v) for v in value))
    return None


def _changed(before: Any, after: Any, path: tuple[Any, ...], out: list[tuple[tuple[Any, ...], Any]]) -> None:
    """Append ``(path, value)`` for each leaf of ``after`` that differs from ``before`` (same shape)."""
    if isinstance(after, dict):
        for key, value in after.items():
            _changed(before[key], value, (*path, key), out)
    elif isinstance(after, list):
        for i, value in enumerate(after):
            _changed(before[i], value, (*path, i), out)
    elif type(before) is not type(after) or before != after:  # 1 vs 1.0 vs True differ; so does NaN
        out.append((path, after))


def to_dictconfig(plain: dict[str, Any]) -> DictConfig:
    """``OmegaConf.create(plain)`` for a resolved plain config (dicts, lists, scalars); each
    call returns a config of its own."""
    shape = _shape(plain)
    known = _TEMPLATES.get(shape)
    if known is not None:
        changed: list[tuple[tuple[Any, ...], Any]] = []
        _changed(known[0], plain, (), changed)
        if len(changed) <= MAX_CHANGED:
            cfg = pickle.loads(known[1])
            for path, value in changed:
                node = cfg
                for key in path[:-1]:
                    node = node[key]
                node[path[-1]] = value
            return cfg
    cfg = OmegaConf.create(plain)
    if len(_TEMPLATES) >= MAX_SHAPES:
        _TEMPLATES.pop(next(iter(_TEMPLATES)))
    _TEMPLATES[shape] = (copy.deepcopy(plain), pickle.dumps(cfg))
    return cfg
