"""A long in-process sweep frees each cell's model before the next cell builds its own."""

from __future__ import annotations

import weakref
from pathlib import Path

import pytest

import bench.cell
import tasks.classification as classification
from tests.conftest import run_bench


def test_previous_cells_are_freed_before_the_next_is_built(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench.cell, "COLLECT_AFTER_S", 0.0)  # collect after every cell, however short
    built: list[weakref.ref] = []
    alive_at_build: list[int] = []
    original = classification.ClassificationModule.__init__

    def tracking_init(self, *args, **kwargs):
        alive_at_build.append(sum(ref() is not None for ref in built))
        original(self, *args, **kwargs)
        built.append(weakref.ref(self))

    monkeypatch.setattr(classification.ClassificationModule, "__init__", tracking_init)
    assert run_bench("optimizer=sgd", "optimizer.lr_grid=[0.1,0.05,0.02]", "epochs=1", f"paths.runs={runs}") == 0
    assert alive_at_build == [0, 0, 0]
