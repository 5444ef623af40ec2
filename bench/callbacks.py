"""Lightning callbacks the runner adds to every cell."""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any
from weakref import proxy

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Checkpoint, ModelCheckpoint

from bench.probes.base import Probe


class OptimizerEpochHook(pl.Callback):
    """Tell optimizers that keep an epoch counter (AdaRem) how many epochs are complete.

    Calls ``optimizer.set_epoch(trainer.current_epoch)`` at the start of every training
    epoch, for each optimizer that defines it. Idempotent, so a resumed run is told the
    restored epoch.
    """

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for optimizer in trainer.optimizers:
            set_epoch = getattr(optimizer, "set_epoch", None)
            if callable(set_epoch):
                set_epoch(trainer.current_epoch)


def batches_done(trainer: pl.Trainer) -> int:
    """Training steps completed so far, across epochs and resumes: ``training_step`` calls,
    or the task's own count where one call packs several steps (``Task.steps_done``)."""
    steps_done = getattr(trainer.lightning_module, "steps_done", None)
    steps = steps_done() if callable(steps_done) else None
    return int(trainer.fit_loop.epoch_loop.batch_progress.total.completed if steps is None else steps)


class StepBudget(pl.Callback):
    """Stop after ``max_steps`` training batches: a step budget (``training_step`` calls).

    Lightning's own ``max_steps`` counts optimizer steps, which for a task with several
    optimizers (one role stepped several times per ``training_step``) is not the
    budget a paper states; this counts ``training_step`` calls. Lightning validates once
    more when a stop is requested, so the last step is always evaluated.
    """

    def __init__(self, max_steps: int) -> None:
        self.max_steps = int(max_steps)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        # ``processed`` already counts this batch; ``completed`` is incremented after this hook
        if trainer.fit_loop.epoch_loop.batch_progress.total.processed >= self.max_steps:
            trainer.should_stop = True


