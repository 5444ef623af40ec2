"""``lr_grids.<name>=[...]`` works as the README writes it: no ``+`` needed for a new key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import run_bench


def test_lr_grid_override_without_plus(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench("optimizer=adam", "lr_grids.adam=[0.02,0.002]", f"paths.runs={runs}", "--dry-run") == 0
    out = capsys.readouterr().out
    assert sorted(re.findall(r"adam_mlp_digits_lr([0-9.e-]+)_s0_", out)) == ["0.002", "0.02"]  # not adam's own 5-point grid
    assert "dry run: 2 cell(s)" in out
