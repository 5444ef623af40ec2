"""Turning a composed Hydra config into one cell: validation, identity, instantiation."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

# Keys of a config node that describe it to the harness and are not constructor kwargs.
METADATA_KEYS = ("name", "lr_grid", "interval")
# Dataset facts that model configs read (``${dataset.num_classes}``).
DATASET_METADATA_KEYS = (*METADATA_KEYS, "num_classes", "input_shape")

# Top-level keys that never change a cell's result: they are left out of its identity.
NON_IDENTITY_KEYS = (
    "paths", "logger", "hydra", "experiment_name", "reproduces", "seeds", "lr_grids",
    "sweep", "optimizer_overrides", "weight_decay", "eval_test_every_epoch", "divergence_check_every",
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
    """``hydra.utils.instantiate`` of a node, minus its metadata keys, with extra kwargs."""
    return instantiate(strip_metadata(node, drop), **kwargs)


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
    if cfg.grad_clip is not None and not (isinstance(cfg.grad_clip, (int, float)) and cfg.grad_clip > 0):
        raise ConfigError(f"grad_clip={cfg.grad_clip!r} is invalid: must be null or a number > 0")
    wd = cfg.get("weight_decay")
    if wd is not None and (isinstance(wd, bool) or not isinstance(wd, (int, float)) or not math.isfinite(wd) or wd < 0):
        raise ConfigError(f"weight_decay={wd!r} is invalid: must be null or a finite number >= 0")
    for name, extra in (cfg.optimizer_overrides or {}).items():
        if "lr" in extra:
            raise ConfigError(f"optimizer_overrides.{name}.lr is not allowed: set learning rates with lr_grids.{name}")


def finalize(cfg: DictConfig) -> DictConfig:
    """The cell's effective config: the top-level ``weight_decay`` (when set), then the
    per-optimizer overrides, merged into ``optimizer``. The identity hash sees the result."""
    cfg = cfg.copy()
    name = cfg.optimizer.name
    if cfg.get("weight_decay") is not None:
        if "weight_decay" not in cfg.optimizer:
            raise ConfigError(f"weight_decay: optimizer/{name} has no weight_decay argument (set weight_decay=null)")
        cfg.optimizer.weight_decay = float(cfg.weight_decay)
    extra = (cfg.get("optimizer_overrides") or {}).get(name)
    if extra:
        unknown = sorted(set(extra) - set(cfg.optimizer))
        if unknown:
            allowed = ", ".join(k for k in cfg.optimizer if k not in (*METADATA_KEYS, "_target_", "_partial_"))
            raise ConfigError(f"optimizer_overrides.{name}.{unknown[0]}: not an argument of optimizer/{name} (known: {allowed})")
        cfg.optimizer = OmegaConf.merge(cfg.optimizer, extra)
    return cfg


def check_optimizer(cfg: DictConfig) -> None:
    """Construct the cell's optimizer on a dummy parameter so bad hyperparameters fail early."""
    import torch

    name = cfg.optimizer.name
    try:
        build(cfg.optimizer, lr=float(cfg.lr))([torch.zeros(1, requires_grad=True)])
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"optimizer/{name}: {' '.join(str(exc).split())}") from None
    except Exception as exc:  # hydra's InstantiationException wraps the constructor's error
        cause = exc.__cause__ or exc
        raise ConfigError(f"optimizer/{name}: {' '.join(str(cause).split())}") from None


def model_fits(cfg: DictConfig) -> str | None:
    """Why the cell's model cannot take its dataset's inputs, or ``None`` when it can.

    Builds the model on the meta device and passes it a dummy batch of the dataset's
    ``input_shape``: no memory and no arithmetic, so even an ImageNet ResNet-50 costs a few
    milliseconds. Datasets without ``input_shape`` (toy functions) only build the model.
    """
    import torch

    shape = cfg.dataset.get("input_shape")
    try:
        with torch.device("meta"):
            model = build(cfg.model)
            if shape is not None:
                model.eval()(torch.empty(2, *shape))
    except Exception as exc:  # noqa: BLE001 - any failure means "does not fit"; hydra wraps the cause
        cause = exc.__cause__ or exc
        return " ".join(f"{type(cause).__name__}: {cause}".split())[:200]
    return None


def identity_config(cfg: DictConfig) -> dict[str, Any]:
    """The part of a finalized config that determines the cell's result."""
    data = OmegaConf.to_container(cfg, resolve=True)
    data = {k: v for k, v in data.items() if k not in NON_IDENTITY_KEYS}
    data["optimizer"] = {k: v for k, v in data["optimizer"].items() if k != "lr_grid"}
    data["trainer"] = {k: v for k, v in data["trainer"].items() if k not in NON_IDENTITY_TRAINER_KEYS}
    return data


def identity(cfg: DictConfig) -> dict[str, Any]:
    """The few coordinates that name a cell in tables."""
    return {
        "optimizer": cfg.optimizer.name,
        "model": cfg.model.name,
        "dataset": cfg.dataset.name,
        "lr": float(cfg.lr),
        "seed": int(cfg.seed),
    }


def cell_id(cfg: DictConfig) -> str:
    """Readable, stable directory name: coordinates plus a hash of the identity config."""
    digest = hashlib.sha256(json.dumps(identity_config(cfg), sort_keys=True).encode()).hexdigest()[:10]
    ident = identity(cfg)
    return f"{ident['optimizer']}_{ident['model']}_{ident['dataset']}_lr{ident['lr']:g}_s{ident['seed']}_{digest}"
