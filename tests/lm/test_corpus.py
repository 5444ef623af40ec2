"""PTB reader: the AWD-LSTM vocabulary and ids, <eos> per line, the token cache, bad files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import tasks.lm.corpus as corpus_mod
from tasks.lm.corpus import CACHE_NAME, CorpusError, check_files, load_corpus, tokenize
from tests.lm.conftest import VOCAB, write_ptb


def _write(root: Path, train: str, valid: str, test: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for split, text in (("train", train), ("valid", valid), ("test", test)):
        (root / f"ptb.{split}.txt").write_text(text, encoding="utf-8")
    return root


def test_ids_follow_first_appearance_over_train_valid_test_with_eos_per_line(tmp_path: Path) -> None:
    root = _write(tmp_path, " the cat <unk> \n the  dog\n", " a cat \n", " the bird \n\n")
    c = tokenize(root)
    assert c.words == ("the", "cat", "<unk>", "<eos>", "dog", "a", "bird")
    assert c.train.tolist() == [0, 1, 2, 3, 0, 4, 3]
    assert c.valid.tolist() == [5, 1, 3]           # "a" first seen in valid gets the next id
    assert c.test.tolist() == [0, 6, 3, 3]         # an empty line is one <eos>
    assert c.train.dtype == torch.int64 and c.vocab_size == 7


def test_a_last_line_without_newline_still_ends_with_eos(tmp_path: Path) -> None:
    c = tokenize(_write(tmp_path, " x y\n z", " x \n", " y \n"))
    assert c.train.tolist() == [0, 1, 2, 3, 2]


def test_tiny_real_format_corpus_counts(ptb_dir: Path) -> None:
    c = load_corpus(ptb_dir)
    assert c.vocab_size == VOCAB
    for split in ("train", "valid", "test"):
        lines = (ptb_dir / f"ptb.{split}.txt").read_text().splitlines()
        words = sum(len(line.split()) for line in lines)
        ids = c.split(split)
        assert ids.numel() == words + len(lines)
        assert int((ids == c.words.index("<eos>")).sum()) == len(lines)


def test_second_load_reads_no_text_and_a_changed_file_invalidates_the_cache(ptb_dir: Path, monkeypatch) -> None:
    first = load_corpus(ptb_dir)
    assert (ptb_dir / CACHE_NAME).is_file()

    def no_text(root):  # noqa: ANN001
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(corpus_mod, "tokenize", no_text)
    second = load_corpus(ptb_dir)
    assert second.words == first.words
    assert all(torch.equal(first.split(s), second.split(s)) and second.split(s).dtype == torch.int64
               for s in ("train", "valid", "test"))

    monkeypatch.undo()
    path = ptb_dir / "ptb.test.txt"
    path.write_text(path.read_text() + " the market \n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    third = load_corpus(ptb_dir)
    assert third.test.numel() == first.test.numel() + 3


def test_cache_dir_and_read_only_data(ptb_dir: Path, tmp_path: Path) -> None:
    load_corpus(ptb_dir, cache_dir=tmp_path / "cache")
    assert (tmp_path / "cache" / CACHE_NAME).is_file() and not (ptb_dir / CACHE_NAME).exists()
    (ptb_dir / CACHE_NAME).write_bytes(b"not a torch file")  # a corrupt cache is rebuilt
    assert load_corpus(ptb_dir).vocab_size == VOCAB


def test_missing_empty_and_binary_files_are_one_line_errors_naming_the_path(tmp_path: Path) -> None:
    root = write_ptb(tmp_path / "ptb")
    (root / "ptb.valid.txt").unlink()
    (root / "ptb.test.txt").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    problems = check_files(root)
    assert len(problems) == 2 and all("\n" not in p for p in problems)
    assert str(root / "ptb.valid.txt") in problems[0] and "missing" in problems[0] and "simple-examples" in problems[0]
    assert str(root / "ptb.test.txt") in problems[1] and "not UTF-8 text" in problems[1]
    with pytest.raises(CorpusError, match="ptb.valid.txt: missing"):
        load_corpus(root)
    (root / "ptb.valid.txt").write_text("   \n")
    assert "empty" in check_files(root)[0]
