"""CIFARDataModule on tiny data sets written in torchvision's on-disk format."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar as tv_cifar

from tasks.tensor_loader import TensorLoader
from tasks.vision.cifar import CIFARDataModule, read_cifar
from tasks.vision.cifar_format import write_cifar, write_synthetic_cifar
from tasks.vision.errors import DataCorruptError, DataNotFoundError
from tests.vision.conftest import N_TEST, N_TRAIN

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


def module(root: Path, **kw) -> CIFARDataModule:
    kw = {"val_size": 20, "verify_md5": False, "num_workers": 0, "batch_size": 16, **kw}
    dm = CIFARDataModule(str(root), **kw)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def image_ids(x: torch.Tensor) -> list[int]:
    """Undo normalisation of the first pixel's red value: the tiny data sets store the image index there."""
    red = x[:, 0, 0, 0].double() * STD[0] + MEAN[0]
    return [int(v) for v in torch.round(red * 255)]


def all_batches(loader) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*[(x, y) for x, y in loader])
    return torch.cat(xs), torch.cat(ys)


@pytest.mark.parametrize("variant,classes", [("cifar10", 10), ("cifar100", 100)])
def test_reads_the_written_files_through_torchvision(cifar_root: Path, cifar_arrays, variant: str, classes: int) -> None:
    train_x, train_y, test_x, test_y = cifar_arrays[variant]
    images, labels = read_cifar(cifar_root, variant, train=True, verify_md5=False)
    assert np.array_equal(images, train_x) and np.array_equal(labels, train_y)
    images, labels = read_cifar(cifar_root, variant, train=False, verify_md5=False)
    assert np.array_equal(images, test_x) and np.array_equal(labels, test_y)
    assert labels.max() < classes


@pytest.mark.parametrize("device_loader", ["torchvision", "cpu"])
def test_split_is_disjoint_and_eval_splits_are_not_augmented(cifar_root: Path, cifar_arrays, device_loader: str) -> None:
    dm = module(cifar_root, device_loader=device_loader, augment=False)
    train_x, train_y, test_x, test_y = cifar_arrays["cifar10"]
    ids = {}
    for split, loader in (("train", dm.split_loader("train")), ("val", dm.split_loader("val")), ("test", dm.split_loader("test"))):
        x, y = all_batches(loader)
        ids[split] = image_ids(x)
        source_y = test_y if split == "test" else train_y
        assert [int(v) for v in y] == [int(source_y[i]) for i in ids[split]]
        # Eval transform = ToTensor + Normalize of the stored pixels, exactly.
        source_x = test_x if split == "test" else train_x
        expected = (torch.from_numpy(source_x[ids[split]]).permute(0, 3, 1, 2).float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
        if split != "train":
            torch.testing.assert_close(x, expected, rtol=0, atol=2e-6)
    assert len(ids["val"]) == 20 and len(ids["train"]) == N_TRAIN - 20 and sorted(ids["test"]) == list(range(N_TEST))
    assert set(ids["train"]).isdisjoint(ids["val"]) and set(ids["train"]) | set(ids["val"]) == set(range(N_TRAIN))


def test_both_paths_hold_out_the_same_validation_images(cifar_root: Path) -> None:
    tv = module(cifar_root, device_loader="torchvision")
    tensor = module(cifar_root, device_loader="cpu")
    assert sorted(image_ids(all_batches(tv.split_loader("val"))[0])) == sorted(image_ids(all_batches(tensor.split_loader("val"))[0]))


def test_split_follows_split_seed_not_the_cell_seed(cifar_root: Path) -> None:
    val = lambda **kw: sorted(image_ids(all_batches(module(cifar_root, **kw).split_loader("val"))[0]))  # noqa: E731
    assert val(seed=0) == val(seed=5)
    assert val(split_seed=0) != val(split_seed=1)


@pytest.mark.parametrize("device_loader", ["cpu", "torchvision"])
def test_training_order_and_augmentation_depend_only_on_seed_and_epoch(cifar_root: Path, device_loader: str) -> None:
    workers = 2 if device_loader == "torchvision" else 0  # worker processes draw the augmentation
    a = module(cifar_root, device_loader=device_loader, seed=3, num_workers=workers).split_loader("train")
    for epoch in (0, 1, 2):  # an uninterrupted run goes through epochs 0..2
        a.sampler.set_epoch(epoch)
        xa, ya = all_batches(a)
    b = module(cifar_root, device_loader=device_loader, seed=3, num_workers=workers).split_loader("train")
    b.sampler.set_epoch(2)  # a run resumed at epoch 2
    xb, yb = all_batches(b)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    b.sampler.set_epoch(1)
    assert not torch.equal(all_batches(b)[1], ya)  # another epoch, another order
    c = module(cifar_root, device_loader=device_loader, seed=4, num_workers=workers).split_loader("train")
    c.sampler.set_epoch(2)
    assert not torch.equal(all_batches(c)[0], xa)


def test_training_batches_are_augmented(cifar_root: Path) -> None:
    dm = module(cifar_root, device_loader="cpu", batch_size=200)
    x, _ = next(iter(dm.split_loader("train")))
    plain, _ = next(iter(module(cifar_root, device_loader="cpu", batch_size=200, augment=False).split_loader("train")))
    assert x.shape == plain.shape == (N_TRAIN - 20, 3, 32, 32)
    black = torch.isclose(x, torch.tensor(MEAN).view(1, 3, 1, 1).neg() / torch.tensor(STD).view(1, 3, 1, 1), atol=1e-5).all(1)
    assert black.any(), "zero padding shows up as black borders in some crops"
    assert not torch.equal(x, plain)


def test_tensor_path_is_a_tensor_loader_with_epoch_sampler(cifar_root: Path) -> None:
    dm = module(cifar_root, device_loader="auto", channels_last=True)
    loader = dm.split_loader("train")
    assert isinstance(loader, TensorLoader) and hasattr(loader.sampler, "set_epoch")
    assert len(loader) == -(-(N_TRAIN - 20) // 16)
    x, y = next(iter(loader))
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.is_contiguous(memory_format=torch.channels_last)


def test_smoke_uses_a_few_hundred_samples(tmp_path: Path) -> None:
    write_synthetic_cifar(tmp_path, "cifar10", n_train=700, n_test=150)
    dm = module(tmp_path, smoke=True, val_size=200, batch_size=1000)
    sizes = [len(all_batches(loader)[1]) for loader in (dm.split_loader("train"), dm.split_loader("val"), dm.split_loader("test"))]
    assert sizes == [256, 64, 64]


def test_missing_directory_says_where_it_looked_and_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as err:
        module(tmp_path / "nowhere")
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError) and "\n" not in msg
    assert str((tmp_path / "nowhere" / "cifar-10-batches-py").resolve()) in msg
    assert "paths.data=" in msg and "dataset.download=true" in msg


def test_incomplete_directory_names_the_missing_files(tmp_path: Path, cifar_root: Path) -> None:
    shutil.copytree(cifar_root / "cifar-100-python", tmp_path / "cifar-100-python")
    (tmp_path / "cifar-100-python" / "meta").unlink()
    with pytest.raises(DataNotFoundError, match=r"missing meta; .*dataset.download=true"):
        module(tmp_path, variant="cifar100")


def test_checksum_mismatch_is_reported_as_corrupt(cifar_root: Path) -> None:
    with pytest.raises(DataCorruptError, match=r"data_batch_1' fails its MD5 checksum.*dataset.download=true.*verify_md5=false"):
        module(cifar_root, verify_md5=True)


def test_truncated_pickle_is_reported_as_corrupt(tmp_path: Path, cifar_root: Path) -> None:
    shutil.copytree(cifar_root / "cifar-10-batches-py", tmp_path / "cifar-10-batches-py")
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:500])
    with pytest.raises(DataCorruptError, match=r"cannot be read .*: delete the folder and rerun with dataset.download=true"):
        module(tmp_path)


