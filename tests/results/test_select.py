"""Best-LR selection uses validation only; seeds are aggregated at the chosen lr; unusable
(diverged/failed/running) learning rates are never numbers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from results.load import load_records
from results.select import aggregate, lr_summary, select_best_lr


def _only(frame, **coords):
    for key, value in coords.items():
        frame = frame[frame[key] == value]
    assert len(frame) == 1, frame
    return frame.iloc[0]


def test_validation_picks_the_lr_even_where_test_would_pick_another(runs: Path, write_cell) -> None:
    # lr 0.1: better validation, worse test.  lr 0.01: worse validation, better test.
    for seed in (0, 1):
        write_cell(lr=0.1, seed=seed, val=[0.80, 0.90], test=[0.70, 0.71])
        write_cell(lr=0.01, seed=seed, val=[0.80, 0.85], test=[0.90, 0.95])
    records = load_records(runs)
    pick = _only(select_best_lr(records))
    assert pick["lr"] == 0.1 and pick["status"] == "ok" and pick["n_seeds"] == 2
    assert pick["val_mean"] == pytest.approx(0.90)
    assert _only(aggregate(records, "test_acc"))["mean"] == pytest.approx(0.71)


def test_selection_uses_the_seed_mean_not_the_best_single_seed(runs: Path, write_cell) -> None:
    write_cell(lr=0.1, seed=0, val=[0.99])   # one lucky seed ...
    write_cell(lr=0.1, seed=1, val=[0.61])   # ... mean 0.80
    write_cell(lr=0.01, seed=0, val=[0.85])
    write_cell(lr=0.01, seed=1, val=[0.87])  # mean 0.86
    assert _only(select_best_lr(load_records(runs)))["lr"] == 0.01


def test_lower_is_better_metrics_pick_the_minimum(runs: Path, write_cell) -> None:
    write_cell(lr=1.0, metric="ppl", mode="min", val=[120.0, 90.0], test=[118.0, 88.0])
    write_cell(lr=10.0, metric="ppl", mode="min", val=[110.0, 95.0], test=[100.0, 80.0])
    records = load_records(runs)
    assert records.set_index("lr").loc[1.0, "sel_val"] == 90.0
    assert _only(select_best_lr(records))["lr"] == 1.0


def test_seed_mean_and_sample_std_at_the_chosen_lr(runs: Path, write_cell) -> None:
    for seed, final in enumerate([0.90, 0.92, 0.94]):
        write_cell(lr=0.1, seed=seed, val=[0.5, 0.9], test=[0.5, final])
    write_cell(lr=0.01, seed=0, val=[0.5, 0.6], test=[0.99, 0.99])
    stats = _only(aggregate(load_records(runs), "test_acc"))
    assert stats["lr"] == 0.1 and stats["n"] == 3
    assert stats["mean"] == pytest.approx(0.92)
    assert stats["std"] == pytest.approx(0.02)  # sample std (ddof=1) of 0.90, 0.92, 0.94


def test_test_value_at_final_or_at_validation_best_epoch(runs: Path, write_cell) -> None:
    write_cell(lr=0.1, val=[0.5, 0.9, 0.8], test=[0.4, 0.88, 0.86])
    records = load_records(runs)
    assert _only(aggregate(records, "test_acc", at="final"))["mean"] == pytest.approx(0.86)
    assert _only(aggregate(records, "test_acc", at="best"))["mean"] == pytest.approx(0.88)
    with pytest.raises(ValueError, match="at must be one of"):
        aggregate(records, "test_acc", at="last")


def test_a_diverged_seed_makes_its_lr_unusable_even_with_the_best_validation(runs: Path, write_cell) -> None:
    write_cell(lr=1.0, seed=0, val=[0.99], test=[0.99])               # fine seed ...
    write_cell(lr=1.0, seed=1, val=[0.98], status="diverged")         # ... but another diverged
    write_cell(lr=0.1, seed=0, val=[0.70])
    write_cell(lr=0.1, seed=1, val=[0.72])
    records = load_records(runs)
    per_lr = lr_summary(records).set_index("lr")
    assert per_lr.loc[1.0, "lr_status"] == "diverged" and math.isnan(per_lr.loc[1.0, "val_mean"])
    pick = _only(select_best_lr(records))
    assert pick["lr"] == 0.1 and pick["unusable"] == "lr=1: diverged"
    assert pick["status_counts"] == "1 diverged, 3 ok"


@pytest.mark.parametrize(("statuses", "expected"), [(["diverged", "failed"], "diverged"),
                                                    (["failed", "failed"], "failed"),
                                                    (["running", "failed"], "failed"),
                                                    (["running"], "running")])
def test_no_usable_lr_reports_the_status_and_no_number(runs: Path, write_cell, statuses, expected) -> None:
    for i, status in enumerate(statuses):
        write_cell(lr=10.0 ** -i, val=[0.9], status=status)
    stats = _only(aggregate(load_records(runs), "test_acc"))
    assert stats["status"] == expected
    assert math.isnan(stats["lr"]) and math.isnan(stats["mean"]) and stats["n_seeds"] == 0


def test_groups_are_separate_per_optimizer_model_dataset(runs: Path, write_cell) -> None:
    write_cell(optimizer="adam", model="a", lr=0.1, val=[0.9])
    write_cell(optimizer="adam", model="a", lr=0.01, val=[0.8])
    write_cell(optimizer="adam", model="b", lr=0.1, val=[0.7])
    write_cell(optimizer="adam", model="b", lr=0.01, val=[0.8])
    sel = select_best_lr(load_records(runs))
    assert _only(sel, model="a")["lr"] == 0.1 and _only(sel, model="b")["lr"] == 0.01


# --- the row-loop implementation against a pandas groupby formulation of the same rules ---

def _reference_lr_summary(records):
    import pandas as pd

    keys = ["experiment", "optimizer", "model", "dataset", "lr"]
    rows = []
    for key, grp in records.groupby(keys, sort=True):
        statuses = list(grp["status"])
        bad = next((s for s in ("failed", "diverged", "running") if s in statuses), None)
        if bad is None and not grp["sel_val"].map(math.isfinite).all():
            bad = "no val metric"
        status = bad or "ok"
        counts = grp["status"].value_counts()
        rows.append({**dict(zip(keys, key)), "metric": grp["metric"].iloc[0], "mode": grp["mode"].iloc[0],
                     "n_seeds": len(grp), "lr_status": status,
                     "status_counts": ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
                     "val_mean": grp["sel_val"].mean() if status == "ok" else math.nan,
                     "val_std": grp["sel_val"].std(ddof=1) if status == "ok" and len(grp) > 1 else math.nan})
    return pd.DataFrame(rows)


def _random_records(seed: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = 300
    mode = rng.choice(["max", "min"], 3)
    model = rng.choice(["a", "b", "c"], n)
    vals = rng.choice([0.1, 0.2, 0.5, 0.9], n) + rng.choice([0.0, 1e-3], n)  # ties between lrs happen
    vals[rng.random(n) < 0.05] = math.nan
    return pd.DataFrame({
        "experiment": "e", "optimizer": rng.choice(["adam", "sgd", "yogi"], n), "model": model,
        "dataset": rng.choice(["d1", "d2"], n), "lr": rng.choice([0.001, 0.01, 0.1, 1.0], n),
        "metric": "acc", "mode": [mode["abc".index(m)] for m in model],
        "status": rng.choice(["ok"] * 12 + ["diverged", "failed", "running"], n), "sel_val": vals})


@pytest.mark.parametrize("seed", range(5))
def test_lr_summary_and_selection_match_a_groupby_formulation(seed: int) -> None:
    import pandas as pd

    records = _random_records(seed)
    ours = lr_summary(records)
    reference = _reference_lr_summary(records)
    pd.testing.assert_frame_equal(ours.reset_index(drop=True), reference[ours.columns], check_dtype=False)
    picks = select_best_lr(records)
    assert len(picks) == len(reference.groupby(["optimizer", "model", "dataset"]))
    for pick in picks.itertuples():
        grp = reference[(reference["optimizer"] == pick.optimizer) & (reference["model"] == pick.model)
                        & (reference["dataset"] == pick.dataset)]
        usable = grp[grp["lr_status"] == "ok"]
        if usable.empty:
            assert pick.status != "ok" and math.isnan(pick.lr)
            continue
        best = usable["val_mean"].min() if pick.mode == "min" else usable["val_mean"].max()
        assert pick.lr == usable[usable["val_mean"] == best]["lr"].min()  # the best mean; ties: smaller lr
        assert pick.val_mean == best and pick.status == "ok"
        assert pick.unusable == "; ".join(f"lr={r.lr:g}: {r.lr_status}" for r in grp.itertuples() if r.lr_status != "ok")


@pytest.mark.parametrize(("metric", "mode", "worse"), [("acc", "max", 0.5), ("ppl", "min", 90.0)])
def test_a_tie_in_the_seed_mean_goes_to_the_smaller_lr(runs: Path, write_cell, metric: str, mode: str,
                                                       worse: float) -> None:
    for lr in (1.0, 0.1, 0.01):  # 0.1 and 1.0 tie for the best mean; 0.01 is worse
        write_cell(lr=lr, metric=metric, mode=mode, val=[worse if lr == 0.01 else 70.0 if mode == "min" else 0.7])
    assert _only(select_best_lr(load_records(runs)))["lr"] == 0.1
