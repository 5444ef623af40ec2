"""``ValueOverridesLoader``: a job's config composed once per config-group choice, with the
``lr``/``seed`` values applied afterwards, equals Hydra's own composition of the job."""

from __future__ import annotations

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.core.utils import setup_globals
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict

from bench.plan import CONF_DIR
from bench import job_config as value_overrides
from bench.job_config import ValueOverridesLoader


@pytest.fixture()
def loaders(monkeypatch: pytest.MonkeyPatch):
    setup_globals()  # Hydra's resolvers (${now:...})
    monkeypatch.setattr(value_overrides, "_COMPOSED", value_overrides.OrderedDict())
    hydra_loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(CONF_DIR)))
    master = hydra_loader.load_configuration("config", overrides=["experiment=quickstart", "hydra/launcher=joblib"],
                                             run_mode=RunMode.MULTIRUN)
    return hydra_loader, ValueOverridesLoader(hydra_loader), master


def _task(cfg):
    cfg = cfg.copy()
    with open_dict(cfg):
        del cfg["hydra"]
    return OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.parametrize("overrides", [
    ["experiment=quickstart", "optimizer=adam", "lr=0.001", "seed=0"],
    ["experiment=quickstart", "optimizer=rame", "lr=3e-05", "seed=7", "+smoke=true"],
    ["lr=0.5", "experiment=quickstart", "model=convnet", "dataset=synthetic", "seed=2", "epochs=3"],
    ["experiment=quickstart", "optimizer=sgd"],  # no value override: Hydra's path unchanged
])
def test_a_job_config_equals_hydras(loaders, overrides: list[str]) -> None:
    hydra_loader, loader, master = loaders
    expected = hydra_loader.load_sweep_config(master, overrides)
    got = loader.load_sweep_config(master, overrides)
    assert OmegaConf.to_container(got) == OmegaConf.to_container(expected)  # hydra node too, unresolved
    assert _task(got) == _task(expected)
    assert list(got.hydra.overrides.task) == overrides


def test_each_group_choice_is_composed_once_and_values_never_leak(loaders, monkeypatch: pytest.MonkeyPatch) -> None:
    hydra_loader, loader, master = loaders
    composed: list[list[str]] = []
    compose = ConfigLoaderImpl.load_sweep_config

    def spy(self, master_config, sweep_overrides):
        composed.append(list(sweep_overrides))
        return compose(self, master_config, sweep_overrides)

    monkeypatch.setattr(ConfigLoaderImpl, "load_sweep_config", spy)
    cells = [["experiment=quickstart", f"optimizer={name}", f"lr={lr!r}", f"seed={seed}"]
             for name in ("adam", "sgd") for lr in (0.1, 0.01) for seed in (0, 1)]
    configs = [loader.load_sweep_config(master, cell) for cell in cells]
    assert composed == [["experiment=quickstart", "optimizer=adam"], ["experiment=quickstart", "optimizer=sgd"]]
    for cell, cfg in zip(cells, configs):
        name, lr, seed = (c.split("=", 1)[1] for c in cell[1:])
        assert (cfg.optimizer.name, cfg.lr, cfg.seed) == (name, float(lr), int(seed))
        assert cfg.hydra.job.override_dirname == ",".join(sorted(cell))
    configs[0].lr = 123.0  # a job's config is its own: the cached composition is not shared
    assert loader.load_sweep_config(master, cells[0]).lr == 0.1


def test_another_launch_composes_afresh(loaders) -> None:
    hydra_loader, loader, master = loaders
    cell = ["experiment=quickstart", "optimizer=adam", "lr=0.1", "seed=0"]
    loader.load_sweep_config(master, cell)
    other = ValueOverridesLoader(hydra_loader)
    other.load_sweep_config(master, cell)
    assert len(value_overrides._COMPOSED) == 2  # keyed by launch: a config edited between launches is seen


def test_the_cache_survives_what_a_joblib_job_does_first(loaders, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each joblib job unpickles the loader and restores Hydra's singletons, which re-executes
    every ``hydra_plugins`` module: the second job must still find the first one's composition."""
    import pickle

    from hydra.core.singleton import Singleton

    hydra_loader, loader, master = loaders
    composed: list[list[str]] = []
    compose = ConfigLoaderImpl.load_sweep_config
    monkeypatch.setattr(ConfigLoaderImpl, "load_sweep_config",
                        lambda self, m, o: composed.append(list(o)) or compose(self, m, o))
    blob = pickle.dumps(loader)
    for lr in (0.1, 0.01, 0.001):
        Singleton.set_state(Singleton.get_state())  # what hydra_joblib_launcher's execute_job starts with
        job_loader = pickle.loads(blob)
        assert job_loader.load_sweep_config(master, ["experiment=quickstart", "optimizer=adam", f"lr={lr}"]).lr == lr
    assert composed == [["experiment=quickstart", "optimizer=adam"]]
