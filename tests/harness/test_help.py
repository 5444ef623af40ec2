"""``python -m bench --help`` is optbench's own page; Hydra's stays at ``--hydra-help``."""

from __future__ import annotations

import pytest

from bench.plan import group_options
from tests.conftest import run_bench


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_names_overrides_groups_and_where_records_go(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench(flag) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m bench [OVERRIDE ...] [--dry-run]")
    for text in ("optimizer=NAME", "lr=0.01", "lr_grids.NAME=", "seeds=", "experiment=", "+smoke=true",
                 "paths.runs=DIR", "paths.data=DIR", "--dry-run", "--hydra-help",
                 "PATHS.RUNS/<experiment>/<cell-id>/record.json"):
        assert text in out, text
    groups = {line.split()[0]: line for line in out.split("config groups (GROUP=OPTION):")[1].splitlines() if line.strip()
              and not line.startswith("    ")}
    for group in ("optimizer", "model", "dataset", "schedule", "trainer", "logger", "experiment", "hydra/launcher"):
        assert group in groups, group
    flat = " ".join(out.split("config groups (GROUP=OPTION):")[1].split())
    for option in group_options("optimizer") + group_options("trainer") + ["submitit_slurm", "basic"]:
        assert f" {option}," in flat or flat.endswith(f" {option}") or f" {option} " in flat, option
    assert "Hydra" not in out.split("\n")[0]
