"""Checks of the machine before a sweep launches: can every planned cell actually start?

Run by ``python -m bench`` after the plan is composed and before anything is written:

- the runs directory can be created and written (a probe file; ``--dry-run`` only looks);
- no cell's record was written by a newer optbench (such a record is never overwritten);
- each distinct data object's :meth:`tasks.base.TaskData.preflight` (files present, headers);
- each distinct trainer's accelerator exists here (``trainer=gpu`` on a CPU-only machine).

Launchers that run cells on other machines (SLURM) skip the two checks of *this* machine
(data files, accelerator) and say so. Each problem is one line naming the path or key and
the fix; the caller turns the first into the exit-2 error (``--dry-run``: warnings).
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from bench.checkcache import CheckCache, check_key
from bench.plan import Checker, Planned
from bench.record import newer_schema

REMOTE_LAUNCHERS = ("slurm", "submitit_slurm")  # hydra/launcher options that run cells elsewhere


def remote_launcher(argv: list[str]) -> str | None:
    """The ``hydra/launcher`` of ``argv`` when it runs cells on other machines, else ``None``."""
    for arg in argv:
        key, _, value = arg.lstrip("+~").partition("=")
        if key == "hydra/launcher" and value in REMOTE_LAUNCHERS:
            return value
    return None


def check_runs_dir(runs: Path, probe: bool = True) -> str | None:
    """Why cells cannot be written under ``runs`` (``None`` when they can).

    With ``probe`` the directory is created (as a launch would) and a probe file written and
    removed; without it (dry run) nothing is written: the nearest existing ancestor must be a
    writable directory.
    """
    runs = Path(runs).expanduser()
    fix = "set paths.runs=DIR (or OPTBENCH_RUNS=DIR) to a writable directory"
    existing = runs
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"paths.runs={runs}: '{existing}' is not a directory; {fix}"
    if not probe:
        if not os.access(existing, os.W_OK | os.X_OK):
            return f"paths.runs={runs}: '{existing}' is not writable; {fix}"
        return None
    try:
        runs.mkdir(parents=True, exist_ok=True)
        probe_file = runs / f".optbench-probe-{os.getpid()}"
        probe_file.write_text("probe\n")
        probe_file.unlink()
    except OSError as exc:
        return f"paths.runs={runs}: cannot write there ({exc.strerror or type(exc).__name__}); {fix}"
    return None


def check_accelerator(trainer: DictConfig) -> str | None:
    """Why the trainer's accelerator is missing on this machine (``None`` when it is there)."""
    accelerator = str(trainer.get("accelerator", "cpu"))
    if accelerator not in ("gpu", "cuda"):
        return None
    import torch

    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if available == 0:
        return (f"trainer.accelerator={accelerator}: this machine has no CUDA GPU (torch.cuda.is_available() is "
                f"False); use trainer=cpu, or hydra/launcher=slurm to run the cells on GPU nodes")
    devices = trainer.get("devices", 1)
    if isinstance(devices, int) and not isinstance(devices, bool) and devices > available:
        return (f"trainer.devices={devices}: this machine has {available} CUDA GPU(s); "
                f"set trainer.devices={available} or fewer")
    return None


def check_data(cfg: DictConfig, cache: CheckCache | None = None, checker: Checker | None = None) -> list[str]:
    """The cell's data object's own preflight (file existence and headers), run by ``checker``
    (default: here; see :func:`bench.plan.run_checks`).

    A data class that reads no files (it keeps the base
    ``TaskData.preflight``) is remembered in ``cache`` as having nothing to check, so a later
    plan of it imports neither its module nor Lightning (see :mod:`bench.checkcache`).
    """
    key = check_key("preflight-free", {"_target_": cfg.dataset._target_})
    if cache is not None and cache.get(key):
        return []
    if checker is None:
        problems, files_free = data_problems(cfg)
    else:
        [(_, (problems, files_free))] = checker([("data", OmegaConf.to_container(cfg))])
    if cache is not None and files_free:
        cache.put(key)
    return [" ".join(str(m).split()) for m in problems]


def data_problems(cfg: DictConfig) -> tuple[list[str], bool]:
    """``(problems, files_free)``: the data object's preflight, one line each, and whether its
    class keeps the base ``TaskData.preflight`` (it reads no files)."""
    from bench.config import build_data
    from tasks.base import TaskData

    try:
        data = build_data(cfg)
        problems = data.preflight()
    except OSError as exc:  # e.g. a data folder that cannot be listed
        return [f"dataset={cfg.dataset.get('name', '?')}: cannot check its files ({exc})"], False
    return [str(m) for m in problems], type(data).preflight is TaskData.preflight


def preflight(planned: Planned, argv: list[str], dry_run: bool = False,
              checker: Checker | None = None) -> tuple[list[str], list[str]]:
    """``(problems, notes)`` for the planned sweep; problems are one line each. ``checker``
    runs the data checks the check cache does not hold (``bench.plan.run_checks``)."""
    problems: list[str] = []
    notes: list[str] = []

    def add(problem: str | None) -> None:
        if problem and problem not in problems:
            problems.append(problem)

    runs_dirs = list(dict.fromkeys(Path(cfg.paths.runs) for cfg in planned.configs))
    for runs in runs_dirs:  # look first: nothing is created while any other check can still fail
        add(check_runs_dir(runs, probe=False))
    for run_dir in planned.run_dirs:
        add(newer_schema(run_dir))
    remote = remote_launcher(argv)
    if remote:
        notes.append(f"hydra/launcher={remote} runs the cells on other machines: "
                     f"data files and accelerators are not checked here")
    seen: set[str] = set()
    cache = CheckCache()
    for cfg in [] if remote else planned.configs:
        for kind, node in (("data", cfg.dataset), ("trainer", cfg.trainer)):
            key = kind + repr(OmegaConf.to_container(node, resolve=True))
            if key in seen:
                continue
            seen.add(key)
            if kind == "data":
                for problem in check_data(cfg, cache, checker):
                    add(problem)
            else:
                add(check_accelerator(cfg.trainer))
    cache.save()
    if not problems and not dry_run:  # then really write there (create the directory, a probe file)
        for runs in runs_dirs:
            add(check_runs_dir(runs, probe=True))
    return problems, notes
