"""``python -m tasks.lm.perf``: the synthetic corpus is real-format PTB and the benchmark runs (slow)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tasks.lm.corpus import load_corpus
from tasks.lm.perf import main, write_synthetic_ptb


def test_synthetic_corpus_is_ptb_format_with_the_whole_vocabulary_in_train(tmp_path: Path) -> None:
    vocab = write_synthetic_ptb(tmp_path / "ptb", 30_000, vocab=500)
    corpus = load_corpus(tmp_path / "ptb")
    assert corpus.vocab_size == vocab and (tmp_path / "ptb" / "ptb.train.txt").read_text().startswith(" w")
    assert int(corpus.train.max()) == vocab - 1


@pytest.mark.slow
def test_benchmark_prints_both_rates_and_their_ratio(capsys) -> None:
    assert main(["--repeats", "1", "--train-tokens", "3000"]) == 0
    out = capsys.readouterr().out
    for clock in ("wall", "cpu"):
        for name in ("plain", "runner"):
            assert re.search(rf"{clock} +{name} +\d+ tokens/s", out), (clock, name)
    assert re.search(r"ratio runner / plain: wall \d\.\d{3}, cpu \d\.\d{3}", out)
