"""Run one cell: build data, model, optimizer and Trainer from config; keep its record.

Statuses: ``ok`` (trained all epochs), ``diverged`` (non-finite training loss; history up
to that point kept), ``failed`` (exception; traceback kept), ``running`` (in progress or
killed). ``ok`` and ``diverged`` cells are skipped when the sweep is relaunched; the others
resume from ``last.ckpt`` when there is one.
"""

from __future__ import annotations

import copy
import csv
import gc
import logging
import sys
import time
import traceback
import warnings
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from bench import environment
from bench.callbacks import (AtomicLastCheckpoint, EpochCommitted, History, OptimizerEpochHook, StepBudget,
                             flush_checkpoint)
from bench.config import build, build_data, identity, optimizer_node, strip_metadata, task_class
from bench.distributed import (cluster_plugins, ddp_strategy, env_global_rank, per_device_batch_size,
                               ranks_run_this_cell)
from bench.lock import CellLock, describe_holder, wait_for_launch
from bench.loggers import make_tracker
from bench.plain_config import to_dictconfig
from bench.plan import planned_entry
from bench.preemption import Preemption, stop_exceptions
from bench.record import (FINISHED, SCHEMA_VERSION, RecordError, Status, move_aside, newer_schema, read_record,
                          read_status, write_record)
from bench.threads import ThreadChoice, cell_step_flops, configure_threads
from tasks import Diverged

log = logging.getLogger("bench")

# Trainer-preset keys the runner handles itself (not pytorch_lightning.Trainer arguments).
RUNNER_TRAINER_KEYS = ("channels_last", "compile", "matmul_precision")
SMOKE_BATCHES = 2


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _quiet_lightning() -> None:
    """Drop per-cell chatter that says nothing about the cell (banners, known deprecations)."""
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*Checkpoint directory .* exists and is not empty")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # epoch metrics are reduced across ranks by the module itself (one reduce per epoch)
    warnings.filterwarnings("ignore", message=r".*when logging on epoch level in distributed setting")
    # a packed epoch's task evaluates itself, so Lightning's validation loop gets an empty list
    # (TaskData.evaluated_by_task); an empty DataLoader of the user's still warns
    warnings.filterwarnings("ignore", message=r"Total length of `list` across ranks is zero")


def optimizer_factory(cfg: DictConfig):
    """``(params, role="model") -> Optimizer`` with the cell's learning rate bound and each
    role's own hyperparameters (``optimizer_roles``, see :func:`bench.config.finalize`)."""
    makers = {role: build(optimizer_node(cfg, role), lr=float(cfg.lr)) for role in task_class(cfg).roles}

    def factory(params: Any, role: str = "model") -> torch.optim.Optimizer:
        if role not in makers:
            raise ValueError(f"optimizer role {role!r} is not one of this task's roles: {', '.join(makers)}")
        return makers[role](params)

    return factory


