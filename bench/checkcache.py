"""Remembered plan-time checks, so planning a sweep imports no torch and no Lightning once they passed.

The planner holds every cell to the task contract (``tasks.base.check_task``/``check_data``),
runs a meta-device forward pass (``bench.config.model_fits``) and builds each optimizer on a
dummy parameter (``bench.config.check_optimizer``). Doing that imports the task's module, so
Lightning (and through it torchmetrics and torchvision: ~4.5 s of CPU) before any cell runs;
with ``hydra/launcher=joblib`` the checks run in a warm worker instead, which imports all that
for its cells anyway (``bench.plan.run_checks``, ``bench.warm_pool``).
A check that passed is stored in ``$XDG_CACHE_HOME/optbench/checks.json`` (default
``~/.cache/optbench/``; ``OPTBENCH_CACHE=DIR`` moves it; never under ``paths.runs``, so a
``--dry-run`` writes nothing there) under a key made of
what it depends on: the check, the config it was given, and a fingerprint of the code of every
``_target_`` involved (name, size and mtime of each ``.py`` file of the target's top-level
package in a source tree; the package's ``__init__.py`` for an installed one, which a reinstall
rewrites). Edit a task, an optimizer or a config and the key changes, so the check runs again.
Only passes are stored: a failing check always runs and reports its one line. The job
(``bench.cell.run_cell``) holds the task to the contract again when it builds it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

CACHE_FILE = "checks.json"
VERSION = 1


@lru_cache(maxsize=None)
def package_fingerprint(top: str) -> str:
    """Size and mtime of the code of top-level package ``top`` ('' when it cannot be found)."""
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return ""
    if spec is None:
        return ""
    locations = list(spec.submodule_search_locations or [])
    if not locations:  # a single module
        path = Path(spec.origin or "")
        return f"{path}:{_stat(path)}"
    parts = []
    for location in locations:
        root = Path(location)
        if any(p in ("site-packages", "dist-packages") for p in root.parts):
            parts.append(f"{root}:{_stat(root / '__init__.py')}")
        else:
            parts += [f"{p.relative_to(root)}:{_stat(p)}" for p in sorted(root.rglob("*.py"))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _stat(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"


def targets_of(node: Any) -> list[str]:
    """Every ``_target_`` string inside a (plain) config node."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "_target_" and isinstance(value, str):
                found.append(value)
            else:
                found += targets_of(value)
    elif isinstance(node, list):
        for value in node:
            found += targets_of(value)
    return found


def check_key(kind: str, payload: Any) -> str:
    """Key of a check of ``kind`` on ``payload`` (plain data), including its targets' code."""
    tops = sorted({t.split(".", 1)[0] for t in targets_of(payload)} | {"bench"})
    code = {top: package_fingerprint(top) for top in tops}
    text = json.dumps({"kind": kind, "payload": payload, "code": code}, sort_keys=True, default=str)
    return f"{kind}:{hashlib.sha256(text.encode()).hexdigest()[:24]}"


def cache_dir() -> Path:
    """``$OPTBENCH_CACHE``, else ``$XDG_CACHE_HOME/optbench``, else ``~/.cache/optbench``."""
    explicit = os.environ.get("OPTBENCH_CACHE", "").strip()
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "optbench"


class CheckCache:
    """The passed checks of this user; ``save`` writes new ones atomically."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.path = Path(directory if directory is not None else cache_dir()) / CACHE_FILE
        self.entries: dict[str, Any] = {}
        self.dirty = False
        try:
            data = json.loads(self.path.read_text())
            if data.get("version") == VERSION:
                self.entries = dict(data["checks"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.entries = {}

    def get(self, key: str) -> Any:
        return self.entries.get(key)

    def put(self, key: str | None, value: Any = True) -> None:
        if key is not None and self.entries.get(key) != value:
            self.entries[key] = value
            self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        from bench.record import atomic_write_text

        try:
            atomic_write_text(self.path, json.dumps({"version": VERSION, "checks": self.entries}, sort_keys=True))
        except OSError:
            return  # an unwritable cache directory only costs the next plan the checks again
        self.dirty = False
