"""CPU intra-op threads per cell: chosen from what the cell runs and how many cells share the cores.

torch starts one intra-op thread per core. For a small model that buys nothing (a digits
MLP step is a few microseconds of arithmetic per op) and costs everything on a shared
machine: each op waits for a sibling thread that a neighbour's process has descheduled
(a digits cell beside a busy torch job: 10-21x slower at 2 threads, 1.0-1.7x at 1). Policy,
first match wins:

1. ``OPTBENCH_THREADS=k`` in the environment: k threads.
2. ``OMP_NUM_THREADS`` set by the user: torch already follows it. ``python -m bench`` notes
   the user's value in ``OPTBENCH_USER_OMP_NUM_THREADS`` before it starts workers, because
   joblib's workers get ``OMP_NUM_THREADS`` = their share of the cores from joblib itself.
3. A cell whose training step is below ``SMALL_STEP_FLOPS`` (``step_flops``: 3x the forward
   FLOPs of one batch, counted on the meta device): 1 thread. The threshold is measured
   (``python -m bench.perf threads``, README "Threads").
4. Otherwise the cell's share of the cores: ``cores // cells at once`` for a submitit *local*
   job (``hydra.sweeper.max_batch_size``), the ``OMP_NUM_THREADS`` joblib gave its worker,
   or every core (torch's default) when the cell has the machine to itself.

Multi-process CPU cells (``trainer=ddp_cpu``) are divided further by Lightning itself.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

LOCAL_LAUNCHER = "hydra/launcher=local"
MAX_BATCH = "hydra.sweeper.max_batch_size"
USER_OMP = "OPTBENCH_USER_OMP_NUM_THREADS"  # the user's OMP_NUM_THREADS ("" = unset), noted by python -m bench

# Training steps below this many FLOPs get one thread. `python -m bench.perf threads` on the
# shared 2-core dev machine (load ~11): a second thread made every step slower, 0.05-0.19x from
# 10 MFLOP (the digits MLP) to 2.9 GFLOP, 0.33-0.42x at 8 GFLOP (README "Threads"). A quiet-machine
# crossover could not be measured there; rerun the benchmark on your machine to move this.
SMALL_STEP_FLOPS = 1e9


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


def note_user_threads() -> None:
    """Remember the user's ``OMP_NUM_THREADS`` for the jobs (called before workers start)."""
    os.environ.setdefault(USER_OMP, os.environ.get("OMP_NUM_THREADS", ""))


def _user_omp() -> str:
    return os.environ.get(USER_OMP, os.environ.get("OMP_NUM_THREADS", "")).strip()


def _explicit() -> int | None:
    explicit = os.environ.get("OPTBENCH_THREADS", "").strip()
    if not explicit:
        return None
    if not explicit.isdigit() or int(explicit) < 1:
        raise ValueError(f"OPTBENCH_THREADS={explicit!r} is invalid: must be an integer >= 1")
    return int(explicit)


def threads_for_job() -> int | None:
    """The cell's share of the cores from rules 1, 2 and 4, or ``None`` to keep torch's default."""
    explicit = _explicit()
    if explicit is not None:
        return explicit
    if _user_omp():
        return None  # the user chose; torch follows OMP_NUM_THREADS
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) >= 1:  # a worker whose launcher (joblib, Lightning's DDP) set its share
        return int(omp)
    if os.environ.get("SUBMITIT_EXECUTOR") != "local":
        return None
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    parallel = HydraConfig.get().sweeper.get("max_batch_size") or 1
    return max(1, available_cores() // int(parallel))


@dataclass(frozen=True)
class ThreadChoice:
    count: int
    reason: str  # "OPTBENCH_THREADS", "OMP_NUM_THREADS", "small step (N MFLOP)", "share of the cores"

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "reason": self.reason}


def choose_threads(flops: float | None) -> tuple[int | None, str]:
    """(threads to set or ``None`` for torch's default, the rule that decided) for a step of ``flops``."""
    explicit = _explicit()
    if explicit is not None:
        return explicit, "OPTBENCH_THREADS"
    if _user_omp():
        return None, "OMP_NUM_THREADS"
    if flops is not None and flops < SMALL_STEP_FLOPS:
        return 1, f"small step ({flops / 1e6:.1f} MFLOP < {SMALL_STEP_FLOPS / 1e6:.0f})"
    return threads_for_job(), "share of the cores"


_PROCESS_DEFAULT: int | None = None  # torch's thread count before the first cell of this process


def configure_threads(flops: float | None = None) -> ThreadChoice:
    """Apply the policy to this process; return the thread count in effect and why.

    "Keep torch's default" restores the count this process started with, so a long-lived
    worker that ran a small cell at 1 thread gives the next, larger cell its share again.
    """
    import torch

    global _PROCESS_DEFAULT
    if _PROCESS_DEFAULT is None:
        _PROCESS_DEFAULT = torch.get_num_threads()
    threads, reason = choose_threads(flops)
    target = threads if threads is not None else _PROCESS_DEFAULT
    if target != torch.get_num_threads():
        torch.set_num_threads(target)
    return ThreadChoice(torch.get_num_threads(), reason)


def step_flops(model: Any, batch: Any) -> float:
    """FLOPs of one training step on ``batch``: 3x the forward pass (backward ~ 2x forward).

    Counted with ``torch.utils.flop_counter`` on whatever device ``model`` and ``batch`` are
    on; on the meta device it costs milliseconds and no memory. Ops the counter does not
    know (element-wise, pooling) count 0, so this is a lower bound dominated by matmuls and
    convolutions, which is what decides whether threads pay.
    """
    from torch.utils.flop_counter import FlopCounterMode

    inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
    with FlopCounterMode(display=False) as counter:
        model(inputs)
    return 3.0 * float(counter.get_total_flops())


def cell_step_flops(cfg: Any) -> float | None:
    """``step_flops`` of a finalized cell at its training batch size, or ``None`` if it cannot be counted.

    The model is built on the meta device and fed the data object's ``example_batch()``;
    the count is scaled from the example's rows (its first dimension) to
    ``dataset.batch_size`` when the dataset has one.
    """
    try:
        from omegaconf import OmegaConf

        key = json.dumps([OmegaConf.to_container(cfg.model, resolve=True),
                          OmegaConf.to_container(cfg.dataset, resolve=True)], sort_keys=True, default=str)
    except Exception:  # noqa: BLE001
        return None
    if key not in _FLOPS:
        _FLOPS[key] = _count_cell_flops(cfg)
    return _FLOPS[key]


_FLOPS: dict[str, float | None] = {}  # per model x dataset config: a worker counts the quickstart MLP once


def _count_cell_flops(cfg: Any) -> float | None:
    try:
        import torch

        from bench.config import build, build_data

        data = build_data(cfg)
        with torch.device("meta"):
            model = build(cfg.model)
            batch = data.example_batch()
            flops = step_flops(model, batch)
        inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
        rows = int(inputs.shape[0]) if getattr(inputs, "ndim", 0) else 1
        size = cfg.dataset.get("batch_size")
        return flops * int(size) / rows if isinstance(size, int) and rows else flops
    except Exception:  # noqa: BLE001 - no count means "no evidence the step is small": the share applies
        return None
