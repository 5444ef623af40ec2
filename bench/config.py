"""Turning a composed Hydra config into one cell: validation, identity, instantiation."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

# Keys of a config node that describe it to the harness and are not constructor kwargs.
METADATA_KEYS = ("name", "lr_grid", "interval")
# Dataset facts that model configs read (``${dataset.num_classes}``).
DATASET_METADATA_KEYS = (*METADATA_KEYS, "num_classes", "input_shape")

# Top-level keys that never change a cell's result: they are left out of its identity.
NON_IDENTITY_KEYS = (
    "paths", "logger", "hydra", "experiment_name", "reproduces", "seeds", "lr_grids",
    "sweep", "optimizer_overrides", "weight_decay", "eval_test_every_epoch", "divergence_check_every",
    "checkpoint_every_s",
)
# Trainer keys that change where/how fast a cell runs, not what it computes.
NON_IDENTITY_TRAINER_KEYS = ("devices", "num_nodes", "strategy", "sync_batchnorm")


class ConfigError(ValueError):
    """Bad user input; its message is one line naming the key and what is allowed."""


def strip_metadata(node: DictConfig | dict, drop: tuple[str, ...] = METADATA_KEYS) -> dict[str, Any]:
    """Resolved plain dict of ``node`` without the harness metadata keys."""
    data = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    return {k: v for k, v in data.items() if k not in drop}


def build(node: DictConfig | dict, drop: tuple[str, ...] = METADATA_KEYS, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` of a node, minus its metadata keys, with extra kwargs.

    Kwargs that are plain objects (a model, a factory, numbers) are bound to the partial Hydra
    instantiates (``_partial_``), not merged into its config first: the same call, without
    Hydra wrapping each object in a config node (~1.3 ms for a task's module). Dicts and lists
    take Hydra's own path, which turns them into configs. A node with no nested ``_target_`` is
    instantiated by Hydra once per process (:func:`_hydra_partial`); each build calls that
    partial with fresh copies of its arguments, as a fresh ``instantiate`` would make them.
    """
    config = strip_metadata(node, drop)
    if any(isinstance(v, (dict, list, tuple, DictConfig, ListConfig)) for v in kwargs.values()):
        return instantiate(config, **kwargs)
    made = _hydra_partial(config)
    if made is None:
        made = instantiate({**config, "_partial_": True})
    else:
        made = functools.partial(made.func, *copy.deepcopy(made.args), **copy.deepcopy(made.keywords))
    if config.get("_partial_"):  # a factory: the kwargs join its bound arguments
        return functools.partial(made, **kwargs) if kwargs else made
    return made(**kwargs)


_PARTIALS: dict[str, functools.partial] = {}  # a node's JSON (keys in order) -> Hydra's partial of it
MAX_PARTIALS = 256


def _hydra_partial(config: dict[str, Any]) -> functools.partial | None:
    """Hydra's ``_partial_`` instantiation of ``config``, made once per process; ``None`` for a
    node Hydra must instantiate afresh each time (a nested ``_target_`` makes an object of its
    own) or that is not plain data."""
    if _has_nested_target(config, top=True):
        return None
    try:
        key = json.dumps(config, allow_nan=True)
    except (TypeError, ValueError):
        return None
    made = _PARTIALS.get(key)
    if made is None:
        made = instantiate({**config, "_partial_": True})  # Hydra's target policy is applied here
        if len(_PARTIALS) >= MAX_PARTIALS:
            _PARTIALS.pop(next(iter(_PARTIALS)))
        _PARTIALS[key] = made
    return made


