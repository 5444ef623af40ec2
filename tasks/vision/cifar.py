"""CIFAR-10/100 as a LightningDataModule: torchvision's on-disk format, two data paths.

Files are read with torchvision's own ``CIFAR10``/``CIFAR100`` code from
``<data_dir>/cifar-10-batches-py`` or ``<data_dir>/cifar-100-python``. Before reading, every file
is checked for presence and (``verify_md5=True``, the default) against torchvision's published
MD5 sums, so a missing or corrupt data set fails with a one-line message that names the folder
and the fix. With ``verify_md5=False`` (small data sets written in the same format, e.g. by the
tests) the same torchvision reader runs with its MD5 list emptied: presence is still checked.

Splits: ``val_size`` images of the training set, drawn with ``split_seed`` (the same split for
every cell of a sweep), are held out as the validation split that learning-rate selection
reads; the official test set is the reported number and is never used for selection.
Validation and test batches use the eval transform (normalisation only).

Data paths (``device_loader``):
- ``"torchvision"``: ``DataLoader`` + PIL transforms (``RandomCrop(32, padding=4)``,
  ``RandomHorizontalFlip``, ``ToTensor``, ``Normalize``) in ``num_workers`` processes, the way
  the papers' code loads CIFAR.
- ``"cpu"`` / ``"gpu"``: the whole uint8 data set as one tensor on that device; each batch is
  cropped, flipped and normalised with tensor ops (``tasks.vision.tensor_augment``): the same
  augmentation distribution, no worker processes.
- ``"auto"`` (default): ``"gpu"`` when CUDA is available, else ``"cpu"``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T
from torchvision.datasets import CIFAR10, CIFAR100
from torchvision.datasets.utils import check_integrity

from tasks.base import TaskData
from tasks.tensor_loader import TensorLoader
from tasks.vision.errors import DataCorruptError, DataNotFoundError
from tasks.vision.loaders import make_loader
from tasks.vision.tensor_augment import CifarBatchTransform

SMOKE_SIZES = {"train": 256, "val": 64, "test": 64}
DEVICE_LOADERS = ("auto", "torchvision", "cpu", "gpu")


class _Variant:
    def __init__(self, cls: type[CIFAR10], title: str, num_classes: int, mean: tuple[float, ...], std: tuple[float, ...], size_mb: int) -> None:
        self.cls, self.title, self.num_classes = cls, title, num_classes
        self.mean, self.std, self.size_mb = mean, std, size_mb
        self.folder = cls.base_folder
        self.files = [(name, md5) for name, md5 in cls.train_list + cls.test_list] + [(cls.meta["filename"], cls.meta["md5"])]


# Normalisation constants of the papers' official code: Padam / AdaBound demo / AdaBelief use
# (0.4914, 0.4822, 0.4465) / (0.2023, 0.1994, 0.2010) for CIFAR-10; Padam's CIFAR-100 script
# uses (0.507, 0.487, 0.441) / (0.267, 0.256, 0.276).
VARIANTS = {
    "cifar10": _Variant(CIFAR10, "CIFAR-10", 10, (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010), 163),
    "cifar100": _Variant(CIFAR100, "CIFAR-100", 100, (0.507, 0.487, 0.441), (0.267, 0.256, 0.276), 161),
}


@functools.cache
def _reader_without_md5(cls: type[CIFAR10]) -> type[CIFAR10]:
    """torchvision's class with its MD5 list emptied: ``check_integrity(path, None)`` only checks presence."""
    return type(
        f"{cls.__name__}PresenceChecked",
        (cls,),
        {
            "train_list": [[name, None] for name, _ in cls.train_list],
            "test_list": [[name, None] for name, _ in cls.test_list],
            "meta": {**cls.meta, "md5": None},
        },
    )


def check_cifar_files(data_dir: str | Path, variant: str = "cifar10", verify_md5: bool = True) -> Path:
    """The data set folder, after checking every file is there (and matches its MD5 sum)."""
    spec = _variant(variant)
    folder = Path(data_dir).expanduser() / spec.folder
    fix = (
        f"set paths.data=DIR (or OPTBENCH_DATA=DIR) where DIR contains '{spec.folder}/', "
        f"or add dataset.download=true to download {spec.title} (~{spec.size_mb} MB)"
    )
    if not folder.is_dir():
        raise DataNotFoundError(f"{spec.title} not found: looked for the folder '{folder.resolve()}'; {fix}")
    missing = [name for name, _ in spec.files if not (folder / name).is_file()]
    if missing:
        raise DataNotFoundError(f"{spec.title} is incomplete in '{folder.resolve()}': missing {', '.join(missing)}; {fix}")
    if verify_md5:
        for name, md5 in spec.files:
            if not check_integrity(str(folder / name), md5):
                raise DataCorruptError(
                    f"{spec.title} file '{(folder / name).resolve()}' fails its MD5 checksum (corrupt or not the "
                    f"official release): delete '{folder.resolve()}' and rerun with dataset.download=true, "
                    f"or set dataset.verify_md5=false for a deliberately modified copy"
                )
    return folder


