"""The records -> DataFrame loader: columns, history, schema versions, clear errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.record import SCHEMA_VERSION
from results import load
from results.load import ResultsError, load_history, load_records
from tests.results.conftest import make_record


def test_one_row_per_record_with_identity_best_and_final(runs: Path, write_cell) -> None:
    write_cell(optimizer="adam", lr=0.01, seed=0, val=[0.5, 0.8, 0.7], test=[0.4, 0.75, 0.72])
    write_cell(optimizer="sgd", lr=0.1, seed=1, val=[0.6, 0.65], test=[0.55, 0.6])
    df = load_records(runs)
    assert len(df) == 2
    adam = df[df["optimizer"] == "adam"].iloc[0]
    assert (adam["model"], adam["dataset"], adam["lr"], adam["seed"], adam["status"]) == ("mlp", "digits", 0.01, 0, "ok")
    assert (adam["metric"], adam["mode"]) == ("acc", "max")
    assert adam["sel_val"] == 0.8 and adam["best_epoch"] == 1  # validation-best epoch
    assert adam["best_test_acc"] == 0.75 and adam["final_test_acc"] == 0.72
    assert adam["best_sched_lr"] == pytest.approx(0.005)  # the epoch's scheduled lr is not the cell's lr
    assert adam["epochs"] == 3 and len(adam["history"]) == 3


def test_history_long_format_keeps_the_cells_lr(runs: Path, write_cell) -> None:
    write_cell(optimizer="adam", lr=0.01, val=[0.5, 0.8, 0.7])
    write_cell(optimizer="sgd", lr=0.1, val=[0.6, 0.65])
    hist = load_history(load_records(runs))
    assert len(hist) == 5
    adam = hist[hist["optimizer"] == "adam"].sort_values("epoch")
    assert list(adam["epoch"]) == [0, 1, 2]
    assert list(adam["val_acc"]) == [0.5, 0.8, 0.7]
    assert set(adam["lr"]) == {0.01}
    assert list(adam["sched_lr"]) == pytest.approx([0.01, 0.005, 0.0025])


def test_experiment_filter_and_unknown_experiment_lists_known_ones(runs: Path, write_cell) -> None:
    write_cell(experiment="quickstart")
    write_cell(experiment="padam_table1")
    assert set(load_records(runs, "quickstart")["experiment"]) == {"quickstart"}
    with pytest.raises(ResultsError, match=r"no records under .*foo \(experiments with records: padam_table1, quickstart\)"):
        load_records(runs, "foo")


def test_empty_and_missing_runs_directories_are_clear_errors(runs: Path, tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="no records under"):
        load_records(runs)
    with pytest.raises(ResultsError, match="does not exist"):
        load_records(tmp_path / "nowhere")


def _write_raw(runs: Path, record: dict) -> Path:
    path = runs / record["experiment"] / record["cell_id"] / "record.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record))
    return path


def test_newer_schema_is_rejected_naming_file_and_versions(runs: Path) -> None:
    record = make_record()
    record["schema_version"] = SCHEMA_VERSION + 1
    path = _write_raw(runs, record)
    with pytest.raises(ResultsError) as err:
        load_records(runs)
    message = str(err.value)
    assert str(path) in message and f"schema_version {SCHEMA_VERSION + 1}" in message and "newer" in message


def test_older_schema_without_converter_is_rejected(runs: Path) -> None:
    record = make_record()
    record["schema_version"] = SCHEMA_VERSION - 1
    path = _write_raw(runs, record)
    with pytest.raises(ResultsError, match=rf"{path}: schema_version {SCHEMA_VERSION - 1} is older.*no converter"):
        load_records(runs)


def test_older_schema_is_read_through_its_converter(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An imagined older layout that stored the selection metric as "target": the converter maps it.
    record = make_record(val=[0.5, 0.9])
    record["schema_version"] = SCHEMA_VERSION - 1
    record["target"] = record.pop("metric")
    record["best"]["val_acc"] = "nan"  # non-finite values are stored as strings on disk
    _write_raw(runs, record)

    def convert(old: dict) -> dict:
        new = dict(old)
        new["metric"] = new.pop("target")
        new["schema_version"] = old["schema_version"] + 1
        return new

    monkeypatch.setitem(load.MIGRATIONS, SCHEMA_VERSION - 1, convert)
    row = load_records(runs).iloc[0]
    assert row["metric"] == "acc" and math.isnan(row["sel_val"]) and row["final_test_acc"] == pytest.approx(0.89)


def test_not_json_and_missing_fields_name_the_file(runs: Path) -> None:
    bad = runs / "exp" / "cell" / "record.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    with pytest.raises(ResultsError, match=rf"{bad}: not valid JSON"):
        load_records(runs)
    record = make_record()
    del record["identity"]["lr"]
    bad.write_text(json.dumps(record))
    with pytest.raises(ResultsError, match=rf"{bad}: record lacks identity.lr"):
        load_records(runs)


def test_same_optimizer_with_different_hyperparameters_is_not_mixed(runs: Path, write_cell) -> None:
    write_cell(optimizer="rame", optimizer_config={"q": 0.125}, cell_suffix="aaaaaaaaaa", val=[0.6])
    write_cell(optimizer="rame", optimizer_config={"q": 0.25}, cell_suffix="bbbbbbbbbb", val=[0.7])
    df = load_records(runs)
    assert sorted(df["optimizer"]) == ["rame[q=0.125]", "rame[q=0.25]"]
    assert set(df["base_optimizer"]) == {"rame"}


def test_rerun_of_a_cell_with_another_config_replaces_the_older_record(runs: Path, write_cell) -> None:
    old = write_cell(val=[0.5], cell_suffix="aaaaaaaaaa", started_at="2026-01-01T00:00:00+00:00")
    write_cell(val=[0.5, 0.9], cell_suffix="bbbbbbbbbb", started_at="2026-01-02T00:00:00+00:00")
    df = load_records(runs)
    assert len(df) == 1 and df.iloc[0]["sel_val"] == 0.9
    assert df.attrs["superseded"] == [str(old)]


def test_per_task_optimizer_settings_do_not_split_the_optimizer(runs: Path, write_cell) -> None:
    write_cell(optimizer="padam", model="vgg16", optimizer_config={"weight_decay": 5e-4}, val=[0.6])
    write_cell(optimizer="padam", model="lstm2", optimizer_config={"weight_decay": 1.2e-6}, val=[0.7])
    assert list(load_records(runs)["optimizer"]) == ["padam", "padam"]
