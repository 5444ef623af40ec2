"""Data-parallel cells (``trainer=ddp``, ``trainer=ddp_cpu``): batch semantics, sharding, launch.

**Batch size.** ``dataset.batch_size`` is the *global* batch, the number a paper reports. A cell
on ``W = devices x num_nodes`` processes gives each ``batch_size / W`` samples per step (``W``
must divide it); DDP averages the gradients, so one step sees the same samples, the same mean
gradient and the same learning rate as one step on one device. The record keeps
``global_batch_size``, ``per_device_batch_size`` and ``world_size``.

**Sharding** is the data object's business (``tasks.base.TaskData.rank_and_world``): Lightning
injects a ``DistributedSampler`` into ``torch.utils.data.DataLoader`` s, and the tensor loaders
take their rank and world size when the data module builds them.

**Launch.** With Lightning's subprocess launcher (``strategy=ddp`` without a cluster that
starts the processes), ranks 1.. re-run the command line of rank 0. Inside a sweep that line
names the whole sweep, so :func:`ranks_run_this_cell` narrows it to the cell's own overrides
for the duration of ``fit`` and cleans the process group up afterwards, so the next cell of
the same process starts a fresh one.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.config import ConfigError

log = logging.getLogger("bench")

# Environment variables Lightning's subprocess launcher sets in the launching process.
LAUNCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", "OMP_NUM_THREADS",
              "OPTBENCH_LAUNCH_ID")
# Where a rank reads its global rank before any process group exists (Lightning's order).
RANK_ENV = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def env_global_rank() -> int:
    """This process's global rank as its launcher's environment states it (0 when alone)."""
    for key in RANK_ENV:
        value = os.environ.get(key)
        if value is not None and value.strip().lstrip("-").isdigit():
            return int(value)
    return 0


def per_device_batch_size(global_batch: int, world_size: int) -> int:
    """``global_batch / world_size``; a ``ConfigError`` when it does not divide."""
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if global_batch % world_size:
        raise ConfigError(
            f"dataset.batch_size={global_batch} is the global batch and must be divisible by the "
            f"{world_size} data-parallel processes (trainer.devices x trainer.num_nodes)"
        )
    return global_batch // world_size


def ddp_strategy(strategy: Any, unused_parameters: bool) -> Any:
    """The Trainer ``strategy`` for a task: Lightning's DDP strategies by name (``ddp``,
    ``ddp_spawn``, ``ddp_fork``, ``ddp_notebook``) become their ``_find_unused_parameters_true``
    form when the task's backward passes leave some parameters without a gradient
    (``Task.ddp_unused_parameters``); without it DDP's reducer waits for those gradients and the
    next step fails. Any other value (``auto``, a strategy object, an explicit
    ``..._find_unused_parameters_false``) is returned as it is."""
    if unused_parameters and strategy in ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook"):
        return f"{strategy}_find_unused_parameters_true"
    return strategy


def cluster_plugins() -> list[Any]:
    """Trainer plugins: under SLURM, Lightning's auto-requeue is switched off.

    Preemption is handled by :mod:`bench.preemption` and requeueing by submitit, so there is
    one mechanism, and no ``hpc_ckpt_*.ckpt`` competes with the cell's ``last.ckpt``.
    """
    from lightning_fabric.plugins.environments import SLURMEnvironment

    if SLURMEnvironment.detect():
        return [SLURMEnvironment(auto_requeue=False)]
    return []


def spawns_ranks(trainer: Any) -> bool:
    """True when ``trainer.fit`` will start ranks 1.. by re-running the command line."""
    from lightning_fabric.strategies.launchers.subprocess_script import _SubprocessScriptLauncher as FabricLauncher
    from pytorch_lightning.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

    launcher = getattr(trainer.strategy, "launcher", None)
    if not isinstance(launcher, (_SubprocessScriptLauncher, FabricLauncher)):
        return False
    return trainer.world_size > 1 and not launcher.cluster_environment.creates_processes_externally


@contextmanager
def ranks_run_this_cell(trainer: Any, launch_id: str) -> Iterator[None]:
    """Around ``trainer.fit``: spawned ranks re-run exactly this cell (``python -m bench <cell>``).

    Lightning builds the ranks' command from ``__main__``'s module name and ``sys.argv``; both
    are pointed at ``bench`` and the cell's own overrides for the call, then restored. After
    ``fit`` the spawned ranks are awaited, the process group destroyed and the launcher's
    environment variables removed, so a later cell of this process launches afresh.
    """
    if not spawns_ranks(trainer):
        yield
        return
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        raise RuntimeError("a multi-process cell must be started by `python -m bench` (Hydra job config missing)")
    import __main__
    import torch

    saved_argv, saved_spec = list(sys.argv), getattr(__main__, "__spec__", None)
    saved_env = {key: os.environ.get(key) for key in LAUNCH_ENV}
    saved_threads = torch.get_num_threads()
    job = HydraConfig.get()
    ranks_dir = Path(job.runtime.output_dir) / "ranks"  # the ranks' own Hydra output, inside this job's
    sys.argv = [sys.argv[0], *job.overrides.task, f"hydra.sweep.dir={ranks_dir}"]
    __main__.__spec__ = importlib.util.find_spec("bench.__main__")
    os.environ["OPTBENCH_LAUNCH_ID"] = launch_id
    try:
        yield
    finally:
        sys.argv, __main__.__spec__ = saved_argv, saved_spec
        _await_ranks(trainer)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        torch.set_num_threads(saved_threads)


def _await_ranks(trainer: Any, timeout: float = 120.0) -> None:
    import subprocess

    procs = list(getattr(trainer.strategy.launcher, "procs", []) or [])
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("rank process %d did not exit %.0f s after the cell; killing it", proc.pid, timeout)
            _detach_observers(procs)
            proc.kill()
            proc.wait()


def _detach_observers(procs: list[Any]) -> None:
    """Stop Lightning's child watchdog from killing this process when we kill a hung rank."""
    for thread in threading.enumerate():
        if getattr(thread, "_child_processes", None) is not None and set(map(id, thread._child_processes)) & set(map(id, procs)):
            thread._child_processes = []
