"""``python -m bench.perf gpu``: one line and exit 1 without CUDA; ``--tiny`` writes the full report here."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.perf import gpu


def test_without_cuda_it_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu.main(["--out", str(tmp_path / "r.md")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [gpu.NO_CUDA]
    assert not (tmp_path / "r.md").exists()


def test_tiny_report_has_every_section_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    assert gpu.main(["--tiny", "--skip-tests", "--repeats", "1", "--out", str(out)]) == 0
    text = out.read_text()
    assert "## make test-gpu" in text and "## Optimizer step vs Adam(fused=True)" in text
    names = [name for name, _, _ in gpu._optimizer_specs()]
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ") and " | " in line]
    timed = {r[0].lstrip("| ") for r in rows if len(r) >= 4 and r[3].endswith("x")}
    assert set(names) <= timed  # every optimizer's eager step was timed against fused Adam
    epoch = text.split("## ResNet-18")[1]
    assert "failed" not in epoch
    ratio = float(epoch.strip().splitlines()[-1].split("|")[3])
    assert 0 < ratio < 10
