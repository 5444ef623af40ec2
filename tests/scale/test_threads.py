"""Thread policy by workload (``bench.threads``): small steps get 1 thread, the user's setting wins,
a joblib worker keeps its share, and the record says what was chosen and why."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from bench.config import finalize
from bench.plan import CONF_DIR
from bench.threads import SMALL_STEP_FLOPS, USER_OMP, cell_step_flops, choose_threads
from tests.conftest import records, run_bench


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("OPTBENCH_THREADS", "OMP_NUM_THREADS", USER_OMP, "SUBMITIT_EXECUTOR"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return finalize(compose(config_name="config", overrides=["lr=0.01", *overrides]))


def test_rules_in_order(clean_env: pytest.MonkeyPatch) -> None:
    small, big = SMALL_STEP_FLOPS / 10, SMALL_STEP_FLOPS * 10
    assert choose_threads(small)[0] == 1
    assert choose_threads(big) == (None, "share of the cores")  # alone on the machine: torch's default
    clean_env.setenv("OMP_NUM_THREADS", "3")  # a worker whose launcher (joblib) set its share ...
    clean_env.setenv(USER_OMP, "")  # ... while the user set nothing
    assert choose_threads(big)[0] == 3 and choose_threads(small)[0] == 1
    clean_env.setenv(USER_OMP, "3")  # the user's own OMP_NUM_THREADS: torch follows it, even for small steps
    assert choose_threads(small) == (None, "OMP_NUM_THREADS")
    clean_env.setenv("OPTBENCH_THREADS", "2")
    assert choose_threads(small) == (2, "OPTBENCH_THREADS")


def test_step_flops_scale_with_model_and_batch() -> None:
    digits = cell_step_flops(_cfg())
    assert digits is not None and digits < SMALL_STEP_FLOPS  # the quickstart MLP gets one thread
    # 3 x (2 x 64 x (64*128 + 128*128 + 128*10)) multiply-adds: forward, plus backward ~ 2x forward
    assert digits == pytest.approx(3 * 2 * 64 * (64 * 128 + 128 * 128 + 128 * 10))
    assert cell_step_flops(_cfg("dataset.batch_size=128")) == pytest.approx(2 * digits)
    conv = cell_step_flops(_cfg("model=convnet", "dataset=synthetic", "dataset.batch_size=128"))
    assert conv is not None and conv > SMALL_STEP_FLOPS


def test_record_notes_the_thread_count(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    before = torch.get_num_threads()
    try:
        assert run_bench("optimizer=sgd", "lr=0.1", "epochs=1", f"paths.runs={tmp_path}") == 0
    finally:
        torch.set_num_threads(before)
    [record] = records(tmp_path)
    assert record["threads"]["count"] == 1 and record["threads"]["reason"].startswith("small step")
    assert record["device"].endswith("1 threads)")
