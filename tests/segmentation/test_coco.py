"""Person masks from COCO polygons and RLE, the image selection, and the data module."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tasks.segmentation import coco
from tasks.segmentation.data import CocoPersonDataModule
from tasks.vision.errors import DataNotFoundError
from tests.segmentation.conftest import BLOB, H, W


def _entries(root: Path, split: str = "train") -> dict[int, coco.ImageEntry]:
    entries, _ = coco.load_index(coco.annotation_path(root, split))
    return {e.image_id: e for e in entries}


def test_polygon_rle_and_crowd_masks_match_hand_drawn(coco_root: Path) -> None:
    entries = _entries(coco_root)
    expected1 = np.zeros((H, W), np.uint8)
    expected1[1:4, 2:6] = 1  # the person rectangle; the dog at (30..39, 20..29) is not a person
    np.testing.assert_array_equal(coco.rasterise(entries[1]), expected1)
    np.testing.assert_array_equal(coco.rasterise(entries[2]), BLOB)  # compressed RLE
    expected3 = np.zeros((H, W), np.uint8)
    expected3[15:25, 25:35] = 1  # polygon person (two polygons: this one ...)
    expected3[0:2, 0:4] = 1  # ... and this one
    expected3[10:20, 20:30] = 2  # uncompressed-RLE crowd region wins where they overlap
    np.testing.assert_array_equal(coco.rasterise(entries[3]), expected3)
    assert not coco.rasterise(entries[5]).any()  # only a dog


def test_crowd_modes() -> None:
    mask = np.array([0, 1, 2], np.uint8)
    assert coco.apply_crowd(mask, "foreground").tolist() == [0, 1, 1]
    assert coco.apply_crowd(mask, "ignore").tolist() == [0, 1, 255]
    assert coco.apply_crowd(mask, "background").tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match="dataset.crowd='x'.*foreground, ignore, background"):
        coco.apply_crowd(mask, "x")


def _fake(n_images: int, n_persons: int) -> list[coco.ImageEntry]:
    person = '[[[[0, 0, 1, 0, 1, 1]], 0]]'
    return [coco.ImageEntry(i, f"{i}.jpg", 4, 4, person if i < n_persons else "[]") for i in range(n_images)]


@pytest.mark.parametrize("images, persons, paper", [(118_287, 64_115, 108_344), (5_000, 2_693, 4_614)])
def test_balanced_selection_gives_the_papers_counts(images: int, persons: int, paper: int) -> None:
    """COCO-2017 train/val image and person-image counts -> RAME's 108,344 / 4,614, half with persons."""
    chosen = coco.select(_fake(images, persons), "balanced", split_seed=0)
    assert len(chosen) == paper
    assert sum(1 for e in chosen if e.has_person) == paper // 2
    assert len({e.image_id for e in chosen}) == paper


def test_selection_modes_and_seed(coco_root: Path) -> None:
    entries = list(_entries(coco_root).values())
    assert [e.image_id for e in coco.select(entries, "all")] == [1, 2, 3, 4, 5, 6, 7]
    assert [e.image_id for e in coco.select(entries, "persons")] == [1, 2, 3, 7]
    picks = {tuple(e.image_id for e in coco.select(entries, "balanced", s)) for s in range(20)}
    assert all(set(p) >= {4, 5, 6} and len(p) == 6 for p in picks)  # every person-free image, 3 of 4 person images
    assert len(picks) > 1  # the seed decides which person images
    assert coco.select(entries, "balanced", 3) == coco.select(entries, "balanced", 3)
    with pytest.raises(ValueError, match="dataset.selection='some'"):
        coco.select(entries, "some")


def _module(root: Path, **kw) -> CocoPersonDataModule:
    args = dict(data_dir=str(root), batch_size=4, crop_size=32, eval_batch_size=2, eval_size=64, num_workers=0)
    return CocoPersonDataModule(**{**args, **kw})