def test_out_of_range_labels_are_reported_as_corrupt(tmp_path: Path, cifar_arrays) -> None:
    train_x, train_y, test_x, test_y = cifar_arrays["cifar10"]
    write_cifar(tmp_path, "cifar10", train_x, train_y + 10, test_x, test_y)
    with pytest.raises(DataCorruptError, match="labels outside 0..9"):
        module(tmp_path)


def test_bad_arguments_name_the_key(cifar_root: Path) -> None:
    with pytest.raises(ValueError, match="dataset.val_size=120 must be smaller than the 120"):
        module(cifar_root, val_size=120)
    with pytest.raises(ValueError, match="dataset.val_size must be an integer >= 1"):
        CIFARDataModule(str(cifar_root), val_size=0)
    with pytest.raises(ValueError, match="dataset.device_loader must be one of auto, torchvision, cpu, gpu"):
        CIFARDataModule(str(cifar_root), device_loader="tpu")
    with pytest.raises(ValueError, match="dataset.variant must be one of cifar10, cifar100"):
        CIFARDataModule(str(cifar_root), variant="cifar20")


def test_download_flag_runs_torchvisions_download_into_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cifar_arrays) -> None:
    calls = []

    def fake_download_and_extract(url: str, download_root: str, filename: str, md5: str) -> None:
        calls.append((url, Path(download_root), filename, md5))
        write_cifar(download_root, "cifar10", *cifar_arrays["cifar10"])  # what extracting the archive yields

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", fake_download_and_extract)
    root = tmp_path / "new" / "data"
    with pytest.raises(DataNotFoundError):  # without the flag: no download, a clear error
        module(root)
    assert calls == []
    dm = module(root, download=True)
    assert calls == [(tv_cifar.CIFAR10.url, root, tv_cifar.CIFAR10.filename, tv_cifar.CIFAR10.tgz_md5)]
    assert len(all_batches(dm.split_loader("test"))[1]) == N_TEST
    module(root, download=True)  # files present: no second download
    assert len(calls) == 1
