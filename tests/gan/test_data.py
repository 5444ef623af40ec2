"""The GAN's CIFAR-10 data: torchvision-format files, a real stream that is a function of (seed, batch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tasks.gan.data import CIFARGANData, RealStream
from tests.vision.conftest import N_TEST, N_TRAIN, tiny_cifar_arrays


def _stream(seed: int = 0, n: int = 40, batch: int = 8, flip: bool = True) -> RealStream:
    g = torch.Generator().manual_seed(123)
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    return RealStream(images, torch.arange(n) % 10, batch, seed, flip)


def test_each_pass_is_a_shuffle_without_repeats_and_passes_differ() -> None:
    s = _stream()
    assert s.batches_per_pass == 5
    first = torch.cat([s.indices(j) for j in range(5)])
    second = torch.cat([s.indices(j) for j in range(5, 10)])
    assert sorted(first.tolist()) == list(range(40)) and sorted(second.tolist()) == list(range(40))
    assert not torch.equal(first, second)


def test_batch_j_depends_only_on_seed_and_j() -> None:
    a, b = _stream(seed=1), _stream(seed=1)
    order = [7, 2, 7, 11, 0]
    late = [b.batch(j)[0] for j in reversed(order)][::-1]  # asked in another order, by another object
    for j, x in zip(order, late):
        assert torch.equal(a.batch(j)[0], x)
    assert not torch.equal(_stream(seed=2).batch(3)[0], a.batch(3)[0])


def test_batches_are_scaled_flipped_source_images_with_their_labels() -> None:
    s = _stream()
    flipped = 0
    for j in range(10):
        x, y = s.batch(j)
        idx = s.indices(j)
        assert x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1
        assert torch.equal(y, s.labels[idx])
        source = s.images[idx].float() / 127.5 - 1
        same = (x == source).flatten(1).all(1)
        mirrored = (x == source.flip(3)).flatten(1).all(1)
        assert bool((same | mirrored).all())
        flipped += int((mirrored & ~same).sum())
    assert 15 <= flipped <= 65  # about half of 80
    plain = _stream(flip=False)
    assert torch.equal(plain.batch(4)[0], plain.images[plain.indices(4)].float() / 127.5 - 1)


def test_data_module_reads_cifar_files_and_names_the_real_sets(gan_cifar: Path, tmp_path: Path) -> None:
    data = CIFARGANData(str(gan_cifar), batch_size=8, seed=0, verify_md5=False)
    assert data.preflight() == []
    data.setup("fit")
    train_x, train_y, test_x, _ = tiny_cifar_arrays(10)
    assert torch.equal(data.stream.images, torch.from_numpy(train_x.transpose(0, 3, 1, 2)))
    assert torch.equal(data.stream.labels, torch.from_numpy(np.asarray(train_y)))
    endless = iter(data.train_dataloader())  # a step budget: the stream never ends
    assert all(next(endless) is data.stream for _ in range(1000)) and not hasattr(data.train_dataloader(), "__len__")
    assert list(CIFARGANData(str(gan_cifar), steps_per_epoch=3, verify_md5=False).split_loader("train")) != []
    val_loaders = data.val_dataloader()  # validation loader 1 is the test split
    (val,), (test,) = list(val_loaders[0]), list(val_loaders[1])
    assert (val.split, len(val.images), test.split, len(test.images)) == ("train", N_TRAIN, "test", N_TEST)
    assert val.key.startswith(f"cifar10-train-{N_TRAIN}-") and test.key.startswith(f"cifar10-test-{N_TEST}-")
    example = data.example_batch()  # the training batch type, without reading files
    assert isinstance(example, RealStream) and example.images.shape == (2, 3, 32, 32)
    assert example.images.dtype == data.stream.images.dtype and example.labels.dtype == data.stream.labels.dtype

    missing = CIFARGANData(str(tmp_path / "empty"), verify_md5=False).preflight()
    assert len(missing) == 1 and "CIFAR-10 not found" in missing[0] and str(tmp_path / "empty") in missing[0]


def test_preflight_reports_missing_inception_weights_only_for_the_inception_extractor(gan_cifar: Path,
                                                                                      tmp_path: Path) -> None:
    weights = str(tmp_path / "weights-inception-2015-12-05-6726825d.pth")
    problems = CIFARGANData(str(gan_cifar), fid_extractor="inception", fid_weights=weights).preflight()
    assert len(problems) == 1 and "FID Inception weights not found" in problems[0] and weights in problems[0]
    assert CIFARGANData(str(gan_cifar), verify_md5=False, fid_extractor="random_conv", fid_weights=weights).preflight() == []
    assert CIFARGANData(str(gan_cifar), fid_extractor="vgg").preflight() == [
        "module.fid.extractor must be one of inception, random_conv; got 'vgg'"]


def test_ranks_read_interleaved_batches() -> None:
    single, r0, r1 = _stream(), _stream(), _stream()
    r0.rank, r0.world_size, r1.rank, r1.world_size = 0, 2, 1, 2
    for j in range(4):
        assert torch.equal(r0.batch(j)[0], single.batch(2 * j)[0]) and torch.equal(r1.batch(j)[0], single.batch(2 * j + 1)[0])