def read_cifar(data_dir: str | Path, variant: str = "cifar10", train: bool = True, verify_md5: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)``: N x 32 x 32 x 3 uint8 and int64, read by torchvision's CIFAR reader."""
    spec = _variant(variant)
    folder = check_cifar_files(data_dir, variant, verify_md5)
    reader = _reader_without_md5(spec.cls)  # MD5 already checked above when asked: hash each file once
    try:
        ds = reader(root=str(Path(data_dir).expanduser()), train=train, download=False)
        images = np.ascontiguousarray(ds.data)
        labels = np.asarray(ds.targets, dtype=np.int64)
    except Exception as exc:  # unpickling, truncated or reshaped files: all "corrupt" to the user
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise DataCorruptError(
            f"{spec.title} files in '{folder.resolve()}' cannot be read ({detail}): delete the folder and rerun with dataset.download=true"
        ) from exc
    if images.dtype != np.uint8 or images.shape[1:] != (32, 32, 3) or len(images) != len(labels):
        raise DataCorruptError(
            f"{spec.title} files in '{folder.resolve()}' hold images of shape {images.shape[1:]} / {images.dtype} "
            f"and {len(labels)} labels for {len(images)} images: delete the folder and rerun with dataset.download=true"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= spec.num_classes):
        raise DataCorruptError(
            f"{spec.title} files in '{folder.resolve()}' hold labels outside 0..{spec.num_classes - 1}: "
            f"delete the folder and rerun with dataset.download=true"
        )
    return images, labels


def _variant(variant: str) -> _Variant:
    try:
        return VARIANTS[variant]
    except KeyError:
        raise ValueError(f"dataset.variant must be one of {', '.join(VARIANTS)}; got {variant!r}") from None


