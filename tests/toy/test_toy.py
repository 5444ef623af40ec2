"""The toy task: exact optimizer paths through the real runner, and the trajectory plots."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from results.trajectories import best_paths, load_toy_records, plot_trajectories
from tasks.toy import FUNCTIONS
from tests.conftest import records, run_bench


def test_sgd_momentum_path_on_sphere_matches_hand_computation(runs: Path) -> None:
    # f = x^2 + y^2 from (-3, 4); SGD(lr=0.1, momentum=0.9): buf <- 0.9 buf + g, p <- p - 0.1 buf.
    assert run_bench("model=toy_point", "module=toy", "dataset=sphere", "optimizer=sgd", "lr=0.1",
                     "epochs=1", "dataset.steps_per_epoch=3", f"paths.runs={runs}") == 0
    [rec] = records(runs)
    expected = [[-3.0, 4.0], [-2.4, 3.2], [-1.38, 1.84], [-0.186, 0.248]]
    got = rec["extras"]["trajectory"]
    assert len(got) == 4
    for p, q in zip(got, expected):
        assert p == pytest.approx(q, abs=1e-12)
    assert rec["final"]["val_dist"] == pytest.approx(math.hypot(-0.186, 0.248), rel=1e-6)
    assert (rec["metric"]["name"], rec["metric"]["mode"]) == ("dist", "min")


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_functions_vanish_at_their_minimum_only(name: str) -> None:
    spec = FUNCTIONS[name]
    at_min = spec.fn(torch.tensor(spec.minimum[0], dtype=torch.float64), torch.tensor(spec.minimum[1], dtype=torch.float64), torch)
    at_start = spec.fn(torch.tensor(spec.start[0], dtype=torch.float64), torch.tensor(spec.start[1], dtype=torch.float64), torch)
    assert abs(at_min.item()) < 1e-12
    assert at_start.item() > 1e-3


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_numpy_and_torch_evaluate_the_same_function(name: str) -> None:
    """results/ draws contours with numpy from the definition the optimizer trains on."""
    spec = FUNCTIONS[name]
    rng = np.random.default_rng(0)
    (x0, x1), (y0, y1) = spec.bounds
    x, y = rng.uniform(x0, x1, 50), rng.uniform(y0, y1, 50)
    ours = spec.fn(x, y, np)
    ref = spec.fn(torch.from_numpy(x), torch.from_numpy(y), torch).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


def test_toy_experiment_renders_trajectories(runs: Path) -> None:
    assert run_bench("experiment=toy_adamomentum", "sweep.dataset=[sphere,beale]", "sweep.optimizer=[sgd,adam]",
                     "epochs=2", f"paths.runs={runs}") == 0
    recs = load_toy_records(runs, "toy_adamomentum")
    assert len(recs) == 2 * 3  # sgd has two learning rates
    best = best_paths(recs)
    assert sorted(best) == ["beale", "sphere"] and sorted(best["sphere"]) == ["adam", "sgd"]
    sgd_sphere = [r for r in recs if r["identity"]["optimizer"] == "sgd" and r["identity"]["dataset"] == "sphere"]
    winner = min(sgd_sphere, key=lambda r: r["final"]["val_dist"] if r["status"] == "ok" else math.inf)
    assert best["sphere"]["sgd"]["cell_id"] == winner["cell_id"]
    pngs = plot_trajectories(runs, "toy_adamomentum")
    assert sorted(p.name for p in pngs) == ["trajectories_beale.png", "trajectories_sphere.png"]
    assert all(p.stat().st_size > 10_000 for p in pngs)
