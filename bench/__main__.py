"""``python -m bench [overrides]``: sweep the cells the overrides describe.

Before Hydra launches anything, every cell is composed and validated here, so bad input
ends with one line on stderr and exit code 2, and no record is touched. Then Hydra runs
the sweep through the configured launcher (one job per cell), and a summary follows.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections import Counter
from pathlib import Path

import hydra
from omegaconf import DictConfig

from bench import warm_pool
from bench.distributed import env_global_rank
from bench.plan import CONF_DIR, PlanError, plan_cells, planned_cell
from bench.record import FINISHED, RecordError, Status, read_record, read_status
from bench.threads import local_parallelism, note_user_threads

DRY_RUN_FLAG = "--dry-run"  # print the cells, their count and a GPU-hour estimate; launch nothing

# Hydra flags that do not run cells: hand them straight to Hydra.
PASSTHROUGH_FLAGS = {"--help", "-h", "--hydra-help", "--version", "--cfg", "-c", "--info", "-i",
                     "--shell-completion", "-sc", "--resolve", "-p", "--package"}


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def _hydra_entry(cfg: DictConfig) -> dict:
    from hydra.core.hydra_config import HydraConfig

    from bench.cell import run_cell  # heavy imports (torch, lightning) only in the job

    _freeze_imports()

    hydra_cfg = HydraConfig.get()
    plan = hydra_cfg.sweeper.get("plan")
    entry = planned_cell(plan, list(hydra_cfg.overrides.task)) if plan else None
    return run_cell(cfg, planned=entry)


_frozen = False


def _freeze_imports() -> None:
    """Move the objects alive after the runner's imports out of the cyclic collector, once.

    Lightning's objects form reference cycles, so every cell leaves cyclic garbage, and
    Python's automatic full collections, scanning all of torch's and Lightning's objects
    (~0.2 s each, every other quickstart cell in a joblib worker), then scan only what the
    cells made. Later cells' garbage is never frozen: only the first job of a process freezes.
    A plain function and flag, not ``functools.cache``: under ``python -m bench`` the job
    function is pickled by value from ``__main__`` for the joblib workers, and a cache
    wrapper would be pickled by a name the workers cannot import.
    """
    global _frozen
    if not _frozen:
        gc.freeze()
        _frozen = True


def _summarize(run_dirs: list[Path]) -> int:
    """Print status counts of the planned cells; return the process exit code.

    A cell another launch holds (its lock is taken now) is ``running elsewhere``: a normal
    outcome when several launches share a sweep, so it does not make the exit code 1.
    """
    from bench.lock import describe_holder, held_elsewhere

    counts: Counter[str] = Counter()
    failed: list[Path] = []
    elsewhere: list[tuple[Path, dict]] = []
    def status_of(run_dir: Path) -> str:
        try:
            return read_record(run_dir)["status"]
        except (OSError, RecordError):
            return "missing"

    for run_dir in run_dirs:
        status = status_of(run_dir)
        if status not in FINISHED:
            holder = held_elsewhere(run_dir)
            if holder is not None:
                status = "running elsewhere"
                elsewhere.append((run_dir, holder))
            else:  # a holder writes the final record before it unlocks: read it again
                status = status_of(run_dir)
        counts[status] += 1
        if status in (Status.FAILED, "missing", Status.RUNNING):
            failed.append(run_dir)
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(f"bench: {len(run_dirs)} cell(s): {parts}", file=sys.stderr)
    for run_dir, holder in elsewhere[:10]:
        print(f"bench:   running elsewhere: {run_dir} ({describe_holder(holder)})", file=sys.stderr)
    for run_dir in failed[:10]:
        print(f"bench:   not ok: {run_dir}", file=sys.stderr)
    return 1 if failed else 0


def _discard(pool: warm_pool.WarmPool | None) -> None:
    if pool is not None:
        pool.discard()


# Dicts keyed by optimizer name: ``lr_grids.adam=[...]`` adds or replaces a key, no ``+`` needed.
OPEN_DICTS = ("lr_grids", "optimizer_overrides")


def _open_dict_overrides(argv: list[str]) -> list[str]:
    """``lr_grids.adam=[..]`` -> ``++lr_grids.adam=[..]`` (Hydra wants ``+`` for a new key)."""
    return [f"++{a}" if not a.startswith(("+", "~", "-")) and a.split("=", 1)[0].split(".", 1)[0] in OPEN_DICTS
            and "." in a.split("=", 1)[0] else a for a in argv]


def main(argv: list[str] | None = None) -> int:
    argv = _open_dict_overrides(list(sys.argv[1:] if argv is None else argv))
    dry_run = DRY_RUN_FLAG in argv
    argv = local_parallelism([a for a in argv if a != DRY_RUN_FLAG])
    if any(a in ("--help", "-h") for a in argv):
        from bench.help import help_text

        print(help_text(), end="")
        return 0
    if any(a.split("=", 1)[0] in PASSTHROUGH_FLAGS for a in argv):
        sys.argv = [sys.argv[0], *argv]
        _hydra_entry()
        return 0
    overrides = [a for a in argv if not a.startswith("-")]
    pool = None
    if not dry_run:
        note_user_threads()  # before any worker starts: joblib sets OMP_NUM_THREADS in its workers
        pool = warm_pool.start(argv)  # joblib's workers import the runner while the plan runs
    checker = pool.checker if pool else None  # the plan's uncached checks run in a warm worker
    try:
        planned = plan_cells(overrides, checker=checker)
    except PlanError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        _discard(pool)
        return 2
    from bench.preflight import preflight

    problems, notes = preflight(planned, argv, dry_run=dry_run, checker=checker)
    if problems and not dry_run:  # the one line of bad input; warnings wait for a launch that can start
        more = f" (+{len(problems) - 1} more problem(s): --dry-run lists them)" if len(problems) > 1 else ""
        print(f"bench: error: {problems[0]}{more}", file=sys.stderr)
        _discard(pool)
        return 2
    for line in [*(f"note: {n}" for n in notes), *(f"warning: {w}" for w in planned.warnings + problems)]:
        print(f"bench: {line}", file=sys.stderr)
    if dry_run:
        from bench.dryrun import report

        return report(planned, argv)
    done = sum(1 for d in planned.run_dirs if read_status(d) in FINISHED)
    print(f"bench: {len(planned.cells)} cell(s), {done} already finished", file=sys.stderr)
    logging.getLogger("bench").setLevel(logging.INFO)
    sys.argv = [sys.argv[0], *argv, f"hydra.sweeper.plan={planned.write()}"]
    from bench.progress import Progress

    progress = Progress(planned.run_dirs) if env_global_rank() == 0 else None
    try:
        if progress is not None:
            progress.start()
        _hydra_entry()
    except SystemExit as exc:  # Hydra exits on its own errors; keep its code
        if exc.code not in (0, None):
            return int(exc.code) if isinstance(exc.code, int) else 1
    finally:
        if progress is not None:
            progress.stop()
    if env_global_rank() > 0:  # a DDP rank re-running one cell: rank 0 reports it
        return 0
    return _summarize(planned.run_dirs)


if __name__ == "__main__":
    sys.exit(main())