class History(Checkpoint):
    """Per-evaluation history of the cell, saved inside every checkpoint.

    Under an epoch budget (``per="epoch"``) a row is taken at each training-epoch end (after the
    epoch's validation); under a step budget (``per="step"``) at each evaluation. A row holds
    ``epoch``, ``step`` (training batches done), every metric logged since the previous row,
    ``lr`` and ``time``: Lightning keeps a metric in ``callback_metrics`` until it is logged
    again, so a value an epoch without evaluation (``eval_every`` > 1) would repeat is left out
    of that epoch's row, and a resumed run's rows equal an uninterrupted run's. Subclassing
    ``Checkpoint`` makes Lightning order it with the checkpoint callbacks, after the
    LightningModule's hooks (where metrics are logged) and before ``ModelCheckpoint`` saves, so
    ``last.ckpt`` always holds exactly the history of the evaluations it contains: a resumed
    cell has no gap and no duplicate. ``on_epoch`` is called with the history once the row's
    ``last.ckpt`` is on disk (by :class:`EpochCommitted`, which must follow the checkpoint
    callback), so a record never claims a row its checkpoint lacks. ``record_extras()`` of the
    module is stored with it, and the rows of every :class:`bench.probes.Probe` among the
    trainer's callbacks under ``extras["probes"][name]``.
    """

    def __init__(self, on_epoch: Callable[[list[dict[str, Any]]], None] | None = None, per: str = "epoch") -> None:
        if per not in ("epoch", "step"):
            raise ValueError(f"History(per=...) must be 'epoch' or 'step', got {per!r}")
        self.per = per
        self.entries: list[dict[str, Any]] = []
        self.extras: dict[str, Any] | None = None
        self.elapsed_before = 0.0  # wall seconds spent in earlier (interrupted) runs
        self.restored = 0  # rows restored from last.ckpt (already published by the earlier run)
        self.on_epoch = on_epoch
        self._start = time.perf_counter()
        self._lr: float | None = None
        self._last_metrics: dict[str, Any] = {}  # trainer.callback_metrics as the previous row saw them

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self._start

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._lr = _first_lr(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.per == "epoch":
            self._take_row(trainer, pl_module, self._lr)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.per == "step" and not trainer.sanity_checking:
            self._take_row(trainer, pl_module, _first_lr(trainer))

    def _take_row(self, trainer: pl.Trainer, pl_module: pl.LightningModule, lr: float | None) -> None:
        step = batches_done(trainer)
        if self.entries and self.entries[-1].get("step") == step:
            return  # a resumed run re-validating the step its checkpoint was taken at
        entry: dict[str, Any] = {"epoch": trainer.current_epoch, "step": step}
        metrics = trainer.callback_metrics
        for key, value in sorted(metrics.items()):
            if self._last_metrics.get(key) is not value:  # the same object: not logged again since the last row
                entry[key] = float(value)
        self._last_metrics = dict(metrics)
        entry["lr"] = lr
        entry["time"] = round(self.elapsed, 3)
        self.entries.append(entry)
        extras = getattr(pl_module, "record_extras", None)
        self.extras = extras() if callable(extras) else None
        probes = {cb.name: cb.record_extras() for cb in trainer.callbacks if isinstance(cb, Probe)}
        if probes:
            self.extras = {**(self.extras or {}), "probes": probes}

    def publish(self, trainer: pl.Trainer) -> None:
        """Hand the history to ``on_epoch`` (rank 0 only)."""
        if self.on_epoch is not None and trainer.is_global_zero and self.entries:
            self.on_epoch(self.entries)

    def state_dict(self) -> dict[str, Any]:
        return {"entries": self.entries, "elapsed": self.elapsed}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.entries = list(state_dict["entries"])
        self.restored = len(self.entries)
        self.elapsed_before = float(state_dict["elapsed"])
        self._start = time.perf_counter()


def _first_lr(trainer: pl.Trainer) -> float | None:
    return trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None


class EpochCommitted(Checkpoint):
    """Publishes the history after the row's checkpoint is saved.

    Lightning runs ``Checkpoint`` callbacks last, in the order given, so placing this one
    after :class:`AtomicLastCheckpoint` means the record is written only once ``last.ckpt``
    holds the same rows: a kill between the two leaves a record one row behind its
    checkpoint (harmless: the resume rewrites it), never ahead of it.
    """

    def __init__(self, history: History, checkpoint: AtomicLastCheckpoint | None = None) -> None:
        self.history = history
        self.checkpoint = checkpoint  # publish only evaluations it wrote (None: every one)

    def _publish(self, trainer: pl.Trainer) -> None:
        if self.checkpoint is None or self.checkpoint.written:
            self.history.publish(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.history.per == "epoch":
            self._publish(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.history.per == "step" and not trainer.sanity_checking:
            self._publish(trainer)


class AtomicLastCheckpoint(ModelCheckpoint):
    """``last.ckpt`` after an epoch (``per="epoch"``) or evaluation (``per="step"``) once at
    least ``every_s`` seconds have passed since the last write, written to a temporary file
    and renamed into place.

    At the evaluations in between, the state Lightning would have saved is kept in memory (a
    copy: model, optimizers, loops, the history) and :meth:`flush` writes it: the runner calls
    it when ``fit`` ends, on a stop signal and on an error, so the cell's last completed
    evaluation is always on disk except after a SIGKILL, which loses at most ``every_s``
    seconds of training. ``every_s=0`` writes at every evaluation. A kill during a write
    leaves the previous checkpoint intact. ``written`` tells :class:`EpochCommitted` whether
    this evaluation reached the disk (the record is published only then).
    """

    def __init__(self, dirpath: Path, per: str = "epoch", every_s: float = 0.0) -> None:
        super().__init__(
            dirpath=dirpath, filename="last", save_top_k=1, monitor=None,
            every_n_epochs=1, save_on_train_epoch_end=per == "epoch", enable_version_counter=False,
        )
        self.every_s = float(every_s)
        self.written = False
        self._pending: tuple[dict[str, Any], str] | None = None
        self._last_write = time.monotonic()

    @cached_property
    def state_key(self) -> str:
        # Lightning formats the key around every hook call of every callback; ModelCheckpoint
        # builds it from its settings each time. They are fixed once constructed.
        return super().state_key

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._last_write = time.monotonic()  # the first write is due every_s into training

    def on_train_batch_end(self, *args: Any, **kwargs: Any) -> None:
        """Nothing per batch (ModelCheckpoint checks step and time triggers here; we set neither)."""

    def _monitor_candidates(self, trainer: pl.Trainer) -> dict[str, torch.Tensor]:
        # ModelCheckpoint deep-copies every logged metric here, to fill the file name and pick
        # the best: a fixed name without a monitor needs only the epoch and step it records
        return {"epoch": torch.tensor(trainer.current_epoch), "step": torch.tensor(trainer.global_step)}

    def _due(self, trainer: pl.Trainer) -> bool:
        due = time.monotonic() - self._last_write >= self.every_s
        if trainer.world_size > 1:  # every rank must take the same branch (dump_checkpoint may be collective)
            due = bool(trainer.strategy.broadcast(due, src=0))
        return due

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if self._due(trainer):
            self._pending = None
            self._write(trainer, trainer._checkpoint_connector.dump_checkpoint(self.save_weights_only), filepath)
        else:
            self._pending = (_snapshot(trainer._checkpoint_connector.dump_checkpoint(self.save_weights_only)), filepath)
            self.written = False

    def _write(self, trainer: pl.Trainer, checkpoint: dict[str, Any], filepath: str) -> None:
        tmp = f"{filepath}.tmp"
        trainer.strategy.save_checkpoint(checkpoint, tmp)
        if trainer.is_global_zero:
            os.replace(tmp, filepath)
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))
        trainer.strategy.barrier()
        self._last_write = time.monotonic()
        self.written = True

    def pending_rows(self) -> list[dict[str, Any]] | None:
        """The history rows of the evaluation kept in memory, or ``None`` if none is pending."""
        if self._pending is None:
            return None
        for state in self._pending[0].get("callbacks", {}).values():
            if isinstance(state, dict) and "entries" in state:
                return list(state["entries"])
        return None

    def flush(self, trainer: pl.Trainer) -> bool:
        """Write the evaluation kept in memory, if any (rank 0 only; no collective). True if written."""
        if self._pending is None:
            return False
        checkpoint, filepath = self._pending
        self._pending = None
        if trainer.is_global_zero:
            tmp = f"{filepath}.tmp"
            trainer.strategy.checkpoint_io.save_checkpoint(checkpoint, tmp)
            os.replace(tmp, filepath)
        self._last_write = time.monotonic()
        return True


_SHARED = frozenset({int, float, str, bool, type(None), bytes})  # immutable: shared, not copied


def _snapshot(obj: Any) -> Any:
    """A copy of a checkpoint dict that later training cannot change: containers copied, tensors
    cloned (on their device), everything else (numbers, strings, enums) shared. Much cheaper than
    ``copy.deepcopy`` on the thousands of small objects of a checkpoint; plain scalars inside a
    dict or list are shared without a call each (most of a checkpoint's entries)."""
    cls = type(obj)
    if cls in _SHARED:
        return obj
    if cls is dict:
        return {k: v if type(v) in _SHARED else _snapshot(v) for k, v in obj.items()}
    if cls is list:
        return [v if type(v) in _SHARED else _snapshot(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return cls((k, _snapshot(v)) for k, v in obj.items())
    if isinstance(obj, list):
        return [_snapshot(v) for v in obj]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(_snapshot(v) for v in obj)
    if isinstance(obj, (int, float, str, bool, bytes)):
        return obj
    return copy.deepcopy(obj)


def flush_checkpoint(trainer: pl.Trainer | None) -> bool:
    """:meth:`AtomicLastCheckpoint.flush` of ``trainer``'s checkpoint callback (False if it has none)."""
    for callback in trainer.callbacks if trainer is not None else ():
        if isinstance(callback, AtomicLastCheckpoint):
            return callback.flush(trainer)
    return False
