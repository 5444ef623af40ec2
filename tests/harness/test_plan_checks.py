"""Plan checks handed to a checker (``bench.plan.run_checks``; ``python -m bench`` gives a warm
joblib worker's): every check the cache lacks goes out as plain data in one call per round,
the plan is the one made here, failures come back as the same one-line errors, and with the
joblib launcher the planning process imports neither torch nor Lightning."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from bench.plan import PlanError, plan_cells, run_checks
from bench.preflight import preflight
from tests.conftest import heavy_imports_of_bench, run_bench

SWEEP = ["optimizer=adam,rame", "optimizer.lr_grid=[0.01,0.001]", "epochs=1"]


class Remote:
    """A checker that, like a worker, sees only pickled data and answers in pickled data."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, Any]]] = []

    def __call__(self, checks: list[tuple[str, Any]]) -> list[tuple[bool, Any]]:
        sent = pickle.loads(pickle.dumps(checks))
        self.calls.append(sent)
        return pickle.loads(pickle.dumps(run_checks(sent)))


def test_uncached_checks_go_to_the_checker_and_the_plan_is_the_same(tmp_path: Path) -> None:
    remote = Remote()
    planned = plan_cells([*SWEEP, f"paths.runs={tmp_path}"], checker=remote)
    assert [sorted({kind for kind, _ in call}) for call in remote.calls] == [["task"], ["fit", "optimizer"]]
    assert sorted(kind for kind, _ in remote.calls[1]).count("optimizer") == 4  # per optimizer x lr: built at each lr
    problems, _ = preflight(planned, [], dry_run=True, checker=remote)
    assert problems == [] and remote.calls[2] == [("data", remote.calls[2][0][1])] and len(remote.calls) == 3
    here = plan_cells([*SWEEP, f"paths.runs={tmp_path}"])  # now from the cache the remote checks filled
    assert here.run_dirs == planned.run_dirs
    assert [OmegaConf.to_container(c) for c in here.configs] == [OmegaConf.to_container(c) for c in planned.configs]
    again = Remote()
    plan_cells([*SWEEP, f"paths.runs={tmp_path}"], checker=again)
    preflight(planned, [], dry_run=True, checker=again)
    assert again.calls == []  # every pass was remembered


@pytest.mark.parametrize("bad, message", [
    ("optimizer.betas=[0.9,1.5]", "optimizer/adam: Invalid beta parameter at index 1: 1.5"),
    ("model=convnet", "model=convnet does not fit dataset=digits"),
])
def test_a_failed_check_is_the_same_one_line_error(tmp_path: Path, bad: str, message: str) -> None:
    with pytest.raises(PlanError) as local:
        plan_cells(["optimizer=adam", bad, f"paths.runs={tmp_path}"])
    with pytest.raises(PlanError) as remote:
        plan_cells(["optimizer=adam", bad, f"paths.runs={tmp_path}"], checker=Remote())
    assert str(remote.value) == str(local.value) and str(local.value).startswith(message)


@pytest.mark.parametrize("order", ["rame,adam", "adam,rame"])
def test_the_first_failing_cell_is_the_one_reported(tmp_path: Path, order: str) -> None:
    """Cell order decides, as when each cell was checked in turn."""
    with pytest.raises(PlanError) as failed:
        plan_cells([f"optimizer={order}", "++optimizer_overrides.rame.beta=1.5", "++optimizer_overrides.adam.betas=[0.9,1.5]",
                    f"paths.runs={tmp_path}"], checker=Remote())
    assert str(failed.value).startswith(f"optimizer/{order.split(',')[0]}: ")


def test_joblib_planning_imports_no_torch_and_bad_input_still_exits_2(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    # a cold check cache (conftest): the optimizer check runs in a warm worker, and fails there
    assert run_bench("optimizer=adam", "optimizer.betas=[0.9,1.5]", "epochs=1", "hydra/launcher=joblib",
                     "hydra.launcher.n_jobs=2", f"paths.runs={tmp_path}") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["bench: error: optimizer/adam: Invalid beta parameter at index 1: 1.5"]
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
    runs = tmp_path / "ok"
    assert heavy_imports_of_bench("optimizer=adam", "optimizer.lr_grid=[0.01,0.003]", "epochs=1", "hydra/launcher=joblib",
                                  "hydra.launcher.n_jobs=2", f"paths.runs={runs}") == []
    statuses = [json.loads(p.read_text())["status"] for p in runs.glob("default/*/record.json")]
    assert statuses == ["ok", "ok"]


SEARCH_TINY = f"hydra.searchpath=[file://{Path(__file__).parent / 'conf'}]"


def test_an_optimizer_check_carries_only_what_building_the_optimizer_reads(tmp_path: Path) -> None:
    """Not the whole cell (model, dataset, trainer, paths: ~4x the nodes to turn back into a config)."""
    remote = Remote()
    plan_cells([*SWEEP, f"paths.runs={tmp_path}"], checker=remote)
    sent = [payload for kind, payload in remote.calls[1] if kind == "optimizer"]
    assert sorted(p["lr"] for p in sent) == [0.001, 0.001, 0.01, 0.01]
    for payload in sent:
        assert set(payload) == {"optimizer", "lr", "module"} and payload["module"] == {"_target_": "tasks.classification.ClassificationModule"}
    assert {p["optimizer"]["name"] for p in sent} == {"adam", "rame"}


def test_a_multi_role_optimizer_check_carries_its_roles(tmp_path: Path) -> None:
    remote = Remote()
    plan_cells(["module=tiny_gan", "model=gan_tiny", "dataset=gauss1d", "optimizer=adam", "lr=0.1",
                "++optimizer_overrides.adam.discriminator.betas=[0.5,0.999]", SEARCH_TINY, f"paths.runs={tmp_path}"],
               checker=remote)
    (payload,) = [p for kind, p in remote.calls[-1] if kind == "optimizer"]
    assert payload["optimizer_roles"]["discriminator"]["betas"] == [0.5, 0.999]
    assert payload["optimizer_roles"]["generator"]["betas"] == [0.9, 0.999]
    with pytest.raises(PlanError, match=r"^optimizer/adam \(discriminator\): Invalid beta parameter at index 0: 1.5"):
        plan_cells(["module=tiny_gan", "model=gan_tiny", "dataset=gauss1d", "optimizer=adam", "lr=0.1",
                    "++optimizer_overrides.adam.discriminator.betas=[1.5,0.999]", SEARCH_TINY, f"paths.runs={tmp_path}"],
                   checker=Remote())


def test_an_optimizer_config_that_does_not_resolve_is_checked_whole_and_reported(tmp_path: Path) -> None:
    overrides = ["optimizer=adam", "optimizer.eps=${no_such_key}", f"paths.runs={tmp_path}"]
    with pytest.raises(PlanError) as local:
        plan_cells(overrides)
    remote = Remote()
    with pytest.raises(PlanError) as far:
        plan_cells(overrides, checker=remote)
    assert str(far.value) == str(local.value) and "no_such_key" in str(local.value)
    assert len(str(local.value).splitlines()) == 1