def scheduler_factory(cfg: DictConfig):
    """``optimizer -> Lightning lr_scheduler dict`` from the ``schedule`` group."""
    interval = cfg.schedule.get("interval", "epoch")
    make = build(cfg.schedule)

    def factory(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        return {"scheduler": make(optimizer), "interval": interval}

    return factory


def summarize(history: list[dict[str, Any]], metric: str, mode: str) -> tuple[dict, dict]:
    """(final, best) entries: each key's latest value (a row holds only the metrics logged
    since the previous one), and the row with the best validation metric."""
    if not history:
        return {}, {}
    final: dict[str, Any] = {}
    for row in history:
        final.update(row)
    final = {k: v for k, v in final.items() if k not in ("epoch", "step", "time")}
    key = f"val_{metric}"
    scored = [h for h in history if isinstance(h.get(key), float) and h[key] == h[key]]
    if not scored:
        return final, {}
    pick = max if mode == "max" else min
    best = pick(scored, key=lambda h: h[key])
    return final, {k: v for k, v in best.items() if k != "time"}


def write_metrics_csv(run_dir: Path, history: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for entry in history:
        columns += [k for k in entry if k not in columns]
    tmp = run_dir / ".metrics.csv.tmp"
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)
    tmp.replace(run_dir / "metrics.csv")


class CellRecord:
    """The record of one cell, rewritten atomically whenever it changes."""

    def __init__(self, cfg: DictConfig, run_dir: Path, task: type, config: dict[str, Any] | None = None) -> None:
        """``config``: ``cfg`` resolved as a plain dict, when the caller has it (a plan entry's)."""
        self.run_dir = run_dir
        self.csv = bool(cfg.logger.get("csv", cfg.logger.get("kind") == "csv"))
        self.enabled = env_global_rank() == 0  # only global rank 0 writes (multi-process cells)
        self.data: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "experiment": cfg.experiment_name,
            "cell_id": run_dir.name,
            "status": str(Status.RUNNING),
            "identity": identity(cfg),
            "reproduces": OmegaConf.to_container(cfg.reproduces) if cfg.reproduces else None,
            "metric": task.metric.to_dict(),  # the selection metric: name, mode, unit, scale, label
            "metrics": {name: m.to_dict() for name, m in task.metrics().items()},
            "budget": budget(cfg),
            "config": copy.deepcopy(config) if config is not None else OmegaConf.to_container(cfg, resolve=True),
            "history": [],
            "final": {},
            "best": {},
            "wall_time": 0.0,
            "device": None,
            "versions": environment.versions(),
            "git_commit": environment.git_commit(),
            "error": None,
            "extras": None,
            "started_at": _now(),
            "finished_at": None,
        }
        self.floor: list[dict[str, Any]] = []  # history already recorded that a resume must not shrink

    def update(self, history: list[dict[str, Any]] | None = None, **fields: Any) -> None:
        if history is not None and len(history) < len(self.floor):
            history = self.floor  # a resume that failed before restoring its checkpoint: keep what was recorded
        if history is not None:
            before = self.data.get(RESTART_KEY)
            if before is not None and len(history) >= len(before):
                del self.data[RESTART_KEY]  # the new run has caught up with the discarded one
            self.data["history"] = [dict(h) for h in history]
            final, best = summarize(history, self.data["metric"]["name"], self.data["metric"]["mode"])
            self.data.update(final=final, best=best, wall_time=history[-1]["time"] if history else 0.0)
        if "status" in fields:
            fields["status"] = str(Status(fields["status"]))  # a plain string in JSON, wandb and elsewhere
        self.data.update(fields)
        if not self.enabled:
            return
        write_record(self.run_dir, self.data)
        if self.csv and self.data["history"]:
            write_metrics_csv(self.run_dir, self.data["history"])