def _has_nested_target(value: Any, top: bool = False) -> bool:
    if isinstance(value, dict):
        return (not top and "_target_" in value) or any(_has_nested_target(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nested_target(v) for v in value)
    return False


def lr_grid(cfg: DictConfig) -> list[float]:
    """The learning rates a sweep tries for the configured optimizer."""
    name = cfg.optimizer.name
    grid = cfg.lr_grids.get(name) if cfg.get("lr_grids") else None
    if grid is None:
        grid = cfg.optimizer.get("lr_grid")
    key = f"lr_grids.{name}" if cfg.get("lr_grids") and name in cfg.lr_grids else f"optimizer.lr_grid ({name})"
    if grid is None or len(grid) == 0:
        raise ConfigError(f"{key} is empty: give at least one learning rate > 0, or pin one with lr=0.01")
    grid = list(grid)
    for value in grid:
        _check_lr(value, key)
    return [float(v) for v in grid]


def _check_lr(value: Any, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{key}={value!r} is invalid: learning rates must be finite numbers > 0")


def validate(cfg: DictConfig) -> None:
    """Check the values a typo most often breaks; raise ``ConfigError`` with a one-line message."""
    if cfg.lr is not None:
        _check_lr(cfg.lr, "lr")
    else:
        lr_grid(cfg)
    epochs = cfg.epochs
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"epochs={epochs!r} is invalid: must be an integer >= 1")
    seeds = cfg.seeds
    if not OmegaConf.is_list(seeds) or len(seeds) == 0 or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ConfigError(f"seeds={seeds!r} is invalid: must be a non-empty list of integers, e.g. seeds=[0,1,2]")
    batch = cfg.dataset.get("batch_size")
    if batch is not None and (not isinstance(batch, int) or batch < 1):
        raise ConfigError(f"dataset.batch_size={batch!r} is invalid: must be an integer >= 1")
    max_steps = cfg.get("max_steps")
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):
        raise ConfigError(f"max_steps={max_steps!r} is invalid: must be null (an epoch budget) or an integer >= 1")
    eval_every = cfg.get("eval_every", 1)
    if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1:
        raise ConfigError(f"eval_every={eval_every!r} is invalid: must be an integer >= 1 "
                          f"({'steps' if max_steps else 'epochs'} between evaluations)")
    if cfg.grad_clip is not None and not (isinstance(cfg.grad_clip, (int, float)) and cfg.grad_clip > 0):
        raise ConfigError(f"grad_clip={cfg.grad_clip!r} is invalid: must be null or a number > 0")
    wd = cfg.get("weight_decay")
    if wd is not None and (isinstance(wd, bool) or not isinstance(wd, (int, float)) or not math.isfinite(wd) or wd < 0):
        raise ConfigError(f"weight_decay={wd!r} is invalid: must be null or a finite number >= 0")
    every = cfg.get("checkpoint_every_s", 0)
    if isinstance(every, bool) or not isinstance(every, (int, float)) or not math.isfinite(every) or every < 0:
        raise ConfigError(f"checkpoint_every_s={every!r} is invalid: must be a number of seconds >= 0 (0: every evaluation)")
    probes = cfg.get("probes") or []
    if probes:
        _check_probes(list(probes))
    for name, extra in (cfg.optimizer_overrides or {}).items():
        if "lr" in extra:
            raise ConfigError(f"optimizer_overrides.{name}.lr is not allowed: set learning rates with lr_grids.{name}")
    from bench.schedules import check_schedule

    check_schedule(cfg)  # its warnings are collected once per sweep by bench.plan


@lru_cache(maxsize=None)
def _task_class(target: str) -> type:
    from tasks.base import check_task

    return check_task(get_class(target))


@lru_cache(maxsize=None)
def _data_class(target: str) -> type:
    from tasks.base import check_data

    return check_data(get_class(target))


def task_class(cfg: DictConfig) -> type:
    """The cell's :class:`tasks.base.Task` class, held to the contract (``ConfigError`` if not)."""
    return task_class_of(cfg.module._target_)


def task_class_of(target: str) -> type:
    """The :class:`tasks.base.Task` class ``module._target_`` names, held to the contract."""
    return _contract_checked(_task_class, target, "module")


# Roles of task classes that passed the contract, filled by the planner from its check cache
# (bench.checkcache) so that finalizing a cell need not import the task's module.
ROLE_HINTS: dict[str, tuple[str, ...]] = {}


def task_roles(cfg: DictConfig) -> tuple[str, ...]:
    """The optimizer roles of the cell's task (``ROLE_HINTS`` first, else from the class)."""
    hint = ROLE_HINTS.get(cfg.module._target_)
    return hint if hint is not None else tuple(task_class(cfg).roles)


