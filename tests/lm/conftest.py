"""Tiny Penn Treebank corpora in the real on-disk format (Mikolov's ptb.*.txt files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

WORDS = ["the", "a", "of", "to", "in", "and", "n't", "'s", "N", "$", "<unk>", "market", "stock",
         "company", "said", "year", "shares", "new", "million", "prices", "trading", "up", "down", "is"]


def ptb_lines(n_lines: int, seed: int, words: list[str] = WORDS) -> list[str]:
    """Sentences as PTB prints them: a leading space, words separated by spaces, a trailing space."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n_lines):
        length = int(rng.integers(3, 15))
        # a Markov-ish chain so a model has something to learn
        ids = [int(rng.integers(len(words)))]
        for _ in range(length - 1):
            ids.append((ids[-1] * 7 + int(rng.integers(3))) % len(words))
        lines.append(" " + " ".join(words[i] for i in ids) + " ")
    return lines


def write_ptb(root: Path, n_train: int = 300, n_valid: int = 40, n_test: int = 40, seed: int = 0) -> Path:
    """``root/ptb.{train,valid,test}.txt``; every word of valid/test also occurs in train."""
    root.mkdir(parents=True, exist_ok=True)
    train = ptb_lines(n_train, seed)
    train.append(" " + " ".join(WORDS) + " ")  # the whole vocabulary is in the training split
    for split, lines in (("train", train), ("valid", ptb_lines(n_valid, seed + 1)),
                         ("test", ptb_lines(n_test, seed + 2))):
        (root / f"ptb.{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


VOCAB = len(WORDS) + 1  # + <eos>


@pytest.fixture
def ptb_dir(tmp_path: Path) -> Path:
    return write_ptb(tmp_path / "data" / "ptb")