class ArrayImageDataset(Dataset):
    """``(transform(PIL image), label)`` from an N x H x W x C uint8 array, as torchvision's CIFAR does."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Any) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


def torchvision_transforms(mean: Sequence[float], std: Sequence[float], augment: bool) -> T.Compose:
    """The standard CIFAR pipeline: (crop 4-pad, flip,) to tensor, normalise."""
    steps: list[Any] = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] if augment else []
    return T.Compose([*steps, T.ToTensor(), T.Normalize(mean, std)])


class CIFARDataModule(TaskData):
    """CIFAR-10/100 with a seeded train/validation split and the official test set.

    Args:
        data_dir: directory holding ``cifar-10-batches-py/`` (or ``cifar-100-python/``).
        variant: ``cifar10`` or ``cifar100``.
        batch_size: training batch size. ``eval_batch_size`` is used for validation/test.
        seed: the cell's seed: shuffling and augmentation follow ``(seed, epoch)``.
        val_size: training images held out for validation (LR selection); ``split_seed`` fixes which.
        download: download the data set into ``data_dir`` in ``prepare_data`` when missing.
        num_workers: worker processes of the ``torchvision`` path.
        smoke: tiny subsets (256 train / 64 val / 64 test) for smoke runs.
        device_loader: ``auto`` | ``torchvision`` | ``cpu`` | ``gpu`` (see module docstring).
        augment: random crop + flip on training batches (off for RAME's MLP recipe).
        mean, std: normalisation; ``None`` takes the variant's default (official-code values).
        channels_last: tensor path returns NHWC-strided batches.
        verify_md5: check files against torchvision's MD5 sums before reading.
    """

    def __init__(
        self,
        data_dir: str = "data",
        variant: str = "cifar10",
        batch_size: int = 128,
        seed: int = 0,
        val_size: int = 5000,
        split_seed: int = 0,
        download: bool = False,
        num_workers: int = 2,
        smoke: bool = False,
        device_loader: str = "auto",
        augment: bool = True,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        eval_batch_size: int = 500,
        channels_last: bool = False,
        verify_md5: bool = True,
        drop_last: bool = False,
    ) -> None:
        super().__init__()
        self.spec = _variant(variant)
        if device_loader not in DEVICE_LOADERS:
            raise ValueError(f"dataset.device_loader must be one of {', '.join(DEVICE_LOADERS)}; got {device_loader!r}")
        if isinstance(val_size, bool) or not isinstance(val_size, int) or val_size < 1:
            raise ValueError(f"dataset.val_size must be an integer >= 1 (held-out training images for LR selection); got {val_size!r}")
        self.data_dir = data_dir
        self.variant = variant
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size)
        self.seed = int(seed)
        self.val_size = val_size
        self.split_seed = int(split_seed)
        self.download = bool(download)
        self.num_workers = int(num_workers)
        self.smoke = bool(smoke)
        self.device_loader = device_loader
        self.augment = bool(augment)
        self.mean = tuple(float(m) for m in (mean if mean is not None else self.spec.mean))
        self.std = tuple(float(s) for s in (std if std is not None else self.spec.std))
        self.channels_last = bool(channels_last)
        self.verify_md5 = bool(verify_md5)
        self.drop_last = bool(drop_last)
        self.splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._tensors: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    # --- data ---------------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Download into ``data_dir`` when ``download=True`` and the files are not there yet.

        Runs torchvision's own ``download()`` (archive MD5-checked, then extracted) without
        loading the arrays; ``setup`` reads them.
        """
        if not self.download:
            return
        root = Path(self.data_dir).expanduser()
        cls = self.spec.cls if self.verify_md5 else _reader_without_md5(self.spec.cls)
        downloader = cls.__new__(cls)
        downloader.root = str(root)
        try:
            root.mkdir(parents=True, exist_ok=True)
            downloader.download()
        except (OSError, RuntimeError) as exc:
            raise DataNotFoundError(
                f"downloading {self.spec.title} into '{root.resolve()}' failed ({' '.join(str(exc).split())}): "
                f"fetch {self.spec.cls.url} yourself and extract it into that directory"
            ) from exc

    def preflight(self) -> list[str]:
        """Every file present and starting like a pickle (no MD5, no loading): one line per problem.

        With ``download=True`` a missing data set is fine (``prepare_data`` fetches it).
        """
        try:
            folder = check_cifar_files(self.data_dir, self.variant, verify_md5=False)
        except DataNotFoundError as exc:
            return [] if self.download else [str(exc)]
        for name, _ in self.spec.files:
            with (folder / name).open("rb") as fh:
                head = fh.read(2)
            if len(head) < 2 or head[0] != 0x80:  # pickle protocol >= 2 starts with PROTO (0x80)
                return [f"{self.spec.title} file '{(folder / name).resolve()}' is not a pickled CIFAR batch "
                        f"(corrupt or not the official release): delete '{folder.resolve()}' and rerun with "
                        f"dataset.download=true"]
        return []

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        check_cifar_files(self.data_dir, self.variant, self.verify_md5)  # hash each file once
        train_x, train_y = read_cifar(self.data_dir, self.variant, train=True, verify_md5=False)
        test_x, test_y = read_cifar(self.data_dir, self.variant, train=False, verify_md5=False)
        n = len(train_y)
        if self.val_size >= n:
            raise ValueError(f"dataset.val_size={self.val_size} must be smaller than the {n} training images in {self.data_dir}")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.split_seed)).numpy()
        val_idx, train_idx = order[: self.val_size], order[self.val_size :]
        test_idx = np.arange(len(test_y))
        if self.smoke:
            train_idx, val_idx, test_idx = (idx[: SMOKE_SIZES[k]] for idx, k in ((train_idx, "train"), (val_idx, "val"), (test_idx, "test")))
        train_idx, val_idx = np.sort(train_idx), np.sort(val_idx)
        self.splits = {
            "train": (train_x[train_idx], train_y[train_idx]),
            "val": (train_x[val_idx], train_y[val_idx]),
            "test": (test_x[test_idx], test_y[test_idx]),
        }

    # --- loaders ------------------------------------------------------------------------
    @property
    def tensor_device(self) -> torch.device | None:
        """Where the tensor path keeps the data (``None``: torchvision path)."""
        if self.device_loader == "torchvision":
            return None
        if self.device_loader == "gpu" or (self.device_loader == "auto" and torch.cuda.is_available()):
            if not torch.cuda.is_available():
                raise RuntimeError("dataset.device_loader=gpu needs a CUDA device; use auto, cpu or torchvision")
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    def _split_tensors(self, split: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        cached = self._tensors.get(split)
        if cached is None or cached[0].device != device:
            images, labels = self.splits[split]
            x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device)
            cached = (x, torch.from_numpy(labels).to(device))
            self._tensors[split] = cached
        return cached

    def _loader(self, split: str, train: bool) -> TensorLoader | DataLoader:
        if not self.splits:
            self.setup("fit")
        device = self.tensor_device
        augment = train and self.augment
        if device is None:
            images, labels = self.splits[split]
            dataset = ArrayImageDataset(images, labels, torchvision_transforms(self.mean, self.std, augment))
            return make_loader(
                dataset,
                self.batch_size if train else self.eval_batch_size,
                shuffle=train,
                seed=self.seed,
                num_workers=self.num_workers,
                drop_last=self.drop_last and train,
            )
        rank, world = self.rank_and_world()
        return TensorLoader(
            *self._split_tensors(split, device),
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            seed=self.seed,
            drop_last=self.drop_last and train,
            transform=CifarBatchTransform(self.mean, self.std, augment=augment, channels_last=self.channels_last),
            rank=rank,
            world_size=world,
            pad=train,  # evaluation: every sample on exactly one rank, so summed metrics count it once
        )

    def split_loader(self, split: str) -> TensorLoader | DataLoader:
        return self._loader(split, train=split == "train")

    def example_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.zeros(2, 3, 32, 32), torch.zeros(2, dtype=torch.long)
