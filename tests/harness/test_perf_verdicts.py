"""``python -m bench.perf optimizers`` names every missed target (issue 17), from made-up timings."""

from __future__ import annotations

import pytest

from bench.perf.optimizers import COMPILE_S_TARGET, Row, _verdicts


def _row(name: str, mode: str, note: str, ratios: dict, compile_s: float | None = None, same_as: str = "") -> Row:
    row = Row(name, build=lambda ps: None, mode=mode, note=note, same_as=same_as, compile_s=compile_s)
    row.ratios = ratios
    return row


def _verdict_line(rows: list[Row], capsys: pytest.CaptureFixture[str]) -> str:
    _verdicts(rows, [1, 2])
    return capsys.readouterr().out.strip()


def test_rows_within_every_target_pass(capsys):
    rows = [
        _row("yogi", "eager", "element-wise", {1: (10.0, 2.5, 0.9), 2: (8.0, 2.0, 1.0)}),
        _row("yogi", "compiled", "element-wise", {1: (4.0, 1.5, 0.3)}, compile_s=COMPILE_S_TARGET),
        _row("adarems", "compiled", "per-tensor reduction", {1: (6.0, 2.0, 0.4)}, compile_s=5.0),
    ]
    assert _verdict_line(rows, capsys) == "targets: all met"


def test_each_kind_of_miss_is_named(capsys):
    rows = [
        _row("yogi", "eager", "element-wise", {2: (8.0, 2.0, 1.01)}),
        _row("yogi", "compiled", "element-wise", {1: (4.0, 1.51, 0.3)}, compile_s=31.0),
        _row("adarems", "compiled", "per-tensor reduction", {1: (6.0, 2.01, 0.4)}, compile_s=5.0),
        _row("peer Yogi", "eager", "", {2: (7.0, 2.0, 0.9)}, same_as="yogi"),
    ]
    line = _verdict_line(rows, capsys)
    assert line.startswith("targets: MISSED: ")
    assert "yogi eager 2t: 1.01× Adam-foreach > 1.0×" in line
    assert "yogi compiled 1t: 1.51× fused Adam > 1.5×" in line
    assert "yogi compiled: first step 31 s > 30 s" in line
    assert "adarems compiled 1t: 2.01× fused Adam > 2.0×" in line
    assert "peer Yogi eager 2t (2.00×) is not slower than yogi (2.00×)" in line