def data_class(cfg: DictConfig) -> type:
    """The cell's :class:`tasks.base.TaskData` class, held to the contract (``ConfigError`` if not)."""
    return _contract_checked(_data_class, cfg.dataset._target_, f"dataset={cfg.dataset.get('name', '?')}")


def _contract_checked(load: Any, target: str, key: str) -> type:
    from tasks.base import ContractError

    try:
        return load(target)
    except ContractError as exc:
        raise ConfigError(str(exc)) from None
    except (ImportError, AttributeError, ValueError) as exc:  # hydra's get_class wraps import errors
        raise ConfigError(f"{key}: cannot import {target} ({' '.join(str(exc).split())[:200]})") from None


def _check_probes(entries: list[Any]) -> None:
    """Build the listed probes once (names and options), so a typo fails before any cell runs."""
    from bench.probes import build_probes

    try:
        build_probes([OmegaConf.to_container(e) if OmegaConf.is_config(e) else e for e in entries])
    except ValueError as exc:
        raise ConfigError(" ".join(str(exc).split())) from None


def finalize(cfg: DictConfig) -> DictConfig:
    """The cell's effective config: the top-level ``weight_decay`` (when set), then the
    per-optimizer overrides, merged into ``optimizer``; for a task with several optimizer
    roles, ``optimizer_roles.<role>`` = that merged config plus the overrides given under
    ``optimizer_overrides.<optimizer>.<role>``. The identity hash sees the result."""
    cfg = cfg.copy()
    name = cfg.optimizer.name
    roles = task_roles(cfg)
    if cfg.get("weight_decay") is not None:
        if "weight_decay" not in cfg.optimizer:
            raise ConfigError(f"weight_decay: optimizer/{name} has no weight_decay argument (set weight_decay=null)")
        cfg.optimizer.weight_decay = float(cfg.weight_decay)
    extra = dict((cfg.get("optimizer_overrides") or {}).get(name) or {})
    per_role = {role: extra.pop(role) for role in roles if len(roles) > 1 and role in extra}
    _check_override_keys(cfg, name, extra)
    if extra:
        cfg.optimizer = OmegaConf.merge(cfg.optimizer, extra)
    if len(roles) > 1:
        nodes = {}
        for role in roles:
            role_extra = dict(per_role.get(role) or {})
            if "lr" in role_extra:
                raise ConfigError(f"optimizer_overrides.{name}.{role}.lr is not allowed: every role trains at the cell's lr")
            _check_override_keys(cfg, f"{name}.{role}", role_extra)
            node = OmegaConf.to_container(OmegaConf.merge(cfg.optimizer, role_extra), resolve=True)
            node.pop("lr_grid", None)
            nodes[role] = node
        with open_dict(cfg):
            cfg.optimizer_roles = nodes
    return cfg


def _check_override_keys(cfg: DictConfig, where: str, extra: dict[str, Any]) -> None:
    unknown = sorted(set(extra) - set(cfg.optimizer))
    if unknown:
        allowed = ", ".join(k for k in cfg.optimizer if k not in (*METADATA_KEYS, "_target_", "_partial_"))
        roles = task_roles(cfg)
        hint = f"; roles: {', '.join(roles)}" if len(roles) > 1 else ""
        raise ConfigError(f"optimizer_overrides.{where}.{unknown[0]}: not an argument of optimizer/{cfg.optimizer.name} "
                          f"(known: {allowed}{hint})")


def optimizer_node(cfg: DictConfig, role: str = "model") -> DictConfig:
    """The optimizer config that builds ``role``'s optimizer in a finalized cell."""
    roles = cfg.get("optimizer_roles")
    if roles is None:
        if role != "model":
            raise ValueError(f"optimizer role {role!r} is not a role of this task (it has one optimizer, role 'model')")
        return cfg.optimizer
    if role not in roles:
        raise ValueError(f"optimizer role {role!r} is not a role of this task; roles: {', '.join(roles)}")
    return roles[role]


