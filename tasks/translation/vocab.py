"""A fairseq-compatible dictionary: ``<s>=0, <pad>=1, </s>=2, <unk>=3``, then symbols by count.

Built the way ``fairseq-preprocess --joined-dictionary`` builds it: tokens counted over the
BPE-segmented training text of both languages (each line also counts one ``</s>``), sorted by
count (ties alphabetically), padded with ``madeupwordNNNN`` to a multiple of 8. ``dict.txt``
holds one ``symbol count`` line per non-special symbol, as fairseq writes it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import torch

BOS, PAD, EOS, UNK = "<s>", "<pad>", "</s>", "<unk>"
SPECIALS = (BOS, PAD, EOS, UNK)
BOS_ID, PAD_ID, EOS_ID, UNK_ID = range(4)
UNK_ESCAPED = "<<unk>>"  # how fairseq-generate prints an unknown reference token (never matches)


class Dictionary:
    """Symbol <-> id table."""

    def __init__(self, symbols: list[str], counts: list[int] | None = None) -> None:
        self.symbols = list(SPECIALS) + list(symbols)
        self.counts = [0] * len(SPECIALS) + list(counts or [0] * len(symbols))
        self.index = {s: i for i, s in enumerate(self.symbols)}

    def __len__(self) -> int:
        return len(self.symbols)

    @classmethod
    def build(cls, lines: Iterable[str], padding_factor: int = 8) -> "Dictionary":
        counter: Counter[str] = Counter()
        eos = 0
        for line in lines:
            counter.update(line.split())
            eos += 1
        counter.pop(EOS, None)
        ordered = sorted(sorted(counter.items()), key=lambda kv: kv[1], reverse=True)  # stable: ties alphabetical
        symbols = [s for s, _ in ordered if s not in SPECIALS]
        counts = [counter[s] for s in symbols]
        i = 0
        while (len(symbols) + len(SPECIALS)) % padding_factor:
            symbols.append(f"madeupword{i:04d}")
            counts.append(0)
            i += 1
        return cls(symbols, counts)

    @classmethod
    def load(cls, path: Path) -> "Dictionary":
        symbols, counts = [], []
        for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            symbol, _, count = line.rpartition(" ")
            if not symbol or not count.isdigit():
                raise ValueError(f"{path}:{n}: expected 'symbol count', got {line!r}")
            symbols.append(symbol)
            counts.append(int(count))
        return cls(symbols, counts)

    def save(self, path: Path) -> None:
        body = "".join(f"{s} {c}\n" for s, c in zip(self.symbols[len(SPECIALS):], self.counts[len(SPECIALS):]))
        Path(path).write_text(body, encoding="utf-8")

    def encode(self, line: str) -> list[int]:
        """Ids of the whitespace-separated tokens of ``line`` followed by ``</s>``."""
        return [self.index.get(t, UNK_ID) for t in line.split()] + [EOS_ID]

    def string(self, ids: Iterable[int], escape_unk: bool = False) -> str:
        """Tokens of ``ids`` joined by spaces, stopping at ``</s>`` and skipping ``<pad>``/``<s>``."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i in (PAD_ID, BOS_ID):
                continue
            out.append(UNK_ESCAPED if (escape_unk and i == UNK_ID) else self.symbols[i])
        return " ".join(out)


def vocab_size(dict_path: str | Path) -> int:
    """Number of ids (specials included) of a prepared ``dict.txt``; one-line error when missing."""
    path = Path(dict_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: run `python -m tasks.translation.prepare <de-en.tgz> "
                                f"{path.parent}` (IWSLT'14 archive: user-supplied)")
    return len(SPECIALS) + sum(1 for _ in path.open(encoding="utf-8"))


def pack(sentences: list[list[int]]) -> dict[str, torch.Tensor]:
    """Concatenated ids plus offsets: sentence ``i`` is ``tokens[offsets[i]:offsets[i+1]]``."""
    lengths = torch.tensor([len(s) for s in sentences], dtype=torch.int64)
    offsets = torch.zeros(len(sentences) + 1, dtype=torch.int64)
    torch.cumsum(lengths, 0, out=offsets[1:])
    flat = [t for s in sentences for t in s]
    return {"tokens": torch.tensor(flat, dtype=torch.int32), "offsets": offsets}
