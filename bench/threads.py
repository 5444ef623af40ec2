"""CPU threads per cell when several cells share a machine (``hydra/launcher=local``).

``torch`` starts one intra-op thread per core; N cells in parallel would run N x cores
threads on the same cores. Policy, first match wins:

1. ``OPTBENCH_THREADS=k`` in the environment: k threads.
2. ``OMP_NUM_THREADS`` set: torch already follows it.
3. A submitit *local* job: ``cores // hydra.sweeper.max_batch_size`` (at least 1), the cells
   the launcher runs at once (``python -m bench`` sets one per core unless you pass
   ``hydra.sweeper.max_batch_size``).
4. Otherwise torch's default.

Multi-process CPU cells (``trainer=ddp_cpu``) are divided further by Lightning itself.
"""

from __future__ import annotations

import os

LOCAL_LAUNCHER = "hydra/launcher=local"
MAX_BATCH = "hydra.sweeper.max_batch_size"


def local_parallelism(argv: list[str]) -> list[str]:
    """With ``hydra/launcher=local`` and no explicit cap, run one cell per CPU core at a time."""
    if LOCAL_LAUNCHER in argv and not any(a.lstrip("+").startswith(f"{MAX_BATCH}=") for a in argv):
        return [*argv, f"{MAX_BATCH}={available_cores()}"]
    return argv


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_for_job() -> int | None:
    """The thread count the policy above picks, or ``None`` to keep torch's default."""
    explicit = os.environ.get("OPTBENCH_THREADS", "").strip()
    if explicit:
        if not explicit.isdigit() or int(explicit) < 1:
            raise ValueError(f"OPTBENCH_THREADS={explicit!r} is invalid: must be an integer >= 1")
        return int(explicit)
    if os.environ.get("SUBMITIT_EXECUTOR") != "local" or os.environ.get("OMP_NUM_THREADS"):
        return None  # not a local job, or threads already chosen (e.g. by Lightning for DDP ranks)
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    parallel = HydraConfig.get().sweeper.get("max_batch_size") or 1
    return max(1, available_cores() // int(parallel))


def configure_threads() -> int:
    """Apply the policy; return the thread count in effect."""
    import torch

    threads = threads_for_job()
    if threads is not None and threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    return torch.get_num_threads()
