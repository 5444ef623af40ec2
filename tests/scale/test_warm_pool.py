"""``bench.warm_pool``: the joblib launcher's workers start, and import the runner, while the
sweep is planned; Hydra's launcher then runs its jobs on those same processes."""

from __future__ import annotations

import os
import sys

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from joblib import Parallel, delayed
from omegaconf import OmegaConf

from bench import warm_pool
from bench.plan import CONF_DIR, run_checks


def _hydra_launcher_kwargs(overrides: list[str]) -> dict:
    """What Hydra's joblib launcher hands ``joblib.Parallel`` for ``overrides``: the launcher
    instantiated from Hydra's own composition, as ``_core.launch`` then adjusts it."""
    from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
    launcher = instantiate(OmegaConf.to_container(cfg.hydra.launcher, resolve=True))
    kwargs = dict(launcher.joblib)
    kwargs["backend"] = "loky"
    process_joblib_cfg(kwargs)
    return kwargs


@pytest.mark.parametrize("argv", [
    ["experiment=quickstart", "hydra/launcher=joblib"],
    ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.launcher.batch_size=4", "optimizer=adam"],
])
def test_the_warm_arguments_are_the_launchers(argv: list[str]) -> None:
    assert warm_pool.launcher_kwargs(argv) == _hydra_launcher_kwargs(argv)


@pytest.mark.parametrize("argv", [
    ["experiment=quickstart"],                                    # the basic launcher: no workers
    ["hydra/launcher=local"],
    ["hydra/launcher=joblib", "hydra.launcher.n_jobs=1,2"],        # a sweep over the launcher
    ["hydra/launcher=joblib", "+hydra.launcher.extra=1"],          # a key the launcher does not have
    ["hydra/launcher=joblib", "hydra.launcher.nosuch=1"],
])
def test_only_the_plain_joblib_launcher_is_warmed(argv: list[str]) -> None:
    assert warm_pool.launcher_kwargs(argv) is None
    assert warm_pool.start(argv) is None


def _imported_runner() -> tuple[int, bool]:
    return os.getpid(), "bench.cell" in sys.modules


def test_the_launchers_jobs_run_on_the_warmed_workers() -> None:
    argv = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    pool = warm_pool.start(argv)
    assert pool is not None
    warmed = pool.join(timeout=240)
    assert pool.error is None and len(set(warmed)) == 2
    jobs = Parallel(**_hydra_launcher_kwargs(argv))(delayed(_imported_runner)() for _ in range(6))
    assert {pid for pid, _ in jobs} <= set(warmed)
    assert all(imported for _, imported in jobs)  # no job pays the runner's imports
    # plan checks split over both workers come back in the order they were given, failures in place
    checks = [("optimizer", {"optimizer": {"_target_": "torch.optim.Adam", "_partial_": True, "name": "adam",
                                           "betas": [0.9, 1.5 if i == 13 else 0.999]},
                             "lr": 10.0 ** -(1 + i % 4), "module": {"_target_": "tasks.classification.ClassificationModule"}})
              for i in range(20)]
    results = pool.checker(checks)
    assert results == run_checks(checks)
    assert [ok for ok, _ in results] == [i != 13 for i in range(20)]


@pytest.mark.parametrize("n, workers, sizes", [
    (0, 2, [0]), (5, 2, [5]), (15, 2, [15]), (16, 2, [8, 8]), (17, 2, [9, 8]), (89, 2, [45, 44]), (89, 1, [89]),
    (40, 16, [8, 8, 8, 8, 8]),
])
def test_checks_split_into_contiguous_shares_of_a_worthwhile_size(n: int, workers: int, sizes: list[int]) -> None:
    checks = list(range(n))
    shares = warm_pool.split_checks(checks, workers)
    assert [len(s) for s in shares] == sizes
    assert [c for s in shares for c in s] == checks


def test_a_discarded_pool_leaves_no_worker_alive() -> None:
    """A plan that fails kills the workers mid-import, so exiting does not wait for them."""
    import time

    from joblib.externals.loky import reusable_executor

    pool = warm_pool.start(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.launcher.max_nbytes=2M"])
    assert pool is not None
    processes: list = []
    for _ in range(2000):  # until the (new: other arguments) executor has spawned its workers
        executor = reusable_executor._executor
        processes = list(getattr(executor, "_processes", {}).values()) if executor is not None else []
        if len(processes) == 2:
            break
        time.sleep(0.005)
    assert len(processes) == 2 and all(p.is_alive() for p in processes)
    pool.discard()
    for p in processes:
        p.join(10)
    assert not any(p.is_alive() for p in processes)
    assert not pool._thread.is_alive() and pool.pids == []  # killed before the warm-up could finish


def test_a_pool_discarded_after_its_warm_up_leaves_no_worker_alive() -> None:
    from joblib.externals.loky import reusable_executor

    pool = warm_pool.start(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.launcher.max_nbytes=3M"])
    assert pool is not None and len(pool.join(timeout=240)) == 2
    processes = list(reusable_executor._executor._processes.values())
    assert len(processes) == 2 and all(p.is_alive() for p in processes)
    pool.discard()
    for p in processes:
        p.join(10)
    assert not any(p.is_alive() for p in processes)