def test_data_module_batches_counts_and_cache(coco_root: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    dm = _module(coco_root, cache_dir=str(cache), crowd="ignore")
    assert dm.preflight() == []
    x, y = dm.example_batch()
    assert (x.dtype, y.dtype, tuple(x.shape), tuple(y.shape)) == (torch.uint8, torch.uint8, (2, 3, 32, 32), (2, 32, 32))
    dm.setup("fit")
    assert dm.counts["train"] == {"images": 7, "with_person": 4, "without_person": 3, "selected": 6, "selected_with_person": 3}
    assert dm.counts["val"]["selected"] == 2
    xb, yb = next(iter(dm.train_dataloader()))
    assert xb.dtype == torch.uint8 and tuple(xb.shape) == (4, 3, 32, 32) and tuple(yb.shape) == (4, 32, 32)
    assert set(torch.unique(yb).tolist()) <= {0, 1, 255}
    # image 6 (20x24) is padded to 32x32 and its padding is ignored
    train = dm.datasets["train"]
    i6 = [e.image_id for e in train.entries].index(6)
    train.flip = False
    _, y6 = train[i6]
    train.flip = True
    flipped = {tuple(train[i6][1][0, :].tolist()) for _ in range(30)}  # row 0: 24 background pixels, then padding
    assert flipped == {(0,) * 24 + (255,) * 8, (255,) * 8 + (0,) * 24}
    assert (y6[20:, :] == 255).all() and (y6[:, 24:] == 255).all() and (y6[:20, :24] == 0).all()
    # validation: whole images, padded to 64x64
    val = dm.datasets["val"]
    xv, yv = val[0]
    e = val.entries[0]
    assert tuple(xv.shape) == (3, 64, 64) and (yv[e.height:, :] == 255).all() and (yv[:, e.width:] == 255).all()
    # an epoch caches every image's mask, and the parsed index; the cached mask is the rasterised one
    assert sum(len(b[0]) for b in dm.train_dataloader()) == 6
    for entry in train.entries:
        cached = cache / "masks" / "train2017" / f"{entry.image_id:012d}.png"
        assert cached.is_file()
        np.testing.assert_array_equal(train.masks.get(entry), coco.rasterise(entry))
    assert (cache / "index_train2017.pkl").is_file()
    again = _module(coco_root, cache_dir=str(cache))
    assert again._index("train")[0] == dm._index("train")[0]


def test_an_unwritable_cache_only_costs_the_caching(coco_root: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    dm = _module(coco_root, cache_dir=str(blocker / "cache"))
    dm.setup("fit")
    assert sum(len(b[0]) for b in dm.train_dataloader()) == 6
    assert dm.datasets["train"].masks.root is None and blocker.read_text() == "not a folder"


def test_crop_of_a_crowd_image_is_ignored_where_crowd(coco_root: Path) -> None:
    dm = _module(coco_root, crowd="ignore", selection="persons", crop_size=64)
    dm.setup("fit")
    train = dm.datasets["train"]
    train.flip = False
    _, y = train[[e.image_id for e in train.entries].index(3)]  # 36x48 image in a 64 crop: no offset
    assert (y[10:20, 20:30] == 255).all() and (y[15:25, 30:35] == 1).all() and y[30, 40] == 0 and y[40, 50] == 255


def test_missing_files_are_one_line_errors_naming_the_path_and_source(coco_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "nothing"
    [problem] = _module(root).preflight()
    assert f"no folder '{root}'" in problem and "cocodataset.org" in problem and "\n" not in problem
    (coco_root / "annotations" / "instances_val2017.json").unlink()
    dm = _module(coco_root)
    [problem] = dm.preflight()
    assert f"'{coco_root / 'annotations' / 'instances_val2017.json'}'" in problem and "annotations_trainval2017.zip" in problem
    with pytest.raises(DataNotFoundError, match="instances_val2017.json"):
        dm.setup("fit")


def test_bad_arguments_name_the_key() -> None:
    with pytest.raises(ValueError, match="dataset.crop_size=30"):
        CocoPersonDataModule(crop_size=30)
    with pytest.raises(ValueError, match="dataset.crowd"):
        CocoPersonDataModule(crowd="people")
    with pytest.raises(ValueError, match="no labelled test split"):
        CocoPersonDataModule().test_dataloader()
