"""Word-level Penn Treebank in the Mikolov layout: ``ptb.{train,valid,test}.txt``.

The files come from Mikolov's ``simple-examples.tgz`` (its ``data/`` folder), the copy every
PTB language-model paper uses: 10k-word vocabulary, lower case, ``<unk>`` already in the
text. The vocabulary and token ids are those of the AWD-LSTM reference code
(salesforce/awd-lstm-lm ``data.py``): each line is split on whitespace and gets a final
``<eos>``; words are numbered in order of first appearance, reading train, then valid,
then test. Token ids are cached as one int tensor per split in ``ptb.tokens.pt`` beside
the text (or in ``cache_dir``), so later runs read no text; the cache is keyed on the
sizes and modification times of the three files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

SPLITS = ("train", "valid", "test")
EOS = "<eos>"
CACHE_NAME = "ptb.tokens.pt"
CACHE_VERSION = 1
SOURCE = "Mikolov's simple-examples.tgz (data/ptb.*.txt)"
_SNIFF_BYTES = 1 << 16


class CorpusError(ValueError):
    """A missing or malformed corpus file; the message is one line naming the path."""


@dataclass(frozen=True)
class Corpus:
    """Token ids of the three splits (int64, one long stream each) and the vocabulary."""

    words: tuple[str, ...]
    train: Tensor
    valid: Tensor
    test: Tensor

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def split(self, name: str) -> Tensor:
        return {"train": self.train, "valid": self.valid, "val": self.valid, "test": self.test}[name]


def split_path(root: str | Path, split: str) -> Path:
    return Path(root) / f"ptb.{split}.txt"


def check_files(root: str | Path) -> list[str]:
    """Cheap checks of the three files (exist, non-empty, text): one line per problem."""
    if not Path(root).is_dir():
        return [f"{root}: no such folder; expected ptb.{{train,valid,test}}.txt from {SOURCE}"]
    problems = []
    for split in SPLITS:
        path = split_path(root, split)
        if not path.is_file():
            problems.append(f"{path}: missing; expected the word-level PTB file from {SOURCE}")
            continue
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
        if not head.strip():
            problems.append(f"{path}: empty; expected whitespace-separated words, one sentence per line")
        elif b"\0" in head or not _decodes(head):
            problems.append(f"{path}: not UTF-8 text; expected the word-level PTB file from {SOURCE}")
    return problems


def _decodes(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut by the sniff window is fine
        return exc.start >= len(head) - 3
    return True


def tokenize(root: str | Path) -> Corpus:
    """Read the three files into token ids (AWD-LSTM ``data.Corpus`` numbering)."""
    index: dict[str, int] = {}
    streams = {}
    for split in SPLITS:
        path = split_path(root, split)
        ids: list[int] = []
        try:
            with path.open(encoding="utf-8") as fh:  # line iteration as the reference reads it
                for line in fh:
                    for word in (*line.split(), EOS):
                        ids.append(index.setdefault(word, len(index)))
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{path}: not UTF-8 text ({exc.reason}); expected the file from {SOURCE}") from None
        except OSError as exc:
            raise CorpusError(f"{path}: cannot be read ({exc.strerror}); expected the file from {SOURCE}") from None
        if len(ids) < 2:
            raise CorpusError(f"{path}: has {len(ids)} token(s); a language model needs at least 2")
        streams[split] = torch.tensor(ids, dtype=torch.int64)
    words = tuple(index)  # dicts keep insertion order: id i is the i-th new word
    return Corpus(words, streams["train"], streams["valid"], streams["test"])


def _fingerprint(root: Path) -> list[list[int]]:
    return [[(st := os.stat(split_path(root, s))).st_size, st.st_mtime_ns] for s in SPLITS]


def load_corpus(root: str | Path, cache_dir: str | Path | None = None) -> Corpus:
    """The corpus under ``root``, from the token cache when it matches the files.

    The cache is written next to the files (or into ``cache_dir``) after the first read;
    where that is not writable the corpus is simply read again next time.
    """
    root = Path(root)
    problems = check_files(root)
    if problems:
        raise CorpusError(problems[0])
    cache = Path(cache_dir or root) / CACHE_NAME
    stamp = _fingerprint(root)
    if cache.is_file():
        try:
            data = torch.load(cache, weights_only=True)
            if data.get("version") == CACHE_VERSION and data.get("sources") == stamp:
                return Corpus(tuple(data["words"]), *(data[s].long() for s in SPLITS))
        except Exception:  # noqa: BLE001 - a stale or corrupt cache is rebuilt, never trusted
            pass
    corpus = tokenize(root)
    payload = {"version": CACHE_VERSION, "sources": stamp, "words": list(corpus.words),
               **{s: corpus.split(s).to(torch.int32) for s in SPLITS}}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        torch.save(payload, tmp)
        os.replace(tmp, cache)
    except OSError:
        pass  # read-only data directory: no cache
    return corpus
