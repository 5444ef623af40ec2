"""The prepared IWSLT'14 splits as token-budget batches (fairseq ``--max-tokens``).

Batching follows fairseq's ``LanguagePairDataset`` + ``batch_by_size``: sentences are ordered by
source length, then target length, ties in a random order drawn once from the cell's seed; a
batch grows while ``len(batch) * max(longest source, longest target) <= max_tokens``, and is cut
to a multiple of 8 sentences when it has more; the batches are fixed for the run and their
order is reshuffled every epoch from ``(seed, epoch)`` (so a resumed run sees the same stream).
A batch is ``(src, prev, tgt)``: right-padded ids, ``prev`` = ``</s>`` + target without its last
token (teacher forcing), ``tgt`` ending in ``</s>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from tasks.base import TaskData
from tasks.tensor_loader import EpochSampler
from tasks.translation.prepare import OUTPUTS, SOURCE_HINT
from tasks.translation.vocab import EOS_ID, PAD_ID

Batch = tuple[Tensor, Tensor, Tensor]


class Split:
    """One prepared split: ragged source/target id sequences."""

    def __init__(self, data: dict[str, dict[str, Tensor]], limit: int | None = None) -> None:
        self.src, self.tgt = data["src"], data["tgt"]
        n = len(self.src["offsets"]) - 1
        self.n = n if limit is None else min(n, int(limit))
        self.src_len = (self.src["offsets"][1:] - self.src["offsets"][:-1])[: self.n]
        self.tgt_len = (self.tgt["offsets"][1:] - self.tgt["offsets"][:-1])[: self.n]

    def __len__(self) -> int:
        return self.n

    def _ids(self, side: dict[str, Tensor], i: int) -> Tensor:
        return side["tokens"][side["offsets"][i]: side["offsets"][i + 1]].long()

    def collate(self, index: list[int]) -> Batch:
        srcs = [self._ids(self.src, i) for i in index]
        tgts = [self._ids(self.tgt, i) for i in index]
        src = torch.nn.utils.rnn.pad_sequence(srcs, batch_first=True, padding_value=PAD_ID)
        tgt = torch.nn.utils.rnn.pad_sequence(tgts, batch_first=True, padding_value=PAD_ID)
        prev = torch.nn.utils.rnn.pad_sequence([torch.cat([t.new_tensor([EOS_ID]), t[:-1]]) for t in tgts],
                                               batch_first=True, padding_value=PAD_ID)
        return src, prev, tgt


def batch_by_size(src_len: Tensor, tgt_len: Tensor, max_tokens: int, seed: int,
                  multiple: int = 8) -> list[list[int]]:
    """fairseq's ordered indices + ``batch_by_size`` (see the module docstring)."""
    n = len(src_len)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    order = order[torch.argsort(tgt_len[order], stable=True)]
    order = order[torch.argsort(src_len[order], stable=True)]
    sizes = torch.maximum(src_len, tgt_len)
    batches: list[list[int]] = []
    batch: list[int] = []
    longest = 0
    for i in order.tolist():
        size = int(sizes[i])
        if size > max_tokens:
            raise ValueError(f"a sentence of {size} tokens exceeds max_tokens={max_tokens}")
        if batch and (len(batch) + 1) * max(longest, size) > max_tokens:
            keep = max(multiple * (len(batch) // multiple), len(batch) % multiple)
            batches.append(batch[:keep])
            batch = batch[keep:]
            longest = max((int(sizes[j]) for j in batch), default=0)
        batch.append(i)
        longest = max(longest, size)
    if batch:
        batches.append(batch)
    return batches


class TokenBatches:
    """Iterable of collated batches; shuffled per epoch from ``(seed, epoch)`` when ``shuffle``.

    With ``world_size > 1``, training (``pad``) gives rank ``r`` batches ``r, r + W, ...`` of the
    shuffled order, wrapped to a multiple of ``W`` so every rank steps equally often; evaluation
    gives rank ``r`` the sentences ``r, r + W, ...`` batched on their own, so every sentence is
    scored exactly once and every rank has a batch (Lightning requires one) when ``n >= W``.
    """

    def __init__(self, split: Split, max_tokens: int, seed: int = 0, shuffle: bool = False,
                 rank: int = 0, world_size: int = 1, pad: bool = True) -> None:
        self.split, self.seed, self.shuffle = split, seed, shuffle
        self.rank, self.world_size, self.pad = rank, world_size, pad
        if world_size > 1 and not pad:
            mine = torch.arange(rank, len(split), world_size)
            if len(mine) == 0:
                raise ValueError(f"{len(split)} sentences cannot give each of {world_size} ranks one")
            local = batch_by_size(split.src_len[mine], split.tgt_len[mine], max_tokens, seed)
            self.batches = [[int(mine[i]) for i in b] for b in local]
        else:
            self.batches = batch_by_size(split.src_len, split.tgt_len, max_tokens, seed)
        self.sampler = EpochSampler()  # Lightning sets the epoch before each one
        self.batch_sampler = None

    def _order(self) -> list[int]:
        order = list(range(len(self.batches)))
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.sampler.epoch)
            order = torch.randperm(len(self.batches), generator=gen).tolist()
        if self.world_size > 1 and self.pad:
            if len(order) % self.world_size:
                order += order[: self.world_size - len(order) % self.world_size]
            order = order[self.rank:: self.world_size]
        return order

    def __len__(self) -> int:
        return len(self._order())

    def __iter__(self) -> Iterator[Batch]:
        for b in self._order():
            yield self.split.collate(self.batches[b])

    @property
    def num_tokens(self) -> int:
        return int(self.split.tgt_len.sum())


class TranslationData(TaskData):
    """``{data_dir}/{train,valid,test}.pt`` written by ``python -m tasks.translation.prepare``.

    ``train_limit``/``eval_limit`` keep the first N pairs (the CPU-sized ``iwslt_small``).
    """

    def __init__(self, data_dir: str, max_tokens: int = 4096, eval_max_tokens: int | None = None,
                 seed: int = 0, train_limit: int | None = None, eval_limit: int | None = None) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.max_tokens = int(max_tokens)
        self.eval_max_tokens = int(eval_max_tokens or max_tokens)
        self.seed, self.train_limit, self.eval_limit = int(seed), train_limit, eval_limit
        self.splits: dict[str, Split] = {}

    def preflight(self) -> list[str]:
        """One line per missing prepared file."""
        return [f"{self.data_dir / name}: missing; run `python -m tasks.translation.prepare <de-en.tgz> "
                f"{self.data_dir}` ({SOURCE_HINT})" for name in OUTPUTS if not (self.data_dir / name).is_file()]

    def example_batch(self) -> Batch:
        """Two sentence pairs of ids (no file access), for the plan-time fit check."""
        src = torch.tensor([[5, 6, 7, EOS_ID], [8, 9, EOS_ID, PAD_ID]])
        tgt = torch.tensor([[10, 11, EOS_ID], [12, EOS_ID, PAD_ID]])
        prev = torch.tensor([[EOS_ID, 10, 11], [EOS_ID, 12, PAD_ID]])
        return src, prev, tgt

    def setup(self, stage: str | None = None) -> None:
        problems = self.preflight()
        if problems:
            raise FileNotFoundError(problems[0])
        for split, file, limit in (("train", "train", self.train_limit), ("val", "valid", self.eval_limit),
                                   ("test", "test", self.eval_limit)):
            if split not in self.splits:
                self.splits[split] = Split(torch.load(self.data_dir / f"{file}.pt"), limit)

    def split_loader(self, split: str) -> TokenBatches:
        if not self.splits:
            self.setup("fit")
        rank, world = self.rank_and_world()
        if split == "train":
            return TokenBatches(self.splits["train"], self.max_tokens, self.seed, shuffle=True,
                                rank=rank, world_size=world, pad=True)
        return TokenBatches(self.splits[split], self.eval_max_tokens, 0, rank=rank, world_size=world, pad=False)

    def describe(self) -> dict[str, Any]:
        return {s: len(v) for s, v in self.splits.items()}
