"""Launcher presets: submitit local runs the basic launcher's records in parallel processes;
the SLURM preset composes and renders the job-array script submitit would submit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from bench.threads import available_cores, local_parallelism, threads_for_job
from tests.conftest import REPO, run_bench
from tests.scale.helpers import assert_same_records, in_process_threads

SWEEP = ("optimizer=sgd", "optimizer.lr_grid=[0.05,0.02]", "seeds=[0,1]", "epochs=2")  # 4 cells
SAME = ("experiment", "cell_id", "status", "identity", "final", "best", "metric",
        "global_batch_size", "per_device_batch_size", "world_size", "error")


@pytest.mark.slow
def test_local_launcher_writes_the_records_of_the_basic_launcher(tmp_path: Path) -> None:
    local, basic = tmp_path / "local", tmp_path / "basic"
    assert run_bench(*SWEEP, "hydra/launcher=local", "hydra.sweeper.max_batch_size=4", f"paths.runs={local}") == 0
    threads = max(1, available_cores() // 4)  # cores / cells at once (bench.threads)
    with in_process_threads(threads):  # same float summation order as the local jobs
        assert run_bench(*SWEEP, f"paths.runs={basic}") == 0
    got = assert_same_records(local, basic, SAME, cells=4)
    # each cell ran in its own submitit job process, 4 at once, 1 torch thread each on 2 cores
    jobs = list(local.glob("default/_hydra/*/.submitit/*/*_0_log.out"))
    assert len(jobs) == 4 and all("Job completed successfully" in j.read_text() for j in jobs)
    assert all(r["device"].endswith(f", {threads} threads)") for r in got.values())


def _hydra_cfg(*overrides: str):
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()


def test_slurm_preset_composes_for_a_multi_gpu_cell() -> None:
    cfg = _hydra_cfg("hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2",
                     "hydra.launcher.partition=gpu-long")
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.partition, launcher.gpus_per_node, launcher.tasks_per_node, launcher.nodes) == ("gpu-long", 4, 4, 2)
    assert launcher.max_num_timeout > 0 and launcher.additional_parameters.requeue is True
    local = _hydra_cfg("hydra/launcher=local").hydra.launcher
    assert local._target_.endswith("submitit_launcher.LocalLauncher") and local.tasks_per_node == 1


def test_slurm_array_script_for_a_sweep(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """submitit renders the sbatch file (nothing submitted): one array task per cell."""
    assert run_bench(*SWEEP, "trainer=ddp", "trainer.devices=8", f"paths.runs={runs}", "hydra/launcher=slurm",
                     "hydra.launcher.partition=gpu", "hydra.launcher.timeout_min=720",
                     "hydra.launcher.array_parallelism=3", "hydra.launcher.setup=[module load cuda]",
                     "--dry-run") == 0
    out = capsys.readouterr().out
    script = out[out.index("#!/bin/bash"):]
    flags = dict(re.findall(r"^#SBATCH --([\w-]+)(?:=(.*))?$", script, flags=re.M))
    assert flags["array"] == "0-3%3"  # 4 cells, 3 at a time
    assert flags["partition"] == "gpu" and flags["time"] == "720"
    assert flags["gpus-per-node"] == "8" and flags["ntasks-per-node"] == "8" and flags["nodes"] == "1"
    assert flags["signal"] == "USR2@120" and "requeue" in flags
    assert flags["job-name"] == "optbench-default"
    assert "module load cuda" in script.split("# command")[0]
    assert re.search(r"^srun .* -m submitit\.core\._submit ", script, flags=re.M)
    assert not runs.exists() or not any(runs.iterdir())


def test_local_launcher_defaults_to_one_cell_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bench.threads.available_cores", lambda: 6)
    assert local_parallelism(["a=1", "hydra/launcher=local"])[-1] == "hydra.sweeper.max_batch_size=6"
    pinned = ["hydra/launcher=local", "hydra.sweeper.max_batch_size=2"]
    assert local_parallelism(pinned) == pinned
    assert local_parallelism(["a=1"]) == ["a=1"]


def test_thread_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    monkeypatch.delenv("OPTBENCH_THREADS", raising=False)
    assert threads_for_job() is None  # not a local job: torch's default
    monkeypatch.setenv("OPTBENCH_THREADS", "3")
    assert threads_for_job() == 3
    monkeypatch.setenv("OPTBENCH_THREADS", "zero")
    with pytest.raises(ValueError, match="OPTBENCH_THREADS"):
        threads_for_job()
