"""Seed statistics, tuning cost, speed to target and probe figures on synthetic records
whose answers are computed by hand here (t quantiles and the t_4 CDF in closed form)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.record import write_record
from results.__main__ import main
from results.layouts import LAYOUTS
from results.load import load_records
from results.profile import performance_profile, speed_frame
from results.stats import holm, mean_ci, welch
from results.table import generic_table, paper_table
from results.tuning import expected_best, tuning_frame
from tests.results.conftest import make_record
from tests.results.test_table import md_tables

T975_DF2 = 4.302652729911275  # Student t 97.5% quantile, 2 degrees of freedom
T975_DF4 = 2.7764451051977987


def _write(runs: Path, seeds_asked: int | None = None, probes: dict | None = None, **kwargs) -> Path:
    record = make_record(**kwargs)
    if seeds_asked is not None:
        record["config"]["seeds"] = list(range(seeds_asked))
    if probes is not None:
        record["extras"] = {"probes": probes}
    return write_record(runs / record["experiment"] / record["cell_id"], record)


# ---------------------------------------------------------------- stats

def test_student_t_interval_below_ten_seeds():
    ci = mean_ci([1.0, 2.0, 3.0])
    half = T975_DF2 * 1.0 / math.sqrt(3)
    assert (ci.mean, ci.std, ci.n, ci.method) == (2.0, 1.0, 3, "t")
    assert ci.low == pytest.approx(2 - half) and ci.high == pytest.approx(2 + half)
    one = mean_ci([4.0, math.nan])
    assert one.n == 1 and one.mean == 4.0 and math.isnan(one.low)


def test_bootstrap_interval_from_ten_seeds():
    values = [float(v) for v in range(20)]
    ci = mean_ci(values)
    assert ci.method == "bootstrap" and ci.n == 20
    se = ci.std / math.sqrt(20)
    # the percentile bootstrap of the mean is ~ mean +- 1.96 se sqrt((n-1)/n) = +- 2.53 here
    assert ci.low < 9.5 < ci.high
    assert 1.8 * se < ci.half_width < 2.2 * se
    assert mean_ci(values) == ci  # fixed seed: reproducible
    assert mean_ci([5.0] * 12).low == 5.0 == mean_ci([5.0] * 12).high


def test_welch_difference_with_a_known_gap():
    a, b = [11.0, 12.0, 13.0], [1.0, 2.0, 3.0]
    d = welch(a, b)
    se = math.sqrt(1 / 3 + 1 / 3)  # df = 4 for equal sizes and variances
    assert d.diff == pytest.approx(10.0)
    assert d.low == pytest.approx(10 - T975_DF4 * se) and d.high == pytest.approx(10 + T975_DF4 * se)
    t = 10 / se
    u = t / math.sqrt(4 + t * t)
    assert d.p == pytest.approx(1 - 1.5 * u + 0.5 * u**3, rel=1e-9)  # two-sided, t_4 CDF in closed form
    assert math.isnan(welch([1.0], b).p) and welch([1.0], b).diff == pytest.approx(-1.0)


def test_holm_step_down():
    adjusted = holm([0.01, 0.04, 0.03, math.nan])
    assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06]) and math.isnan(adjusted[3])
    assert holm([0.2, 0.9]) == pytest.approx([0.4, 0.9])


# ---------------------------------------------------------------- tuning cost

def test_expected_best_of_k_draws_by_hand():
    grid = [0.9, 0.1, 0.5]
    assert expected_best(grid, 1) == pytest.approx(0.5)
    assert expected_best(grid, 2) == pytest.approx((0.1 * 1 + 0.5 * 3 + 0.9 * 5) / 9)
    assert expected_best(grid, 2, "min") == pytest.approx((0.9 * 1 + 0.5 * 3 + 0.1 * 5) / 9)
    assert expected_best(grid, 200) == pytest.approx(0.9, abs=1e-12)
    with pytest.raises(ValueError, match="k must be >= 1"):
        expected_best(grid, 0)


def test_tuning_frame_counts_a_diverged_lr_as_the_worst_draw(runs: Path):
    for lr, val in ((0.1, 0.8), (0.01, 0.6)):
        _write(runs, optimizer="adam", lr=lr, val=[val])
    _write(runs, optimizer="adam", lr=1.0, val=[0.9], status="diverged")
    _write(runs, optimizer="sgd", lr=0.1, val=[0.4])
    frame = tuning_frame(load_records(runs, "exp"))
    adam = frame[frame["optimizer"] == "adam"]
    assert list(adam["k"]) == [1, 2, 3] and set(adam["diverged_lrs"]) == {1}
    grid = [0.8, 0.6, 0.4]  # the diverged lr scores the worst ok run of the workload (sgd's 0.4)
    assert list(adam["expected_best"]) == pytest.approx([expected_best(grid, k) for k in (1, 2, 3)])
    assert list(frame[frame["optimizer"] == "sgd"]["expected_best"]) == pytest.approx([0.4])


# ---------------------------------------------------------------- speed and profile

def test_speed_to_target_and_performance_profile(runs: Path):
    # workload 1: best final val 0.97 (b) -> target 0.9603: b at epoch index 2, a never
    _write(runs, optimizer="a", dataset="w1", val=[0.5, 0.9, 0.95])
    _write(runs, optimizer="b", dataset="w1", val=[0.8, 0.96, 0.97])
    # workload 2: target 0.99 x 0.9 = 0.891: a at index 0 (time 1), b at index 1 (time 2)
    _write(runs, optimizer="a", dataset="w2", val=[0.895, 0.9, 0.9])
    _write(runs, optimizer="b", dataset="w2", val=[0.5, 0.895, 0.895])
    speed = speed_frame(load_records(runs, "exp")).set_index(["dataset", "optimizer"])
    assert speed.loc[("w1", "b"), "target"] == pytest.approx(0.99 * 0.97)
    assert speed.loc[("w1", "b"), ["epochs_to_target", "time_to_target"]].tolist() == [3.0, 3.0]
    assert speed.loc[("w1", "b"), "steps_to_target"] == 2.0  # rows without a step: their epoch index
    assert math.isinf(speed.loc[("w1", "a"), "epochs_to_target"])
    assert speed.loc[("w2", "a"), "time_to_target"] == 1.0 and speed.loc[("w2", "b"), "time_to_target"] == 2.0
    prof = performance_profile(speed.reset_index(), taus=[1.0, 1.5, 2.0, 100.0]).set_index(["optimizer", "tau"])
    assert prof.loc[("a", 1.0), "rho"] == 0.5 and prof.loc[("a", 100.0), "rho"] == 0.5  # misses w1 for good
    assert [prof.loc[("b", t), "rho"] for t in (1.0, 1.5, 2.0)] == [0.5, 0.5, 1.0]
    assert prof.loc[("b", 1.0), "workloads"] == 2


def test_speed_for_a_lower_is_better_metric(runs: Path):
    _write(runs, optimizer="a", metric="ppl", mode="min", val=[200.0, 101.0, 100.0])
    _write(runs, optimizer="b", metric="ppl", mode="min", val=[150.0, 120.0, 110.0])
    speed = speed_frame(load_records(runs, "exp")).set_index("optimizer")
    assert speed.loc["a", "target"] == pytest.approx(100.0 / 0.99)  # 101.01: reached at index 1
    assert speed.loc["a", "epochs_to_target"] == 2.0 and math.isinf(speed.loc["b", "epochs_to_target"])


# ---------------------------------------------------------------- tables

def test_generic_table_statistics_against_the_sgd_baseline(runs: Path):
    for seed, (a, s) in enumerate(((0.91, 0.81), (0.92, 0.82), (0.93, 0.83))):
        _write(runs, seeds_asked=4, optimizer="adam", seed=seed, val=[a], test=[a])
        _write(runs, seeds_asked=4, optimizer="sgd", seed=seed, val=[s], test=[s])
    table = generic_table(load_records(runs, "exp"))
    grid, stats = md_tables(table.markdown)
    assert grid[1] == [["mlp / digits", "92.00 ± 1.00*† (lr 0.01, n=3)", "82.00 ± 1.00† (lr 0.01, n=3)"]]
    half, diff_half = T975_DF2 / math.sqrt(3), T975_DF4 * math.sqrt(2 / 3)
    adam_cell, sgd_cell = stats[1][0][1:]
    assert adam_cell.startswith(f"[{92 - half:.2f}, {92 + half:.2f}] n=3†/4; +10.00 "
                                f"[{10 - diff_half:.2f}, {10 + diff_half:.2f}] p=")
    assert adam_cell.endswith("*") and sgd_cell.endswith("n=3†/4; baseline")
    row = table.frame.set_index("optimizer").loc["adam"]
    assert row["vs_base"] == pytest.approx(10.0) and bool(row["significant"]) and bool(row["under_seeded"])
    assert "baseline (sgd)" in table.markdown


def test_paper_table_highlights_a_delta_only_outside_our_interval(runs: Path):
    rep = {"paper": "padam", "table": "1"}
    for seed, (p, s) in enumerate(((0.90, 0.95), (0.91, 0.955), (0.92, 0.96))):
        _write(runs, experiment="padam_table1", optimizer="padam", model="resnet18", dataset="cifar10", seed=seed,
               reproduces=rep, val=[p], test=[p])
        _write(runs, experiment="padam_table1", optimizer="sgd", model="resnet18", dataset="cifar10", seed=seed,
               reproduces=rep, val=[s], test=[s])
    table = paper_table(load_records(runs, "padam_table1"), LAYOUTS[("padam", "1")])
    header, rows = md_tables(table.markdown)[0]
    resnet = dict(zip(header, next(r for r in rows if r[0] == "ResNet")))
    # Padam 91.00, interval [88.52, 93.48], published 94.94 outside it -> bold; SGDM 95.50, published 95.00 inside [94.26, 96.74]
    assert resnet["Padam"] == "91.00 ± 1.00* / 94.94 (**-3.94**)"
    assert resnet["SGD-Momentum"] == "95.50 ± 0.50 / 95.00 (+0.50)"
    frame = table.frame.set_index(["row", "col"])
    assert bool(frame.loc[("ResNet", "Padam"), "delta_outside_ci"])
    assert not frame.loc[("ResNet", "SGD-Momentum"), "delta_outside_ci"]
    assert frame.loc[("ResNet", "Padam"), "vs_base"] == pytest.approx(-4.5)


# ---------------------------------------------------------------- report

OSC = {"max_coords": 4096, "every_n_steps": None, "seed": 0,
       "rows": [{"epoch": 0, "step": 4, "steps": 4, "q": 3.0, "per_layer": {"w": 3.0}, "undefined": 0},
                {"epoch": 1, "step": 8, "steps": 4, "q": 2.0, "per_layer": {"w": 2.0}, "undefined": 0}]}
GRAD = {"every_n_steps": None,
        "rows": [{"epoch": 0, "step": 4, "steps": 4, "global_l2": 2.0, "mean_l1": 3.0, "mean_l2": 1.0,
                  "mean_adal": 3.0, "per_tensor": {"w": {"l1": 3.0, "l2": 1.0, "adal": 3.0}}}]}


def test_report_renders_tuning_profile_and_probe_figures(runs: Path, tmp_path: Path):
    for opt, val in (("sgd", [0.5, 0.9]), ("adarem", [0.7, 0.92])):
        for lr in (0.1, 0.01):
            _write(runs, experiment="adarem_figure2_cifar", optimizer=opt, lr=lr, val=[v - lr for v in val],
                   probes={"oscillation": OSC, "grad_norm": GRAD})
    _write(runs, experiment="quickstart", optimizer="adam", val=[0.4, 0.8])
    out = tmp_path / "report"
    assert main(["report", "--runs", str(runs), "--out", str(out)]) == 0
    exp = out / "adarem_figure2_cifar"
    for name in ("tuning.png", "tuning.csv", "profile.png", "speed.csv", "oscillation_mlp_digits.png",
                 "oscillation.csv", "grad_norm_mlp_digits.png", "grad_norm.csv"):
        assert (exp / name).stat().st_size > 0, name
    assert (out / "profile.png").stat().st_size > 0 and (out / "profile.csv").stat().st_size > 0
    index = (out / "index.md").read_text()
    assert "## Performance profile (all workloads)" in index and "![profile](profile.png)" in index
    assert "oscillation_mlp_digits.png" in index
    import pandas as pd

    osc = pd.read_csv(exp / "oscillation.csv")
    assert sorted(set(osc["optimizer"])) == ["adarem", "sgd"] and set(osc["lr"]) == {0.01}  # selected lr only
    assert list(osc[osc["optimizer"] == "sgd"]["q"]) == [3.0, 2.0]
