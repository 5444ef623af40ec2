"""A job finds its cell in the sweep's plan file, which each process reads once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import plan as plan_module
from bench.plan import plan_cells, planned_cell


def test_each_job_finds_its_entry_and_the_file_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    planned = plan_cells(["optimizer=adam", "optimizer.lr_grid=[0.01,0.001]", "seeds=[0,1]", f"paths.runs={tmp_path}"])
    path = planned.write()
    reads: list[Path] = []
    read_text = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: reads.append(self) or read_text(self, *a, **k))
    plan_module._plan_entries.cache_clear()
    for cell, run_dir in zip(planned.cells, planned.run_dirs):
        entry = planned_cell(path, cell)
        assert entry is not None and entry["run_dir"] == str(run_dir) and entry["overrides"] == cell
    assert len(planned.cells) == 4 and reads == [path]
    assert planned_cell(path, ["optimizer=adam", "lr=0.5", "seed=0"]) is None
    assert planned_cell(tmp_path / "_plans" / "missing.json", planned.cells[0]) is None