def run_cell(cfg: DictConfig, planned: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run (or skip, or resume) the cell ``cfg`` describes and return its record.

    ``planned`` is the cell's entry of the sweep's plan (:func:`bench.plan.planned_cell`):
    its finalized config and run directory are used as they are. Without it the cell is
    finalized and hashed here. One process trains a cell at a time (``bench.lock``): a cell
    another process holds is skipped. A stop signal ends the cell cleanly and requeues it
    (``bench.preemption``).
    """
    _quiet_lightning()
    environment.drop_nvml_check_without_nvml()
    environment.scan_entry_points_once()
    _collect_previous_cell()
    if planned is None:  # finalized, hashed and resolved here, as the plan does for its jobs
        planned = planned_entry(cfg)
    cfg, run_dir = to_dictconfig(planned["config"]), Path(planned["run_dir"])
    threads = configure_threads(cell_step_flops(cfg))
    label = f"{cfg.optimizer.name} {cfg.model.name}/{cfg.dataset.name} lr={cfg.lr:g} seed={cfg.seed}"
    newer = newer_schema(run_dir)
    if newer is not None:  # written by a newer optbench: never overwrite it
        log.error("skip   %s", newer)
        return {}
    finished = _finished_record(run_dir, label)
    if finished is not None:
        return finished
    lock = CellLock(run_dir)
    if env_global_rank() == 0:
        if not lock.acquire():
            log.info("busy   %s: running elsewhere (%s trains it); skipped", run_dir.name,
                     describe_holder(lock.holder()))
            return _current_record(run_dir)
    elif not wait_for_launch(run_dir, lock.launch_id, lambda: read_status(run_dir) in FINISHED):
        log.info("skip   %s: rank 0 of this launch does not train it", run_dir.name)
        return {}
    global _LAST_CELL_SECONDS
    tic = time.perf_counter()
    try:
        finished = _finished_record(run_dir, label)  # again under the lock: another launch may have just finished it
        if finished is not None:
            return finished
        with Preemption() as preemption:
            return _run_cell(cfg, run_dir, label, lock.launch_id, preemption, threads, planned["config"])
    finally:
        lock.release()
        _LAST_CELL_SECONDS = time.perf_counter() - tic


_LAST_CELL_SECONDS = 0.0  # training time of the previous cell run in this process
COLLECT_AFTER_S = 20.0  # cells shorter than this are too small for the collection to matter


def _collect_previous_cell() -> None:
    """Free the previous cell's model, gradients and optimizer state before building the next.

    Lightning's objects reference each other in cycles, so after a cell they wait for
    Python's cyclic collector, and in a long in-process sweep several cells' models (and
    their GPU memory) pile up. A full ``gc.collect()`` costs ~0.2 s, so it runs after cells
    that took longer than ``COLLECT_AFTER_S`` (where it is < 1% of the cell) or used CUDA.
    """
    global _LAST_CELL_SECONDS
    if _LAST_CELL_SECONDS > COLLECT_AFTER_S or torch.cuda.is_initialized():
        gc.collect()
        if torch.cuda.is_initialized():
            torch.cuda.empty_cache()
    _LAST_CELL_SECONDS = 0.0


def _finished_record(run_dir: Path, label: str) -> dict[str, Any] | None:
    """The record of a finished cell (logging the skip), or ``None`` if it still has to run."""
    status = read_status(run_dir)
    if status not in FINISHED:
        return None
    log.info("skip   %s: already %s (%s)", label, status, run_dir)
    return read_record(run_dir)


def _current_record(run_dir: Path) -> dict[str, Any]:
    try:
        return read_record(run_dir)
    except (FileNotFoundError, RecordError):
        return {}


def _run_cell(cfg: DictConfig, run_dir: Path, label: str, launch_id: str, preemption: Preemption,
              threads: ThreadChoice | None = None, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train (or resume) the finalized cell ``cfg`` into ``run_dir``; the caller holds its lock."""
    ckpt = run_dir / "last.ckpt"
    run_dir.mkdir(parents=True, exist_ok=True)
    owner = env_global_rank() == 0  # only global rank 0 moves files; the other ranks only look
    previous, recovery = _previous_record(run_dir, label, owner)
    resume = ckpt if ckpt.exists() else None
    if resume is not None:
        problem = checkpoint_problem(ckpt)
        if problem is not None and not owner:
            resume = None
        elif problem is not None:
            moved = move_aside(ckpt)
            recovery.append({"file": ckpt.name, "moved_to": moved.name, "error": problem, "at": _now()})
            log.warning("corrupt %s: %s cannot be read (%s); moved to %s, restarting from scratch", label,
                        ckpt.name, problem, moved.name)
            resume = None

    smoke = bool(cfg.get("smoke", False))
    record = CellRecord(cfg, run_dir, task_class(cfg), config)
    _carry_over(record, previous, recovery, resumed=resume is not None)
    tracker = None
    trainer: pl.Trainer | None = None

    logged = 0  # rows handed to the tracker (the record is published only when last.ckpt is written)

    def log_rows(entries: list[dict[str, Any]]) -> None:
        nonlocal logged
        if tracker is not None:
            for row in entries[max(logged, history.restored):]:
                tracker.log_epoch(row)
        logged = len(entries)

    def on_epoch(entries: list[dict[str, Any]]) -> None:
        record.update(history=entries, status=Status.RUNNING, extras=history.extras)
        log_rows(entries)

    history = History(on_epoch=on_epoch, per=budget(cfg)["per"])
    log.info("%s %s -> %s", "resume" if resume else "run   ", label, run_dir)
    tic = time.perf_counter()
    try:
        trainer, module, datamodule = _build(cfg, history, run_dir, smoke, preemption)
        record.enabled = trainer.is_global_zero
        world = trainer.world_size
        record.update(device=environment.describe_device(trainer.strategy.root_device),
                      resumed_from=str(resume) if resume else None, world_size=world,
                      global_batch_size=cfg.dataset.get("batch_size"),
                      per_device_batch_size=datamodule_batch_size(datamodule),
                      threads=threads.to_dict() if threads else None)
        tracker = make_tracker(cfg, run_dir, record.data, trainer.is_global_zero)
        if tracker is not None:
            tracker.start()
        with ranks_run_this_cell(trainer, launch_id):
            trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume) if resume else None)
        if flush_checkpoint(trainer):  # the last evaluation, if the interval held it in memory: on disk first,
            log_rows(history.entries)  # then in the record, written once below with its final status
        final_status, error = Status.OK, None
    except stop_exceptions():
        _commit(trainer, history)
        record.update(history=history.entries, status=Status.RUNNING, extras=history.extras,
                      preempted=preemption.describe(len(history.entries)))
        log.warning("preempted %s after %d epoch(s); last.ckpt kept for the resume", label, len(history.entries))
        if tracker is not None:
            tracker.finish(record.data)
        if record.enabled:
            preemption.requeue_or_exit()
        return record.data
    except Diverged as exc:
        final_status, error = Status.DIVERGED, str(exc)
    except Exception as exc:  # noqa: BLE001 — a failed cell must never stop the sweep
        _commit(trainer, history)  # a relaunch resumes from the last completed evaluation
        final_status, error = Status.FAILED, "".join(traceback.format_exception(exc))
        log.error("failed %s: %s", label, f"{type(exc).__name__}: {exc}".splitlines()[0])
    record.update(history=history.entries, status=final_status, error=error, finished_at=_now(), extras=history.extras)
    if tracker is not None:
        tracker.finish(record.data)
    log.info("%-6s %s: %s (%.1f s)", final_status, label, _headline(record.data), time.perf_counter() - tic)
    return record.data


