"""Tiny data sets in the real on-disk formats (CIFAR python pickles, ImageFolder JPEG/PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.vision.cifar_format import write_cifar

N_TRAIN, N_TEST = 120, 40


def tiny_cifar_arrays(n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Images whose first pixel's red value is the image's index mod 256, labels index mod classes."""
    rng = np.random.default_rng(seed)
    train = rng.integers(0, 256, size=(N_TRAIN, 32, 32, 3), dtype=np.uint8)
    test = rng.integers(0, 256, size=(N_TEST, 32, 32, 3), dtype=np.uint8)
    train[:, 0, 0, 0] = np.arange(N_TRAIN) % 256
    test[:, 0, 0, 0] = np.arange(N_TEST) % 256
    return train, np.arange(N_TRAIN) % n_classes, test, (np.arange(N_TEST) * 7) % n_classes


@pytest.fixture(scope="session")
def cifar_arrays() -> dict[str, tuple[np.ndarray, ...]]:
    return {"cifar10": tiny_cifar_arrays(10), "cifar100": tiny_cifar_arrays(100, seed=1)}


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory: pytest.TempPathFactory, cifar_arrays) -> Path:
    """A data dir holding tiny CIFAR-10 and CIFAR-100 in torchvision's on-disk format."""
    root = tmp_path_factory.mktemp("cifar")
    for variant, arrays in cifar_arrays.items():
        write_cifar(root, variant, *arrays)
    return root


def write_image_folder(root: Path, classes: list[str], per_class: int, seed: int = 0) -> None:
    """JPEG and PNG files of varying sizes under ``root/<class>/``."""
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            h, w = int(rng.integers(40, 90)), int(rng.integers(40, 90))
            img = Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8))
            if i % 2:
                img.save(root / c / f"img_{i}.JPEG", format="JPEG")
            else:
                img.convert("L").save(root / c / f"img_{i}.png", format="PNG")  # grayscale must load as RGB


@pytest.fixture
def imagenet_root(tmp_path: Path) -> Path:
    root = tmp_path / "imagenet"
    classes = ["n01440764", "n01443537", "n01484850"]
    write_image_folder(root / "train", classes, per_class=8)
    write_image_folder(root / "val", classes, per_class=2, seed=1)
    return root
