"""Tiny CIFAR-10 in torchvision's on-disk format, and GAN cells composed from the real configs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from bench.plan import CONF_DIR
from tasks.vision.cifar_format import write_cifar
from tests.vision.conftest import tiny_cifar_arrays

# gan_small shrunk further: batch 8, 2 D steps per G step, 6 G steps, an evaluation every 3, 64 FID samples
TINY = ["dataset.verify_md5=false", "dataset.batch_size=8", "max_steps=6", "eval_every=3", "module.n_dis=2",
        "module.fid.samples=64", "module.fid.batch_size=32", "optimizer=adam", "seed=0"]


@pytest.fixture(scope="session")
def gan_cifar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gan_cifar")
    write_cifar(root, "cifar10", *tiny_cifar_arrays(10))
    return root


def gan_cell(runs: Path, data: Path, *overrides: str, experiment: str = "gan_small") -> DictConfig:
    """A composed GAN cell config, as the sweeper hands one to ``run_cell``."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"experiment={experiment}", f"paths.runs={runs}", f"paths.data={data}",
            f"paths.fid_cache={runs}/fid_cache", "lr=0.0002", *TINY, *overrides])
    return cfg


@pytest.fixture(autouse=True)
def _no_user_fid_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the user's Inception weights or FID cache locations."""
    monkeypatch.delenv("OPTBENCH_FID_WEIGHTS", raising=False)
    monkeypatch.delenv("OPTBENCH_FID_CACHE", raising=False)
