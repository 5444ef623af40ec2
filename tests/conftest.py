"""Shared fixtures: run the real CLI in-process against a temporary runs directory."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolate_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the user's env-var paths or writes into the source tree."""
    monkeypatch.delenv("OPTBENCH_RUNS", raising=False)
    monkeypatch.delenv("OPTBENCH_DATA", raising=False)
    # plan-check cache (bench.checkcache): beside the test's tmp_path, so tests that compare
    # tmp_path's contents before and after see only what the command under test wrote
    monkeypatch.setenv("OPTBENCH_CACHE", str(tmp_path.parent / f"{tmp_path.name}-optbench-cache"))
    # what python -m bench notes for its workers (bench.threads); set here so each test starts afresh
    monkeypatch.setenv("OPTBENCH_USER_OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", ""))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))


@pytest.fixture(autouse=True)
def _no_joblib_workers_carry_over() -> Iterator[None]:
    """joblib's reusable loky workers outlive a test (300 s idle timeout) and keep the environment
    they were spawned with: the next joblib test would reuse them (``OPTBENCH_THREADS`` and all)."""
    yield
    loky = sys.modules.get("joblib.externals.loky.reusable_executor")
    executor = getattr(loky, "_executor", None) if loky is not None else None
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    path = tmp_path / "runs"
    path.mkdir()
    return path


def run_bench(*args: str) -> int:
    """``python -m bench ARGS`` in this process; returns the exit code."""
    from bench.__main__ import main

    return main(list(args))


def records(runs: Path, experiment: str = "default") -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((runs / experiment).glob("*/record.json"))]


HEAVY_MODULES = ("torch", "pytorch_lightning", "torchvision", "tasks.base")


def heavy_imports_of_bench(*args: str) -> list[str]:
    """Run ``python -m bench ARGS`` in a fresh process (it must exit 0); the heavy modules
    (``HEAVY_MODULES``) that process itself imported, sorted."""
    import subprocess
    import sys

    probe = (f"import sys; from bench.__main__ import main; code = main({list(args)!r}); "
             f"import json; print(json.dumps(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])