RESTART_KEY = "history_before_restart"  # rows of a run whose checkpoint was lost, until the new run passes them


def checkpoint_problem(path: Path) -> str | None:
    """Why ``last.ckpt`` cannot be resumed from (``None`` when it loads). Memory-mapped, so
    checking even a large checkpoint reads little more than its index."""
    try:
        if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; its index is at the end
            return f"not a complete torch checkpoint ({path.stat().st_size} bytes: truncated or overwritten)"
        state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as exc:  # noqa: BLE001 - garbage, truncation and foreign files all mean "unusable"
        return " ".join(f"{type(exc).__name__}: {exc}".split())[:160]
    if not isinstance(state, dict) or "state_dict" not in state or "loops" not in state:
        return "not a Lightning checkpoint (no state_dict/loops)"
    return None


def _previous_record(run_dir: Path, label: str, owner: bool = True) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The cell's earlier record (``None`` if none) and its recovery notes. An unreadable
    ``record.json`` is moved aside (``record.json.corrupt-<time>``), never overwritten:
    the history it held is restored from ``last.ckpt``."""
    path = run_dir / "record.json"
    if not path.exists():
        return None, []
    try:
        previous = read_record(run_dir)
    except (OSError, RecordError) as exc:
        if not owner:
            return None, []
        moved = move_aside(path)
        log.warning("corrupt %s: record.json cannot be read (%s); moved to %s", label, exc, moved.name)
        return None, [{"file": "record.json", "moved_to": moved.name, "error": str(exc), "at": _now()}]
    return previous, list(previous.get("recovery") or [])


def _carry_over(record: CellRecord, previous: dict[str, Any] | None, recovery: list[dict[str, Any]],
                resumed: bool) -> None:
    """Start the new record from what the old one held, so no recorded row is ever lost."""
    if recovery:
        record.data["recovery"] = recovery
    if previous is None:
        return
    rows = list(previous.get("history") or [])
    before = list(previous.get(RESTART_KEY) or [])
    if resumed:
        record.floor = rows
        for key in ("history", "final", "best", "wall_time"):
            if key in previous:
                record.data[key] = previous[key]
        if before:
            record.data[RESTART_KEY] = before
    elif rows or before:  # no usable checkpoint: a fresh start that keeps the old rows beside it
        record.data[RESTART_KEY] = rows if len(rows) >= len(before) else before


def _commit(trainer: pl.Trainer | None, history: History) -> None:
    """Write the evaluation the checkpoint interval held in memory, then publish the history."""
    if flush_checkpoint(trainer):
        history.publish(trainer)


def budget(cfg: DictConfig) -> dict[str, Any]:
    """The cell's budget: ``{"per": "epoch", "epochs": N, "eval_every": k}`` or
    ``{"per": "step", "max_steps": N, "eval_every": k}`` (``max_steps`` set in the config)."""
    eval_every = int(cfg.get("eval_every", 1))
    if cfg.get("max_steps") is not None:
        return {"per": "step", "max_steps": int(cfg.max_steps), "eval_every": eval_every}
    return {"per": "epoch", "epochs": int(cfg.epochs), "eval_every": eval_every}


def _budget_trainer_args(cfg: DictConfig, smoke: bool) -> tuple[dict[str, Any], list[pl.Callback]]:
    plan = budget(cfg)
    if plan["per"] == "epoch":
        epochs = min(plan["epochs"], 2) if smoke else plan["epochs"]
        return {"max_epochs": epochs, "check_val_every_n_epoch": plan["eval_every"]}, []
    steps = min(plan["max_steps"], 2 * SMOKE_BATCHES) if smoke else plan["max_steps"]
    every = min(plan["eval_every"], SMOKE_BATCHES) if smoke else plan["eval_every"]
    return ({"max_epochs": -1, "max_steps": -1, "val_check_interval": every, "check_val_every_n_epoch": None},
            [StepBudget(steps)])


def _build(cfg: DictConfig, history: History, run_dir: Path, smoke: bool,
           preemption: Preemption) -> tuple[pl.Trainer, pl.LightningModule, Any]:
    """Seeded construction of the Trainer, LightningModule and data module of a cell.

    The Trainer comes first: its world size turns the global ``dataset.batch_size`` into the
    per-device batch the data module is built with (``bench.distributed``).
    """
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    trainer_cfg = strip_metadata(cfg.trainer)
    runner_opts = {k: trainer_cfg.pop(k) for k in RUNNER_TRAINER_KEYS if k in trainer_cfg}
    if "strategy" in trainer_cfg:
        trainer_cfg["strategy"] = ddp_strategy(trainer_cfg["strategy"], task_class(cfg).ddp_unused_parameters)
    if runner_opts.get("matmul_precision"):
        torch.set_float32_matmul_precision(runner_opts["matmul_precision"])
    budget_args, budget_callbacks = _budget_trainer_args(cfg, smoke)
    if cfg.get("probes"):
        from bench.probes import build_probes

        budget_callbacks += build_probes(OmegaConf.to_container(cfg.probes))
    checkpoint = AtomicLastCheckpoint(run_dir, per=history.per, every_s=float(cfg.get("checkpoint_every_s", 0) or 0))
    trainer = pl.Trainer(
        **trainer_cfg,
        **budget_args,
        limit_train_batches=SMOKE_BATCHES if smoke and history.per == "epoch" else None,
        limit_val_batches=SMOKE_BATCHES if smoke else None,
        gradient_clip_val=cfg.grad_clip,
        callbacks=[OptimizerEpochHook(), *budget_callbacks, preemption, history,
                   checkpoint, EpochCommitted(history, checkpoint)],
        plugins=cluster_plugins(),
        logger=False,
        enable_progress_bar=sys.stderr.isatty(),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=str(run_dir),
    )
    data_kw: dict[str, Any] = {"smoke": True} if smoke else {}
    if trainer.world_size > 1 and cfg.dataset.get("batch_size") is not None:
        data_kw["batch_size"] = per_device_batch_size(int(cfg.dataset.batch_size), trainer.world_size)
    datamodule = build_data(cfg, **data_kw)
    datamodule.eval_test_every_epoch = bool(cfg.eval_test_every_epoch)
    model = build(cfg.model)
    if runner_opts.get("channels_last"):
        model = model.to(memory_format=torch.channels_last)
    module = build(
        cfg.module,
        model=model,
        optimizer_factory=optimizer_factory(cfg),
        scheduler_factory=scheduler_factory(cfg),
        divergence_check_every=int(cfg.divergence_check_every),
    )
    if cfg.get("probes") or smoke or history.per == "step" or not module.packs_steps:
        # probes, step budgets and smoke's batch limit count Lightning batches: one step each
        datamodule.steps_per_call = 1
    datamodule.evaluate_in_task = datamodule.steps_per_call > 1 and evaluation_unobserved(trainer)
    if runner_opts.get("compile"):
        module.model = torch.compile(module.model)
    return trainer, module, datamodule


EVALUATION_HOOKS = ("on_validation_start", "on_validation_epoch_start", "on_validation_batch_start",
                    "on_validation_batch_end", "on_validation_epoch_end", "on_validation_end")
# the runner's callbacks whose evaluation hooks do nothing under an epoch budget (the only one packed)
EPOCH_BUDGET_CALLBACKS = (OptimizerEpochHook, Preemption, History, AtomicLastCheckpoint, EpochCommitted)


def evaluation_unobserved(trainer: pl.Trainer) -> bool:
    """Whether a packed epoch's task may evaluate its splits itself (``TaskData.evaluate_in_task``):
    one process, Lightning's pass-through profiler, and no callback but the runner's own (under
    an epoch budget) overriding an evaluation hook (a progress bar, a user's callback)."""
    from pytorch_lightning.profilers import PassThroughProfiler
    from pytorch_lightning.utilities.model_helpers import is_overridden

    return (trainer.world_size == 1 and type(trainer.profiler) is PassThroughProfiler
            and not any(is_overridden(hook, cb, pl.Callback) for cb in trainer.callbacks
                        if not isinstance(cb, EPOCH_BUDGET_CALLBACKS) for hook in EVALUATION_HOOKS))


def datamodule_batch_size(datamodule: Any) -> int | None:
    """The per-device training batch the data module was built with (``None`` if it has none)."""
    size = getattr(datamodule, "batch_size", None)
    return int(size) if isinstance(size, int) else None


def _headline(record: dict[str, Any]) -> str:
    best = record.get("best") or {}
    metric = record["metric"]["name"]
    parts = [f"{k}={best[k]:.4f}" for k in (f"val_{metric}", f"test_{metric}") if isinstance(best.get(k), float)]
    return " ".join(parts) or "no epochs completed"
