"""ImageNetDataModule on a tiny ImageFolder tree of real JPEG and PNG files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from tasks.vision.errors import DataCorruptError, DataNotFoundError
from tasks.vision.imagenet import ImageNetDataModule
from tests.vision.conftest import write_image_folder


def module(root: Path, **kw) -> ImageNetDataModule:
    kw = {"val_size": 6, "num_workers": 0, "batch_size": 4, **kw}
    dm = ImageNetDataModule(str(root), **kw)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_loads_jpeg_and_png_with_standard_transforms(imagenet_root: Path) -> None:
    dm = module(imagenet_root)
    assert dm.classes == ["n01440764", "n01443537", "n01484850"]
    sizes = {split: len(dm.datasets[split]) for split in ("train", "val", "test")}
    assert sizes == {"train": 18, "val": 6, "test": 6}
    for loader in (dm.split_loader("train"), dm.split_loader("val"), dm.split_loader("test")):
        x, y = next(iter(loader))
        assert x.shape == (4, 3, 224, 224) and x.dtype == torch.float32  # grayscale PNGs become RGB
        assert y.dtype == torch.int64 and int(y.max()) < 3


def test_held_out_split_is_disjoint_and_uses_the_eval_transform(imagenet_root: Path) -> None:
    dm = module(imagenet_root)
    train_idx, val_idx = dm.datasets["train"].indices, dm.datasets["val"].indices
    assert set(train_idx).isdisjoint(val_idx) and len(set(train_idx) | set(val_idx)) == 24
    first = torch.cat([x for x, _ in dm.split_loader("val")])
    assert torch.equal(first, torch.cat([x for x, _ in dm.split_loader("val")]))  # Resize + CenterCrop: deterministic
    torch.manual_seed(0)
    a = torch.cat([x for x, _ in dm.split_loader("train")])
    torch.manual_seed(1)
    b = torch.cat([x for x, _ in dm.split_loader("train")])
    assert not torch.equal(a, b)  # RandomResizedCrop + flip draw anew
    assert sorted(module(imagenet_root, seed=9).datasets["val"].indices) == sorted(val_idx)  # split_seed fixes it
    assert sorted(module(imagenet_root, split_seed=1).datasets["val"].indices) != sorted(val_idx)


def test_smoke_caps_the_splits(tmp_path: Path) -> None:
    classes = ["a", "b"]
    write_image_folder(tmp_path / "train", classes, per_class=170)
    write_image_folder(tmp_path / "val", classes, per_class=40)
    dm = module(tmp_path, smoke=True, val_size=70, image_size=16, resize_size=16)
    assert [len(dm.datasets[s]) for s in ("train", "val", "test")] == [256, 64, 64]
    assert [len(module(tmp_path, val_size=70).datasets[s]) for s in ("train", "val", "test")] == [270, 70, 80]


def test_missing_directory_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as err:
        module(tmp_path / "imagenet")
    msg = str(err.value)
    assert str((tmp_path / "imagenet" / "train").resolve()) in msg and "paths.data=" in msg and "\n" not in msg


def test_split_without_class_folders_is_rejected(imagenet_root: Path) -> None:
    shutil.rmtree(imagenet_root / "val")
    (imagenet_root / "val").mkdir()
    (imagenet_root / "val" / "ILSVRC2012_val_00000001.JPEG").write_bytes(b"")
    with pytest.raises(DataNotFoundError, match=r"has no class folders \(ImageFolder layout: val/<class>/<image>\)"):
        module(imagenet_root)


def test_class_mismatch_between_splits_is_corrupt(imagenet_root: Path) -> None:
    write_image_folder(imagenet_root / "val", ["n99999999"], per_class=1)
    with pytest.raises(DataCorruptError, match="n99999999"):
        module(imagenet_root)


def test_undecodable_image_names_the_file(imagenet_root: Path) -> None:
    bad = imagenet_root / "val" / "n01440764" / "img_1.JPEG"
    bad.write_bytes(b"not a jpeg")
    dm = module(imagenet_root, batch_size=16)
    with pytest.raises(DataCorruptError, match="img_1.JPEG' cannot be decoded"):
        next(iter(dm.split_loader("test")))


def test_download_is_refused(imagenet_root: Path) -> None:
    with pytest.raises(ValueError, match="dataset.download=true is not supported for ImageNet"):
        module(imagenet_root, download=True)
