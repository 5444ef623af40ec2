"""The PTB data module: preflight messages, per-rank training columns, the plan-time example batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tasks.lm.data import PTBDataModule
from tasks.lm.streams import batchify
from tests.lm.conftest import VOCAB


def test_preflight_names_a_missing_folder_and_a_vocabulary_that_is_not_the_models(tmp_path: Path, ptb_dir: Path) -> None:
    missing = PTBDataModule(str(tmp_path / "nowhere"), VOCAB).preflight()
    assert missing == [f"{tmp_path / 'nowhere'}: no such folder; expected ptb.{{train,valid,test}}.txt from "
                       "Mikolov's simple-examples.tgz (data/ptb.*.txt)"]
    wrong = PTBDataModule(str(ptb_dir), 10_000).preflight()
    assert wrong == [f"dataset.num_classes=10000 but the corpus in {ptb_dir} has a {VOCAB}-word vocabulary "
                     f"(with <eos>); set dataset.num_classes={VOCAB}"]
    assert PTBDataModule(str(ptb_dir), VOCAB).preflight() == []
    assert "too few" in PTBDataModule(str(ptb_dir), VOCAB, batch_size=100_000).preflight()[0]
    with pytest.raises(ValueError, match="dataset.bptt"):
        PTBDataModule(str(ptb_dir), VOCAB, bptt=0)


def test_each_rank_trains_on_its_block_of_the_global_columns(ptb_dir: Path) -> None:
    """The runner hands each of W ranks batch_size / W; together they read the single-device grid."""
    full = PTBDataModule(str(ptb_dir), VOCAB, batch_size=6)
    grid = batchify(full._load().train, 6)
    parts = []
    for rank in range(3):
        data = PTBDataModule(str(ptb_dir), VOCAB, batch_size=2)
        data.rank_and_world = lambda rank=rank: (rank, 3)  # what a 3-process trainer reports
        parts.append(torch.cat([w.input for w in data.split_loader("train")]))
        assert len(data.split_loader("train")) == len(full.split_loader("train"))
    assert torch.equal(torch.cat(parts, dim=1), grid[:-1])


def test_example_batch_has_token_dtype_and_the_training_streams(ptb_dir: Path) -> None:
    data = PTBDataModule(str(ptb_dir / "not-read"), VOCAB, batch_size=7)  # no file is touched
    batch = data.example_batch()
    assert batch.input.dtype == batch.target.dtype == torch.long and batch.input.shape[1] == 7