def check_optimizer(cfg: DictConfig) -> None:
    """Construct each of the cell's optimizers on a dummy parameter so bad hyperparameters fail early."""
    import torch

    for role in task_roles(cfg):
        where = f"optimizer/{cfg.optimizer.name}" + (f" ({role})" if cfg.get("optimizer_roles") else "")
        try:
            build(optimizer_node(cfg, role), lr=float(cfg.lr))([torch.zeros(1, requires_grad=True)])
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: {' '.join(str(exc).split())}") from None
        except Exception as exc:  # hydra's InstantiationException wraps the constructor's error
            cause = exc.__cause__ or exc
            raise ConfigError(f"{where}: {' '.join(str(cause).split())}") from None


def build_data(cfg: DictConfig, **kwargs: Any) -> Any:
    """The cell's data object, passing only the keyword arguments its constructor takes."""
    from tasks.base import accepted_kwargs

    return build(cfg.dataset, DATASET_METADATA_KEYS, **accepted_kwargs(data_class(cfg), kwargs))


def model_fits(cfg: DictConfig) -> str | None:
    """Why the cell's model cannot take its dataset's batches, or ``None`` when it can.

    Builds the model on the meta device and runs the task's ``fit_check`` on the data
    object's ``example_batch()`` (real shapes and dtypes, whatever the task feeds its model):
    no memory and no arithmetic, so even a large model costs a few milliseconds.
    """
    import torch

    task = task_class(cfg)
    try:
        data = build_data(cfg)
        with torch.device("meta"):
            model = build(cfg.model)
            task.fit_check(model, data.example_batch())
    except Exception as exc:  # noqa: BLE001 - any failure means "does not fit"; hydra wraps the cause
        cause = exc.__cause__ or exc
        if isinstance(cause, FileNotFoundError):  # a missing weights/data file is its own message, not a misfit
            raise ConfigError(" ".join(str(cause).split())) from None
        return " ".join(f"{type(cause).__name__}: {cause}".split())[:200]
    return None


def identity_config(cfg: DictConfig) -> dict[str, Any]:
    """The part of a finalized config that determines the cell's result.

    Values built from ``paths.*`` (``dataset.data_dir: ${paths.data}/<name>``, a weights file)
    enter as ``<paths.data>/<name>``: the same cell on another machine, with its data mounted
    elsewhere, keeps its id.
    """
    masked = cfg.copy()
    if masked.get("paths") is not None:
        with open_dict(masked):
            for key in list(masked.paths):
                masked.paths[key] = f"<paths.{key}>"
    data = OmegaConf.to_container(masked, resolve=True)
    data = {k: v for k, v in data.items() if k not in NON_IDENTITY_KEYS}
    data["optimizer"] = {k: v for k, v in data["optimizer"].items() if k != "lr_grid"}
    data["trainer"] = {k: v for k, v in data["trainer"].items() if k not in NON_IDENTITY_TRAINER_KEYS}
    return data


def identity(cfg: DictConfig) -> dict[str, Any]:
    """The few coordinates that name a cell in tables."""
    ident = {
        "optimizer": cfg.optimizer.name,
        "model": cfg.model.name,
        "dataset": cfg.dataset.name,
        "lr": float(cfg.lr),
        "seed": int(cfg.seed),
    }
    if cfg.get("smoke"):  # a few-batch check, never a result: tables leave it out unless asked (--smoke)
        ident["smoke"] = True
    return ident


def cell_run_dir(cfg: DictConfig) -> Path:
    """Where a finalized cell keeps its record and checkpoint: ``<paths.runs>/<experiment>/<cell id>``."""
    return Path(cfg.paths.runs) / cfg.experiment_name / cell_id(cfg)


def cell_id(cfg: DictConfig) -> str:
    """Readable, stable directory name: coordinates plus a hash of the identity config."""
    digest = hashlib.sha256(json.dumps(identity_config(cfg), sort_keys=True).encode()).hexdigest()[:10]
    ident = identity(cfg)
    smoke = "_smoke" if ident.get("smoke") else ""
    return f"{ident['optimizer']}_{ident['model']}_{ident['dataset']}_lr{ident['lr']:g}_s{ident['seed']}{smoke}_{digest}"
