"""Compose and validate every cell of a command line before anything runs.

Turns Hydra's composition errors into one-line messages that name the bad key or value
and what is allowed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bench.checkcache import CheckCache, check_key
from bench.config import (ROLE_HINTS, ConfigError, cell_run_dir, check_optimizer, data_class, finalize, model_fits,
                          task_class_of)
from bench.schedules import check_schedule
from bench.sweep import override_key, plan

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


class PlanError(ValueError):
    """A command line that cannot become a sweep; the message is one line."""


@dataclass
class Planned:
    task_overrides: list[str]
    cells: list[list[str]] = field(default_factory=list)
    run_dirs: list[Path] = field(default_factory=list)
    configs: list[DictConfig] = field(default_factory=list)  # each cell's finalized config
    warnings: list[str] = field(default_factory=list)  # legal but suspicious settings (one line each)

    def entries(self) -> list[dict[str, Any]]:
        """The plan as data: per cell its overrides, run directory and finalized config."""
        return [_entry(ovr, run_dir, cfg) for ovr, run_dir, cfg in zip(self.cells, self.run_dirs, self.configs)]

    def write(self) -> Path:
        """Save the plan where every job of the sweep can read it (``<runs>/_plans/<hash>.json``).

        The launcher's jobs (in this process, in local subprocesses or on SLURM nodes that
        share the runs directory) take their cell's finalized config and directory from it
        instead of finalizing and hashing it again. The name is the content's hash, so a
        relaunch or a DDP rank re-planning the same cells writes the same file.
        """
        from bench.record import atomic_write_text

        text = json.dumps({"version": 1, "cells": self.entries()}, sort_keys=True)
        runs = Path(self.configs[0].paths.runs)
        path = runs / PLANS_DIR / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
        if not path.exists():
            atomic_write_text(path, text)
        return path


PLANS_DIR = "_plans"


def _entry(overrides: list[str], run_dir: Path, cfg: DictConfig) -> dict[str, Any]:
    return {"overrides": list(overrides), "run_dir": str(run_dir), "config": OmegaConf.to_container(cfg, resolve=True)}


def planned_entry(cfg: DictConfig) -> dict[str, Any]:
    """The plan entry of one composed cell (no overrides): what ``python -m bench`` hands its job."""
    final = finalize(cfg)
    return _entry([], cell_run_dir(final), final)


def planned_cell(plan_file: str | Path, overrides: list[str]) -> dict[str, Any] | None:
    """The plan's entry for the job with ``overrides``, or ``None`` when the plan has none
    (shared within the process: read it, do not change it)."""
    try:
        return _plan_entries(str(plan_file)).get(tuple(overrides))
    except (OSError, ValueError, KeyError):
        return None


@lru_cache(maxsize=4)
def _plan_entries(plan_file: str) -> dict[tuple[str, ...], dict[str, Any]]:
    """A plan file's entries by overrides, read once per process: a plan's name is its content's
    hash (:meth:`Planned.write`), so a name never stands for other content."""
    return {tuple(entry["overrides"]): entry for entry in json.loads(Path(plan_file).read_text())["cells"]}


def group_options(group: str, extra_dirs: tuple[Path, ...] = ()) -> list[str]:
    """Names of the configs in ``conf/<group>/`` and in the same group of ``extra_dirs``."""
    return sorted({p.stem for d in (CONF_DIR, *extra_dirs) for p in (d / group).glob("*.yaml")})


def search_dirs(overrides: list[str]) -> tuple[Path, ...]:
    """Config directories a ``hydra.searchpath=[file://DIR,...]`` override adds to ``conf/``.

    That is how a workload kept outside this repository brings its configs (``module/``,
    ``model/``, ``dataset/``, ``experiment/``) to ``python -m bench``.
    """
    dirs: list[Path] = []
    for ov in OverridesParser.create().parse_overrides([o for o in overrides if override_key(o) == "hydra.searchpath"]):
        for item in ov.value():
            if str(item).startswith("file://"):
                dirs.append(Path(str(item)[len("file://"):]))
    return tuple(dirs)


def _check_group_choices(overrides: list[str], extra_dirs: tuple[Path, ...] = ()) -> None:
    parser = OverridesParser.create()
    for ov in parser.parse_overrides(overrides):
        key = ov.key_or_group
        if "/" in key or ov.package is not None or not any((d / key).is_dir() for d in (CONF_DIR, *extra_dirs)):
            continue
        allowed = group_options(key, extra_dirs)
        values = list(ov.sweep_string_iterator()) if ov.is_sweep_override() else [ov.get_value_element_as_str()]
        for value in values:
            if value not in allowed and value != "null":
                raise PlanError(f"{key}={value}: unknown {key}; choose one of: {', '.join(allowed)}")


def _check_hydra_groups(overrides: list[str]) -> None:
    """``hydra/launcher=nosuch`` (any ``hydra/<group>``): one line naming the options Hydra has,
    plugins included (``basic``, ``submitit_local``, ``local``, ``slurm``, ...)."""
    loader = GlobalHydra.instance().config_loader()
    for ov in OverridesParser.create().parse_overrides([o for o in overrides if override_key(o).startswith("hydra/")]):
        key = ov.key_or_group
        allowed = loader.get_group_options(key)
        if not allowed:
            raise PlanError(f"{key}: unknown config group")
        values = list(ov.sweep_string_iterator()) if ov.is_sweep_override() else [ov.get_value_element_as_str()]
        for value in values:
            if value not in allowed:
                raise PlanError(f"{key}={value}: unknown {key}; choose one of: {', '.join(allowed)}")


def _one_line(exc: Exception) -> str:
    text = str(exc).strip()
    if text.startswith("Could not override"):
        key = text.split("'")[1]
        cause = str(exc.__cause__ or "")
        if "full_key: " in cause:  # e.g. a new key inside an existing dict: lr_grids.sgd
            key = cause.split("full_key: ", 1)[1].split()[0]
        return f"{key}: unknown config key (check the spelling, or add a new key with +{key}=...)"
    if "Could not find" in text and "In '" in text:
        return text.splitlines()[0]
    return " ".join(text.split())[:300]


def _check_model_fits(cfg: DictConfig, extra_dirs: tuple[Path, ...] = ()) -> None:
    """Raise ``PlanError`` when the model cannot take the dataset's inputs, naming the datasets it can."""
    why = model_fits(cfg)
    if why is None:
        return
    fits = []
    for name in group_options("dataset", extra_dirs):
        other = cfg.copy()
        other.dataset = OmegaConf.load(next(d / "dataset" / f"{name}.yaml" for d in (CONF_DIR, *extra_dirs)
                                            if (d / "dataset" / f"{name}.yaml").exists()))
        try:
            if name != cfg.dataset.name and model_fits(other) is None:
                fits.append(name)
        except ConfigError:  # a data set of another task family
            continue
    shape = cfg.dataset.get("input_shape")
    raise PlanError(
        f"model={cfg.model.name} does not fit dataset={cfg.dataset.name}"
        + (f" (input_shape {list(shape)})" if shape is not None else "")
        + f"; datasets it fits: {', '.join(fits) or 'none'} ({why})"
    )


def plan_cells(overrides: list[str], checker: Checker | None = None) -> Planned:
    """Expand and validate the sweep; raise ``PlanError`` with a one-line message.

    ``checker`` runs the checks the check cache does not hold (default :func:`run_checks`,
    here; ``python -m bench`` hands it a warm joblib worker's, ``bench.warm_pool``)."""
    task_overrides = [o for o in overrides if not override_key(o).startswith("hydra")]
    planned = Planned(task_overrides=task_overrides)
    try:
        parser = OverridesParser.create()
        parsed = parser.parse_overrides(task_overrides)
    except HydraException as exc:
        raise PlanError(_one_line(exc)) from None
    extra_dirs = search_dirs(overrides)
    searchpath = [o for o in overrides if override_key(o) == "hydra.searchpath"]
    _check_group_choices(task_overrides, extra_dirs)
    jobs = BasicSweeper.split_arguments(parsed, None)[0]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            _check_hydra_groups(overrides)

            def _compose(ovr: list[str]) -> DictConfig:
                return compose(config_name="config", overrides=[*ovr, *searchpath])

            cells = plan(jobs, _compose)
    except PlanError:
        raise
    except ConfigError as exc:
        raise PlanError(str(exc)) from None
    except (HydraException, OmegaConfBaseException) as exc:
        raise PlanError(_one_line(exc)) from None
    finally:
        GlobalHydra.instance().clear()
    if not cells:
        raise PlanError("the sweep has no cells")
    try:
        _check_cells(planned, cells, extra_dirs, checker or run_checks)
    finally:
        ROLE_HINTS.clear()
    return planned


# A check the plan needs, as plain data: ``(kind, payload)``; its result ``(passed, value or message)``.
Check = tuple[str, Any]
Checker = Callable[[list[Check]], list[tuple[bool, Any]]]


def run_checks(checks: list[Check]) -> list[tuple[bool, Any]]:
    """Run plan checks here: ``("task", target)`` -> the task's optimizer roles;
    ``("optimizer", cell)`` and ``("fit", (cell, extra_dirs))`` -> ``None`` (``cell``: a
    finalized config as an unresolved container); ``("data", cell)`` -> ``(problems, files_free)``
    (:func:`bench.preflight.data_problems`). A ``ConfigError``/``PlanError`` becomes
    ``(False, message)``. Picklable both ways, so a warm joblib worker (``bench.warm_pool``),
    which has imported torch and Lightning anyway, can run them for the planning process."""
    results: list[tuple[bool, Any]] = []
    for kind, payload in checks:
        try:
            if kind == "task":
                results.append((True, list(task_class_of(payload).roles)))
                continue
            cfg = OmegaConf.create(payload[0] if kind == "fit" else payload)
            if kind == "optimizer":
                check_optimizer(cfg)
            elif kind == "fit":
                data_class(cfg)
                _check_model_fits(cfg, tuple(Path(d) for d in payload[1]))
            elif kind == "data":
                from bench.preflight import data_problems

                results.append((True, data_problems(cfg)))
                continue
            else:
                raise ValueError(f"unknown plan check {kind!r}")
            results.append((True, None))
        except (ConfigError, PlanError) as exc:
            results.append((False, str(exc)))
    return results


def _check_cells(planned: Planned, cells: list[tuple[list[str], DictConfig]], extra_dirs: tuple[Path, ...],
                 checker: Checker) -> None:
    """Finalize every cell into ``planned``, holding it to the task contract, building its
    optimizer and fitting its model: each distinct check once, none that ``CheckCache`` holds
    a pass of, all that remain in one call of ``checker`` (per round: the task contracts
    first, whose roles finalizing needs). The first failure in cell order is the ``PlanError``."""
    cache = CheckCache()  # checks that passed before (bench.checkcache)
    roles = {}
    missing = []
    for target in dict.fromkeys(cfg.module._target_ for _, cfg in cells):
        key = check_key("task", {"_target_": target})
        roles[target] = cache.get(key)
        if roles[target] is None:
            missing.append((key, target))
    for (key, target), (ok, value) in zip(missing, checker([("task", t) for _, t in missing]) if missing else []):
        if not ok:
            raise PlanError(value)
        roles[target] = value
        cache.put(key, value)
    ROLE_HINTS.update({t: tuple(r) for t, r in roles.items()})
    finals: list[tuple[list[str], DictConfig | None, str | None, list[Any]]] = []
    checks: dict[Any, Check] = {}  # check key (a per-cell tuple when the config does not resolve) -> check
    for ovr, cfg in cells:
        try:
            cfg = finalize(cfg)
        except ConfigError as exc:
            finals.append((ovr, None, str(exc), []))
            break
        keys: list[Any] = []
        for kind, payload in (("optimizer", lambda: {  # all check_optimizer reads, resolved: its key and its payload
                                   "optimizer": OmegaConf.to_container(cfg.optimizer, resolve=True), "lr": cfg.lr,
                                   "module": {"_target_": cfg.module._target_},
                                   **({"optimizer_roles": OmegaConf.to_container(cfg.optimizer_roles, resolve=True)}
                                      if cfg.get("optimizer_roles") else {})}),
                              ("fit", lambda: {"model": OmegaConf.to_container(cfg.model, resolve=True),
                                               "dataset": OmegaConf.to_container(cfg.dataset, resolve=True),
                                               "module": cfg.module._target_})):
            data = _resolved(payload)
            key = None if data is None else check_key(kind, data)
            if key is not None and cache.get(key):
                continue
            token = key if key is not None else (kind, len(finals))  # an unresolvable config: its own check, never cached
            if token not in checks:
                # the whole cell where the key's data is not enough or does not resolve (the check reports it)
                cell = data if kind == "optimizer" and data is not None else OmegaConf.to_container(cfg)
                checks[token] = (kind, (cell, [str(d) for d in extra_dirs]) if kind == "fit" else cell)
            keys.append(token)
        finals.append((ovr, cfg, None, keys))
    results = dict(zip(checks, checker(list(checks.values())))) if checks else {}
    scheduled: set[str] = set()  # schedule x budget combinations warned about once
    for ovr, cfg, error, keys in finals:
        failed = error or next((results[k][1] for k in keys if not results[k][0]), None)
        if failed:
            raise PlanError(failed)
        key = repr(OmegaConf.to_container(cfg.schedule)) + repr((cfg.epochs, cfg.get("max_steps")))
        if key not in scheduled:
            try:
                planned.warnings += [w for w in check_schedule(cfg) if w not in planned.warnings]
            except ConfigError as exc:
                raise PlanError(str(exc)) from None
            scheduled.add(key)
        planned.cells.append(ovr)
        planned.run_dirs.append(cell_run_dir(cfg))
        planned.configs.append(cfg)
    for token in checks:
        if isinstance(token, str):
            cache.put(token)
    cache.save()


def _resolved(payload: Callable[[], Any]) -> Any:
    """``payload()``, the plain data a check's cache key is made of, or ``None`` when the
    cell's config does not even resolve (the check, given the whole cell, reports it)."""
    try:
        return payload()
    except (OmegaConfBaseException, ValueError, TypeError):
        return None
