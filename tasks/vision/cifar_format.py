"""Write CIFAR-10/100 in the on-disk format torchvision reads ("python version" pickles).

Used by the tests and ``bench.perf data`` to make small or synthetic data sets without a
download. Layout (https://www.cs.toronto.edu/~kriz/cifar.html):

- CIFAR-10: ``cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``; each batch is a
  pickled dict with ``data`` (uint8, N x 3072, rows R-plane then G then B, each 32x32 row-major),
  ``labels``, ``filenames``, ``batch_label``; the meta dict holds ``label_names``.
- CIFAR-100: ``cifar-100-python/{train, test, meta}`` with ``fine_labels``/``coarse_labels`` and a
  meta dict holding ``fine_label_names``/``coarse_label_names``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}


def _dump(path: Path, obj: dict) -> None:
    with path.open("wb") as fh:
        pickle.dump(obj, fh, protocol=2)  # the published files are Python 2 pickles


def _rows(images_nhwc: np.ndarray) -> np.ndarray:
    images = np.asarray(images_nhwc, dtype=np.uint8)
    if images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise ValueError(f"images must be N x 32 x 32 x 3 uint8, got shape {images.shape}")
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), 3072))


def write_cifar(
    root: str | Path,
    variant: str,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
) -> Path:
    """Write a CIFAR-10 (``variant="cifar10"``) or CIFAR-100 data set under ``root``; returns its folder.

    Images are N x 32 x 32 x 3 uint8 (HWC, as torchvision's ``dataset.data``).
    """
    if variant not in FOLDERS:
        raise ValueError(f"variant must be one of {sorted(FOLDERS)}, got {variant!r}")
    folder = Path(root) / FOLDERS[variant]
    folder.mkdir(parents=True, exist_ok=True)
    train_rows, test_rows = _rows(train_images), _rows(test_images)
    train_labels = [int(v) for v in train_labels]
    test_labels = [int(v) for v in test_labels]
    n_classes = NUM_CLASSES[variant]
    if variant == "cifar10":
        chunks = np.array_split(np.arange(len(train_rows)), 5)
        for i, idx in enumerate(chunks, start=1):
            _dump(folder / f"data_batch_{i}", {
                "batch_label": f"training batch {i} of 5",
                "labels": [train_labels[j] for j in idx],
                "data": train_rows[idx],
                "filenames": [f"train_{j:05d}.png" for j in idx],
            })
        _dump(folder / "test_batch", {
            "batch_label": "testing batch 1 of 1",
            "labels": test_labels,
            "data": test_rows,
            "filenames": [f"test_{j:05d}.png" for j in range(len(test_rows))],
        })
        _dump(folder / "batches.meta", {
            "label_names": [f"class_{c}" for c in range(n_classes)],
            "num_cases_per_batch": max(len(c) for c in chunks),
            "num_vis": 3072,
        })
    else:
        for name, rows, labels in (("train", train_rows, train_labels), ("test", test_rows, test_labels)):
            _dump(folder / name, {
                "batch_label": f"{name}ing batch 1 of 1",
                "fine_labels": labels,
                "coarse_labels": [v // 5 for v in labels],
                "data": rows,
                "filenames": [f"{name}_{j:05d}.png" for j in range(len(rows))],
            })
        _dump(folder / "meta", {
            "fine_label_names": [f"class_{c}" for c in range(n_classes)],
            "coarse_label_names": [f"superclass_{c}" for c in range(20)],
        })
    return folder


def write_synthetic_cifar(root: str | Path, variant: str = "cifar10", n_train: int = 500, n_test: int = 100, seed: int = 0) -> Path:
    """Random images and labels in the real CIFAR on-disk format (for tests and benchmarks)."""
    rng = np.random.default_rng(seed)
    n_classes = NUM_CLASSES[variant]
    return write_cifar(
        root,
        variant,
        rng.integers(0, 256, size=(n_train, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, n_classes, size=n_train),
        rng.integers(0, 256, size=(n_test, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, n_classes, size=n_test),
    )
