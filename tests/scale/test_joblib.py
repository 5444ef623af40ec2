"""``hydra/launcher=joblib`` (what ``make bench`` uses): cells run side by side in reused loky
worker processes and write the same records as the basic launcher, one after another here."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from tests.conftest import run_bench
from tests.scale.helpers import assert_same_records, in_process_threads

SWEEP = ("optimizer=adam", "optimizer.lr_grid=[0.01,0.001]", "seeds=[0,1]", "epochs=2")  # 4 cells
SAME = ("experiment", "cell_id", "status", "identity", "final", "best", "metric", "threads",
        "global_batch_size", "per_device_batch_size", "world_size", "error")


def test_joblib_launcher_writes_the_records_of_the_basic_launcher(tmp_path: Path) -> None:
    pool, basic = tmp_path / "joblib", tmp_path / "basic"
    with in_process_threads(1):  # OPTBENCH_THREADS=1 reaches the workers too: one float summation order
        assert run_bench(*SWEEP, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"paths.runs={pool}") == 0
        assert run_bench(*SWEEP, f"paths.runs={basic}") == 0
    assert_same_records(pool, basic, SAME, cells=4)
    [multirun] = pool.glob("default/_hydra/*/multirun.yaml")
    launcher = OmegaConf.load(multirun).hydra.launcher
    assert launcher._target_.endswith("JoblibLauncher") and launcher.n_jobs == 2


def test_python_m_bench_runs_cells_in_joblib_workers(tmp_path: Path) -> None:
    """What ``make bench`` runs: ``python -m bench`` in a fresh process, where the job function
    lives in ``__main__`` and reaches the loky workers pickled by value."""
    import subprocess
    import sys

    from tests.conftest import REPO, records

    proc = subprocess.run([sys.executable, "-m", "bench", "optimizer=adam", "optimizer.lr_grid=[0.01,0.003]", "epochs=1",
                           "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"paths.runs={tmp_path}"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [r["status"] for r in records(tmp_path)] == ["ok", "ok"]
