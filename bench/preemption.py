"""Preemption: a cell told to stop (SIGTERM, SIGUSR1, SIGUSR2) stops cleanly and is requeued.

What happens, in order:

1. The signal only sets a flag. During ``trainer.fit`` it is Lightning's own stop flag, which
   Lightning checks after every batch and, under DDP, broadcasts from rank 0 — so every rank
   stops after the same batch. Outside ``fit`` the runner is interrupted at once.
2. The runner records the cell as ``running`` with ``preempted: {signal, epochs_done, at}``.
   ``last.ckpt`` and the record's history both end at the last completed epoch (the partial
   epoch is dropped; the data order depends only on (seed, epoch), so replaying it gives the
   same numbers as an uninterrupted run).
3. :meth:`Preemption.requeue_or_exit` hands the signal to whoever asked for it first:
   submitit's handler (the ``hydra/launcher=slurm|local`` jobs) pickles the job again through
   the Hydra launcher's ``checkpoint`` method and requeues it (``scontrol requeue`` on SLURM;
   the local controller restarts it). Outside submitit, under SLURM, SIGUSR1/SIGUSR2 requeue
   the job with ``scontrol requeue``. Then the process exits with ``128 + signal``.
4. The requeued job composes the same cell, hence the same cell directory (its name is a hash
   of the cell's config), and resumes from its ``last.ckpt``.

Lightning's own SLURM auto-requeue is switched off (``bench.distributed.cluster_plugins``), so
there is one mechanism and no ``hpc_ckpt_*.ckpt``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from datetime import datetime, timezone
from types import FrameType
from typing import Any, NoReturn

import pytorch_lightning as pl

log = logging.getLogger("bench")

SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
REQUEUE_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)  # SLURM's "time is nearly up" signals


class Preempted(BaseException):
    """Raised when a stop signal arrives outside ``trainer.fit`` (not an ``Exception``: it
    must not be recorded as a failure)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"received {signal.Signals(signum).name}")
        self.signum = signum


def stop_exceptions() -> tuple[type[BaseException], ...]:
    """The exceptions a preempted cell ends with: ours, and Lightning's ``SIGTERMException``."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    return (Preempted, SIGTERMException)


class Preemption(pl.Callback):
    """Signal handlers for one cell, plus the callback that ties them to the running Trainer.

    Use as a context manager around the cell; add the instance to the Trainer's callbacks.
    """

    def __init__(self, signals: tuple[int, ...] = SIGNALS) -> None:
        self.signals = signals
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}
        self._trainer: pl.Trainer | None = None

    # --- handlers ------------------------------------------------------------------
    def __enter__(self) -> Preemption:
        if threading.current_thread() is threading.main_thread():
            for signum in self.signals:
                self._previous[signum] = signal.getsignal(signum)
                signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}
        self._trainer = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None or self.signum == signal.SIGTERM:
            self.signum = signum  # a requeue signal wins over a plain SIGTERM
        if self._trainer is not None:
            self._trainer._signal_connector.received_sigterm = True
        else:
            raise Preempted(signum)

    # --- callback ------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._trainer = trainer
        if self.signum is not None:  # arrived while fit was starting
            trainer._signal_connector.received_sigterm = True

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = None

    # --- after the stop --------------------------------------------------------------
    def describe(self, epochs_done: int) -> dict[str, Any]:
        name = signal.Signals(self.signum).name if self.signum else "SIGTERM"
        return {"signal": name, "epochs_done": epochs_done,
                "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}

    def requeue_or_exit(self) -> NoReturn:
        """Let submitit (or SLURM) requeue the job, then exit with ``128 + signal``."""
        signum = self.signum or signal.SIGTERM
        previous = self._previous.get(signum)
        self.__exit__()
        if callable(previous):  # submitit: checkpoint_and_try_requeue (exits) or bypass
            log.info("preempt: handing %s to %s", signal.Signals(signum).name, getattr(previous, "__qualname__", previous))
            previous(signum, None)
        elif signum in REQUEUE_SIGNALS and os.environ.get("SLURM_JOB_ID"):
            _scontrol_requeue()
        raise SystemExit(128 + int(signum))


def _scontrol_requeue() -> None:
    array_job, array_task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    job = f"{array_job}_{array_task}" if array_job and array_task else os.environ["SLURM_JOB_ID"]
    try:
        result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("preempt: could not requeue SLURM job %s: %s", job, exc)
        return
    if result.returncode == 0:
        log.info("preempt: requeued SLURM job %s", job)
    else:
        log.warning("preempt: scontrol requeue %s failed: %s", job, (result.stderr or result.stdout).strip())
