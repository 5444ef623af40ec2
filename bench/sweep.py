"""Expanding what the user typed into one Hydra job per cell.

The user's overrides give a Cartesian product of jobs (Hydra's basic sweep syntax:
``optimizer=adam,sgd``). Each job is then widened by what its own composed config asks
for, which differs per job and so cannot be a flat Hydra product:

1. ``sweep`` axes an experiment declares (``sweep: {optimizer: [...], model: [...]}``),
   unless the user pinned that group;
2. the optimizer's learning-rate grid (``lr_grids[name]`` or ``optimizer.lr_grid``),
   unless the user pinned ``lr``;
3. ``seeds``, unless the user pinned ``seed``.

Every cell is validated before anything is launched, so a typo fails fast and writes
nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from omegaconf import DictConfig

from bench.config import lr_grid, validate

Compose = Callable[[list[str]], DictConfig]
VALUE_KEYS = ("lr", "seed")  # per-cell plain values, set on a config composed without them


def override_key(override: str) -> str:
    """``'+smoke=true'`` -> ``'smoke'``; ``'optimizer=adam'`` -> ``'optimizer'``."""
    return override.split("=", 1)[0].lstrip("+~")


def plan_job(job: Sequence[str], compose: Compose) -> list[tuple[list[str], DictConfig]]:
    """All cells of one job of the user's sweep, as (overrides, composed config) pairs."""
    job = list(job)
    pinned = {override_key(o) for o in job}
    cfg = compose(job)
    axes = [(group, list(choices)) for group, choices in (cfg.get("sweep") or {}).items() if group not in pinned]
    cells: list[tuple[list[str], DictConfig]] = []
    for combo in itertools.product(*(choices for _, choices in axes)):
        overrides = job + [f"{group}={choice}" for (group, _), choice in zip(axes, combo)]
        cell_cfg = compose(overrides) if axes else cfg
        validate(cell_cfg)
        lrs = [None] if "lr" in pinned else lr_grid(cell_cfg)
        seeds = [None] if "seed" in pinned else list(cell_cfg.seeds)
        for lr, seed in itertools.product(lrs, seeds):
            cell, final = list(overrides), cell_cfg.copy()
            if lr is not None:
                cell.append(f"lr={lr!r}")
                final.lr = lr
            if seed is not None:
                cell.append(f"seed={seed}")
                final.seed = seed
            cells.append((cell, final))
    return cells


def plan(jobs: Sequence[Sequence[str]], compose: Compose) -> list[tuple[list[str], DictConfig]]:
    """Cells of every job as (overrides, config) pairs; duplicates removed, order kept."""
    seen: set[tuple[str, ...]] = set()
    cells: list[tuple[list[str], DictConfig]] = []
    for job in jobs:
        for cell, cfg in plan_job(job, compose):
            key = tuple(sorted(cell))
            if key not in seen:
                seen.add(key)
                cells.append((cell, cfg))
    return cells


def expand(jobs: Sequence[Sequence[str]], compose: Compose) -> list[list[str]]:
    """Cells (override lists) of every job; duplicates removed, order kept."""
    return [cell for cell, _ in plan(jobs, compose)]

