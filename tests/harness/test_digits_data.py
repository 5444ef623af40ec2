"""The digits data module: a fixed 60/20/20 split standardised by the training split, and
data modules of one process (a sweep worker's cells) that share the parse, never the tensors."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits

from tasks.digits import DigitsDataModule


def test_split_sizes_and_standardisation_follow_the_training_split() -> None:
    data = DigitsDataModule(split_seed=3)
    data.setup("fit")
    sizes = {name: len(y) for name, (_, y) in data.splits.items()}
    assert sizes == {"train": 1079, "val": 359, "test": 359} and sum(sizes.values()) == len(load_digits().target)
    x = data.splits["train"][0]
    assert torch.allclose(x.mean(0), torch.zeros(64), atol=1e-5)
    kept = x.std(0) > 1e-3  # constant pixels keep their clamped scale
    assert torch.allclose(x.std(0)[kept], torch.ones(int(kept.sum())), atol=1e-3)


def test_each_module_gets_its_own_tensors() -> None:
    first, second = DigitsDataModule(split_seed=3), DigitsDataModule(split_seed=3)
    first.setup("fit")
    first.splits["train"][0].add_(1.0)  # a cell that writes into its data in place
    first.splits["train"][1].zero_()
    second.setup("fit")
    fresh = DigitsDataModule(split_seed=3)
    fresh.setup("fit")
    for name in ("train", "val", "test"):
        assert torch.equal(second.splits[name][0], fresh.splits[name][0])
        assert torch.equal(second.splits[name][1], fresh.splits[name][1])
    assert second.splits["train"][1].unique().numel() == 10
    assert not torch.equal(first.splits["train"][0], second.splits["train"][0])
