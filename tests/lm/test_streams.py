"""Parallel streams, truncated-BPTT windows (fixed and AWD-LSTM's variable length), rank slices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasks.lm.streams import (WindowLoader, batchify, epoch_rng, fixed_windows, rank_columns, rank_loader,
                              variable_windows)


def test_batchify_lays_out_contiguous_pieces_as_columns_and_drops_the_tail() -> None:
    grid = batchify(torch.arange(23), 4)
    assert grid.shape == (5, 4)
    assert grid[:, 1].tolist() == [5, 6, 7, 8, 9]  # column j is the j-th piece of the text
    assert grid.flatten().sort().values.tolist() == list(range(20))
    with pytest.raises(ValueError, match="too short"):
        batchify(torch.arange(5), 4)


def test_fixed_windows_predict_every_next_token_once() -> None:
    grid = batchify(torch.arange(1000), 3)
    loader = WindowLoader(grid, bptt=7)
    targets = torch.cat([w.target for w in loader])
    inputs = torch.cat([w.input for w in loader])
    assert torch.equal(targets, grid[1:]) and torch.equal(inputs, grid[:-1])
    assert len(loader) == len(list(loader)) == -(-(grid.shape[0] - 1) // 7)
    assert loader.tokens == targets.numel()


def test_variable_windows_follow_awd_lstm_and_depend_only_on_seed_and_epoch() -> None:
    rows, bptt = 2_000_000, 70  # ~28k windows: the means below are within 5 standard errors
    windows = variable_windows(rows, bptt, epoch_rng(3, 0))
    assert windows == variable_windows(rows, bptt, epoch_rng(3, 0))
    assert windows != variable_windows(rows, bptt, epoch_rng(3, 1)) != variable_windows(rows, bptt, epoch_rng(4, 0))
    starts = [s for s, _, _ in windows]
    lengths = np.array([n for _, n, _ in windows[:-1]])
    assert starts[0] == 0 and all(b == a + n for (a, n, _), b in zip(windows, starts[1:]))
    assert windows[-1][0] + windows[-1][1] == rows - 1  # the last window ends at the last target
    assert lengths.min() >= 5
    assert all(scale == n / bptt for _, n, scale in windows[:-1])  # lr scale = length / bptt
    # int(N(70, 5)) w.p. 0.95, int(N(35, 5)) w.p. 0.05: truncation toward 0 lowers each mean by ~0.5
    short = lengths < 52
    assert 0.04 < short.mean() < 0.06
    assert abs(lengths[~short].mean() - 69.5) < 0.15 and abs(lengths[~short].std() - 5.0) < 0.15
    assert abs(lengths[short].mean() - 34.5) < 0.3


def test_variable_loader_has_no_length_and_reseeds_each_epoch() -> None:
    loader = WindowLoader(batchify(torch.arange(20_000), 2), 70, variable_bptt=True, seed=1)
    with pytest.raises(TypeError):
        len(loader)
    first = [w.input.shape[0] for w in loader]
    loader.sampler.set_epoch(1)
    second = [w.input.shape[0] for w in loader]
    loader.sampler.set_epoch(0)
    assert first != second and [w.input.shape[0] for w in loader] == first


@pytest.mark.parametrize("streams,world", [(20, 1), (20, 4), (10, 3), (10, 4), (1, 2), (3, 8)])
def test_rank_columns_are_contiguous_blocks_that_partition_the_streams(streams: int, world: int) -> None:
    blocks = [rank_columns(streams, r, world) for r in range(world)]
    assert blocks[0][0] == 0 and blocks[-1][1] == streams
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
    sizes = [hi - lo for lo, hi in blocks]
    assert max(sizes) - min(sizes) <= 1


def test_rank_loaders_split_columns_and_pad_empty_ranks_with_weight_zero() -> None:
    stream = torch.arange(301)
    whole = batchify(stream, 3)
    parts = [rank_loader(stream, 3, 10, r, 2) for r in range(2)]
    assert torch.equal(torch.cat([p.grid for p in parts], dim=1), whole)
    padded = [rank_loader(stream, 1, 10, r, 3) for r in range(3)]
    assert [p.weight for p in padded] == [1.0, 0.0, 0.0]
    assert all(len(p) == len(padded[0]) for p in padded)  # every rank runs the same windows
    assert all(w.weight == 0.0 for w in padded[2])
