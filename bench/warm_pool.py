"""Start the joblib launcher's worker processes while the sweep is still being planned.

With ``hydra/launcher=joblib`` every cell runs in one of joblib's reusable loky workers, and
each worker first imports the runner (torch, Lightning and, through it, torchmetrics and
torchvision: ~5-7 s of CPU). Without this module that import starts only when Hydra launches,
after the plan, so the plan's seconds and the workers' imports add up. :func:`start` creates
the same reusable executor a moment earlier, from the launcher's own config and the same
``joblib.Parallel`` arguments Hydra's launcher will pass (``_core.launch``), and has each
worker import :mod:`bench.cell` while the main process plans. joblib then hands Hydra the
executor it already has (it reuses one whose arguments are unchanged), with warm workers.
The plan's own checks that the check cache lacks (task contract, optimizer, model fit, data
files) run in one of those workers too (:meth:`WarmPool.checker`), so the planning process
imports neither torch nor Lightning even on a cold cache.

Only the plain case is warmed: ``hydra/launcher=joblib`` on the command line with value
overrides of its fields at most (``hydra.launcher.n_jobs=2``). Anything else (a sweep or
``+``/``~`` override of the launcher, a launcher chosen inside an experiment) starts nothing
and the launcher starts its workers as before. A plan that fails calls :meth:`WarmPool.discard`,
which kills the workers at once, so the one-line error is not held up by their imports.
Tested against joblib 1.6.0 and hydra-joblib-launcher 1.2.0 (``tests/scale/test_warm_pool.py``).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from typing import Any

JOBLIB_LAUNCHER = "hydra/launcher=joblib"
LAUNCHER_KEY = "hydra.launcher."


def launcher_kwargs(argv: list[str]) -> dict[str, Any] | None:
    """The ``joblib.Parallel`` keyword arguments Hydra's joblib launcher will use for ``argv``,
    or ``None`` when ``argv`` does not plainly select it."""
    if JOBLIB_LAUNCHER not in argv:
        return None
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg
    from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf

    kwargs = {f.name: f.default for f in dataclasses.fields(JobLibLauncherConf) if f.name != "_target_"}
    launcher = [a for a in argv if a.lstrip("+~").startswith(LAUNCHER_KEY)]
    for override in OverridesParser.create().parse_overrides(launcher):
        field = override.key_or_group[len(LAUNCHER_KEY):]
        if (override.is_add() or override.is_delete() or override.is_force_add() or override.is_sweep_override()
                or override.package is not None or field not in kwargs):
            return None
        kwargs[field] = override.value()
    kwargs["backend"] = "loky"  # what _core.launch sets: the threading backend cannot run Hydra jobs
    process_joblib_cfg(kwargs)
    return kwargs


def import_runner() -> int:
    """Run in a worker: import what every cell needs; return the worker's pid."""
    import bench.cell  # noqa: F401  (torch, Lightning, the task contract)

    return os.getpid()


class WarmPool:
    """joblib's reusable workers, importing the runner, started from a background thread."""

    def __init__(self, kwargs: dict[str, Any]) -> None:
        from joblib import Parallel, effective_n_jobs

        self.pids: list[int] = []
        self.error: BaseException | None = None
        self._kwargs = kwargs
        self._parallel = Parallel(**kwargs)
        self.workers = effective_n_jobs(self._parallel.n_jobs)
        self._discarded = threading.Event()
        self._started = threading.Event()  # the warm-up's Parallel call (and so the executor) has begun
        self._thread = threading.Thread(target=self._warm, name="optbench-warm-pool", daemon=True)
        self._thread.start()

    def _warm(self) -> None:
        from joblib import delayed

        if self._discarded.is_set():
            return
        try:
            n = self.workers
            if n > 1:  # one job: joblib runs it in this process, with no executor to warm or kill
                self._started.set()
            self.pids = list(self._parallel(delayed(import_runner)() for _ in range(n)))
        except BaseException as exc:  # noqa: BLE001 - a failed warm-up only means cold workers
            self.error = exc

    def join(self, timeout: float | None = None) -> list[int]:
        """Wait for the warm-up; the pids of the workers that ran it (empty if it failed)."""
        self._thread.join(timeout)
        return self.pids

    def checker(self, checks: list[Any]) -> list[Any]:
        """Run plan checks (:func:`bench.plan.run_checks`) in the workers, after their imports,
        so this process need not import torch or Lightning; here instead if the pool failed.
        Many checks (a sweep's optimizer at each lr) are split into one contiguous share per
        worker; the results come back in the order of ``checks``."""
        from bench.plan import run_checks

        if self.error is None and not self._discarded.is_set():
            from joblib import Parallel, delayed

            try:
                shares = split_checks(checks, self.workers)
                return [r for share in Parallel(**self._kwargs)(delayed(run_checks)(s) for s in shares) for r in share]
            except Exception:  # noqa: BLE001 - a broken pool: the same checks, here, raise what they raise
                pass
        return run_checks(checks)

    def discard(self, timeout: float = 5.0) -> None:
        """Kill the workers now, mid-import or idle: the sweep will not launch, and exiting
        would otherwise wait for their imports or their graceful shutdown."""
        from joblib.externals.loky import get_reusable_executor

        self._discarded.set()
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:  # until the executor exists
            backend = getattr(self._parallel, "_backend", None)  # joblib 1.6: the backend of a running call
            if backend is not None and getattr(backend, "_workers", None) is not None:
                break
            time.sleep(0.01)
        if self._started.is_set():  # reuse=True: the executor there is, never a new one
            get_reusable_executor(reuse=True).shutdown(wait=True, kill_workers=True)
        self._thread.join(timeout)


def start(argv: list[str]) -> WarmPool | None:
    """A :class:`WarmPool` for the joblib launcher ``argv`` selects, or ``None`` (nothing started)."""
    kwargs = launcher_kwargs(argv)
    return None if kwargs is None else WarmPool(kwargs)


MIN_CHECKS_PER_SHARE = 8  # a round trip to a worker costs about as much as this many optimizer checks


def split_checks(checks: list[Any], workers: int) -> list[list[Any]]:
    """``checks`` in at most ``workers`` contiguous, near-equal shares of at least
    ``MIN_CHECKS_PER_SHARE`` each (one share when there are few)."""
    n = max(1, min(workers, len(checks) // MIN_CHECKS_PER_SHARE))
    size, extra = divmod(len(checks), n)
    shares, start = [], 0
    for i in range(n):
        end = start + size + (i < extra)
        shares.append(checks[start:end])
        start = end
    return shares
