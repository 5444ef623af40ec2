"""Token streams cut into parallel columns and truncated-BPTT windows (AWD-LSTM ``utils.py``).

A split's token stream is trimmed to a multiple of ``streams`` and laid out as a
``(time, streams)`` grid: column ``j`` is the ``j``-th contiguous piece of the text, so each
column is read in order and the hidden state of a column carries from one window to the
next. A window ``(start, length)`` reads rows ``start .. start+length-1`` as input and the
rows one step later as targets.

Training windows are either fixed (``bptt`` rows; the last one shorter) or AWD-LSTM's
variable length: ``bptt`` halved with probability 0.05, then ``max(5, int(N(bptt, 5)))``,
with the learning rate of that step scaled by ``length / bptt`` (the sampled length, as
the reference does, also for the last window that the stream end cuts short). The lengths
are drawn from a generator seeded by ``(seed, epoch)`` only, so a resumed run reads the
same windows as an uninterrupted one.

Data parallelism: each rank takes a contiguous block of the columns
(:func:`rank_columns`); evaluation ranks that get no column evaluate column 0 with weight 0
so every rank runs the same windows and the summed metrics count every token once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
from torch import Tensor

from tasks.tensor_loader import EpochSampler  # Lightning calls loader.sampler.set_epoch(epoch)

MIN_LENGTH = 5      # AWD-LSTM: "prevent excessively small or negative sequence lengths"
LENGTH_STD = 5.0    # AWD-LSTM: seq_len ~ N(bptt, 5)
HALF_PROB = 0.05    # AWD-LSTM: bptt / 2 with probability 0.05


class Window(NamedTuple):
    """One truncated-BPTT batch: ``input``/``target`` are ``(time, streams)`` int64."""

    input: Tensor
    target: Tensor
    lr_scale: float = 1.0   # multiply the step's learning rate by this (variable BPTT)
    weight: float = 1.0     # 0 for a padding rank's evaluation windows (counted nowhere)


def batchify(stream: Tensor, streams: int) -> Tensor:
    """``(time, streams)`` grid of a 1-D token stream, the tail that does not fit dropped."""
    if streams < 1:
        raise ValueError(f"streams must be >= 1, got {streams}")
    rows = stream.numel() // streams
    if rows < 2:
        raise ValueError(f"a stream of {stream.numel()} tokens is too short for {streams} parallel streams")
    return stream[: rows * streams].view(streams, rows).t().contiguous()


def fixed_windows(rows: int, bptt: int) -> list[tuple[int, int, float]]:
    """``(start, length, lr_scale)`` covering every target row once, ``bptt`` rows each."""
    if bptt < 1:
        raise ValueError(f"bptt must be >= 1, got {bptt}")
    return [(i, min(bptt, rows - 1 - i), 1.0) for i in range(0, rows - 1, bptt)]


def variable_windows(rows: int, bptt: int, rng: np.random.Generator) -> list[tuple[int, int, float]]:
    """AWD-LSTM's training windows (``main.py`` ``train()``): lengths drawn from ``rng``."""
    windows = []
    i = 0
    while i < rows - 1 - 1:
        base = bptt if rng.random() < 1 - HALF_PROB else bptt / 2.0
        length = max(MIN_LENGTH, int(rng.normal(base, LENGTH_STD)))
        windows.append((i, min(length, rows - 1 - i), length / bptt))
        i += length
    return windows


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(epoch), 0x5054_42])


def rank_columns(streams: int, rank: int, world: int) -> tuple[int, int]:
    """``[lo, hi)``: the contiguous block of ``streams`` columns that ``rank`` of ``world`` takes."""
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} is not in a world of {world}")
    base, extra = divmod(streams, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (rank < extra)


class WindowLoader:
    """Iterate the :class:`Window` s of one ``(time, streams)`` grid.

    ``variable_bptt`` draws the AWD-LSTM lengths per epoch from ``(seed, epoch)``; then the
    number of windows changes from epoch to epoch and the loader has no ``len`` (Lightning
    ends the epoch when it is exhausted). ``weight`` 0 marks a padding rank's evaluation.
    """

    def __init__(self, grid: Tensor, bptt: int, *, variable_bptt: bool = False, seed: int = 0,
                 weight: float = 1.0) -> None:
        if grid.dim() != 2 or grid.shape[0] < 2:
            raise ValueError(f"grid must be (time >= 2, streams), got shape {tuple(grid.shape)}")
        self.grid = grid
        self.bptt = int(bptt)
        self.variable_bptt = variable_bptt
        self.seed = int(seed)
        self.weight = float(weight)
        self.sampler = EpochSampler()
        self.batch_sampler = None  # Lightning inspects it; batching is done here

    def windows(self) -> list[tuple[int, int, float]]:
        rows = self.grid.shape[0]
        if self.variable_bptt:
            return variable_windows(rows, self.bptt, epoch_rng(self.seed, self.sampler.epoch))
        return fixed_windows(rows, self.bptt)

    def __len__(self) -> int:
        if self.variable_bptt:
            raise TypeError("variable-length BPTT: the number of windows differs per epoch")
        return len(fixed_windows(self.grid.shape[0], self.bptt))

    @property
    def tokens(self) -> int:
        """Target tokens per pass (all windows, all columns)."""
        return (self.grid.shape[0] - 1) * self.grid.shape[1]

    def __iter__(self) -> Iterator[Window]:
        grid = self.grid
        for start, length, scale in self.windows():
            yield Window(grid[start:start + length], grid[start + 1:start + 1 + length], scale, self.weight)


def rank_loader(stream: Tensor, streams: int, bptt: int, rank: int, world: int, *,
                variable_bptt: bool = False, seed: int = 0) -> WindowLoader:
    """The loader of ``rank``: its block of the ``streams`` columns of ``stream``.

    A rank whose block is empty (more ranks than columns) gets column 0 with weight 0.
    """
    grid = batchify(stream, streams)
    lo, hi = rank_columns(streams, rank, world)
    if hi > lo:
        return WindowLoader(grid[:, lo:hi].contiguous(), bptt, variable_bptt=variable_bptt, seed=seed)
    return WindowLoader(grid[:, :1].contiguous(), bptt, variable_bptt=variable_bptt, seed=seed, weight=0.0)

