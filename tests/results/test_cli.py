"""``python -m results``: subcommands, output locations, one-line errors with exit code 2,
the report folder; and one end-to-end pass over records the real runner wrote."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.record import SCHEMA_VERSION
from results.__main__ import main
from tests.conftest import run_bench
from tests.results.conftest import make_record


def _err_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # exactly one line
    return err.strip()


def test_unknown_experiment_is_one_line_naming_the_known_ones(runs: Path, write_cell, capsys) -> None:
    write_cell(experiment="quickstart")
    write_cell(experiment="padam_table1")
    assert main(["table", "foo", "--runs", str(runs)]) == 2
    assert _err_line(capsys) == (f"results: no records under {runs / 'foo'} "
                                 "(experiments with records: padam_table1, quickstart)")


@pytest.mark.parametrize("argv", [["report"], ["curves", "x"], ["sensitivity", "x"], ["table", "x"]])
def test_empty_runs_directory_is_one_line(runs: Path, tmp_path: Path, capsys, argv) -> None:
    assert main([*argv, "--runs", str(runs), *(["--out", str(tmp_path / "r")] if argv == ["report"] else [])]) == 2
    line = _err_line(capsys)
    assert line.startswith("results: no records under")
    assert not (tmp_path / "r").exists()


def test_bad_arguments_are_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["table"])
    assert exc.value.code == 2
    assert "the following arguments are required: experiment" in _err_line(capsys)


def test_newer_record_schema_is_rejected_with_a_message(runs: Path, capsys) -> None:
    record = make_record(experiment="e")
    record["schema_version"] = SCHEMA_VERSION + 1
    path = runs / "e" / record["cell_id"] / "record.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record))
    assert main(["table", "e", "--runs", str(runs)]) == 2
    line = _err_line(capsys)
    assert str(path) in line and f"schema_version {SCHEMA_VERSION + 1} is newer" in line


def test_table_prints_markdown_and_writes_files_next_to_the_records(runs: Path, write_cell, capsys,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    write_cell(experiment="padam_table1", optimizer="padam", model="vgg16", dataset="cifar10",
               reproduces={"paper": "padam", "table": "1"}, val=[0.9], test=[0.94])
    monkeypatch.setenv("OPTBENCH_RUNS", str(runs))  # the default runs directory
    assert main(["table", "padam_table1"]) == 0
    out = capsys.readouterr().out
    assert "### Padam Table 1" in out and "| VGGNet | — / 93.71 |" in out and "94.00 / 93.78 (+0.22)" in out
    results_dir = runs / "padam_table1" / "_results"
    assert (results_dir / "table.md").read_text() in out
    assert (results_dir / "table.csv").exists()


def test_curves_and_sensitivity_subcommands_write_pngs(runs: Path, write_cell) -> None:
    write_cell(experiment="q", optimizer="adam", lr=0.01, val=[0.5, 0.9])
    write_cell(experiment="q", optimizer="adam", lr=0.1, val=[0.5, 0.7])
    assert main(["curves", "q", "--runs", str(runs)]) == 0
    assert main(["sensitivity", "q", "--runs", str(runs)]) == 0
    names = sorted(p.name for p in (runs / "q" / "_results").iterdir())
    assert names == ["curves_mlp_digits.png", "sensitivity.csv", "sensitivity_mlp_digits.png"]


def test_report_writes_an_index_linking_every_table_and_image(runs: Path, write_cell, tmp_path: Path) -> None:
    write_cell(experiment="quickstart", optimizer="adam", lr=0.01, val=[0.5, 0.9])
    write_cell(experiment="quickstart", optimizer="sgd", lr=0.1, val=[0.5, 0.8], status="diverged")
    write_cell(experiment="padam_table1", optimizer="padam", model="vgg16", dataset="cifar10",
               reproduces={"paper": "padam", "table": "1"}, val=[0.9], test=[0.94])
    out = tmp_path / "report"
    assert main(["report", "--runs", str(runs), "--out", str(out)]) == 0
    index = (out / "index.md").read_text()
    assert "## padam_table1" in index and "## quickstart" in index
    assert "#### Padam Table 1" in index  # the paper table, embedded
    links = re.findall(r"\]\(([^)#]+)\)", index)
    assert {Path(link).name for link in links} >= {"table.md", "table.csv", "curves_mlp_digits.png",
                                                  "sensitivity_mlp_digits.png", "curves_vgg16_cifar10.png"}
    for link in links:
        assert (out / link).stat().st_size > 0, link


def test_experiment_shorthand_renders_real_runner_records(runs: Path, capsys) -> None:
    """End to end: records written by the real runner (2 optimizers x 2 lrs, 1 epoch, digits)."""
    assert run_bench("experiment=quickstart", "sweep.optimizer=[sgd,adam]", "+lr_grids.sgd=[0.1,0.01]",
                     "+lr_grids.adam=[0.01,0.001]", "epochs=1", f"paths.runs={runs}") == 0
    capsys.readouterr()
    assert main(["quickstart", "--runs", str(runs)]) == 0
    out = capsys.readouterr().out
    header = ("| model / dataset | optimizer | best lr | val acc (%) | test acc (%) | epochs to target "
              "| time to target (s) | cells |")
    assert header in out
    rows = [line for line in out.splitlines() if line.startswith("| mlp / digits | ")]
    assert len(rows) == 1 + 1 + 2  # the generic grid row, its statistics row, one summary row per optimizer
    assert all(row.endswith("| 2 ok |") for row in rows[2:])
    produced = sorted(p.name for p in (runs / "quickstart" / "_results").iterdir())
    assert produced == ["curves_mlp_digits.png", "profile.csv", "profile.png", "sensitivity.csv",
                        "sensitivity_mlp_digits.png", "speed.csv", "table.csv", "table.md", "tuning.csv", "tuning.png"]


def test_toy_records_get_trajectory_plots_in_the_subcommand_and_the_report(runs: Path, tmp_path: Path) -> None:
    from bench.record import write_record

    record = make_record(experiment="toy", optimizer="adam", model="point", dataset="sphere", metric="dist",
                         mode="min", val=[2.0, 0.5], test=[2.0, 0.5], reproduces={"paper": "adamomentum", "table": "fig2"})
    record["extras"] = {"trajectory": [[-3.0, 4.0], [-1.0, 1.5], [-0.3, 0.4]], "minimum": [0.0, 0.0],
                        "bounds": [[-5.0, 5.0], [-5.0, 5.0]]}
    write_record(runs / "toy" / record["cell_id"], record)
    assert main(["trajectories", "toy", "--runs", str(runs)]) == 0
    assert (runs / "toy" / "_results" / "trajectories_sphere.png").stat().st_size > 10_000
    assert main(["report", "--runs", str(runs), "--out", str(tmp_path / "r")]) == 0
    assert "![trajectories_sphere](toy/trajectories_sphere.png)" in (tmp_path / "r" / "index.md").read_text()


def test_an_experiment_where_every_cell_failed_still_renders(runs: Path, write_cell, capsys) -> None:
    write_cell(experiment="broken", optimizer="adam", lr=0.1, val=[], status="failed")
    write_cell(experiment="broken", optimizer="sgd", lr=0.1, val=[0.5], status="running")
    assert main(["broken", "--runs", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "| mlp / digits | failed | running |" in out
    assert (runs / "broken" / "_results" / "curves_mlp_digits.png").stat().st_size > 0
