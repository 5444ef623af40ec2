"""Plan-time checks remembered in the user's cache (``bench.checkcache``; tests: ``OPTBENCH_CACHE``): a second plan imports neither
torch nor Lightning, a changed file of a target's package runs the check again, and only passes
are remembered (a broken task still fails at plan time with one line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import checkcache
from tests.conftest import heavy_imports_of_bench, run_bench

SEARCH = f"hydra.searchpath=[file://{Path(__file__).parent / 'conf'}]"


def test_second_plan_of_a_sweep_imports_no_torch_and_no_lightning(tmp_path: Path) -> None:
    assert run_bench("optimizer=adam", "--dry-run", f"paths.runs={tmp_path}") == 0  # this process: checks run
    checks = json.loads((checkcache.cache_dir() / "checks.json").read_text())["checks"]
    assert not (tmp_path / "_plans").exists()  # a dry run writes nothing under paths.runs
    assert {k.split(":")[0] for k in checks} == {"task", "optimizer", "fit", "preflight-free"}
    assert heavy_imports_of_bench("optimizer=adam", "--dry-run", f"paths.runs={tmp_path}") == []


def test_a_changed_file_changes_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "fakepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text("class C: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    checkcache.package_fingerprint.cache_clear()
    before = checkcache.check_key("fit", {"model": {"_target_": "fakepkg.mod.C"}})
    assert checkcache.check_key("fit", {"model": {"_target_": "fakepkg.mod.C"}}) == before
    assert checkcache.check_key("fit", {"model": {"_target_": "fakepkg.mod.C", "width": 2}}) != before
    (pkg / "mod.py").write_text("class C:\n    width = 3\n")
    checkcache.package_fingerprint.cache_clear()
    assert checkcache.check_key("fit", {"model": {"_target_": "fakepkg.mod.C"}}) != before
    checkcache.package_fingerprint.cache_clear()


def test_a_broken_task_still_fails_at_plan_time_beside_a_warm_cache(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    good = ("model=gan_tiny", "dataset=gauss1d", "lr=0.1", SEARCH, f"paths.runs={tmp_path}")
    assert run_bench("module=tiny_gan", "optimizer=adam", "--dry-run", *good) == 0
    capsys.readouterr()
    assert run_bench("module=forgetful", *good) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "declares no selection metric" in err[0]
