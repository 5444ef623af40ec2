"""ImageNet (ILSVRC2012) as a LightningDataModule over torchvision's ImageFolder layout.

Expected layout: ``<data_dir>/train/<class>/<image>`` and ``<data_dir>/val/<class>/<image>``
(the official validation images sorted into class folders; it is the papers' reported "test"
number). LR selection reads a held-out split of ``val_size`` training images drawn with
``split_seed``; they get the eval transform. Transforms are the standard ones of the
torchvision reference recipe: ``RandomResizedCrop(224)`` + flip for training,
``Resize(256)`` + ``CenterCrop(224)`` for evaluation, ImageNet mean/std normalisation.
Decoding runs in ``num_workers`` DataLoader processes (DALI/FFCV are not wired in).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Subset
from torchvision import transforms as T
from torchvision.datasets import ImageFolder

from tasks.base import TaskData
from tasks.vision.errors import DataCorruptError, DataNotFoundError
from tasks.vision.loaders import make_loader

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SMOKE_SIZES = {"train": 256, "val": 64, "test": 64}
FIX = (
    "set paths.data=DIR so that DIR/imagenet holds train/<class>/*.JPEG and val/<class>/*.JPEG "
    "(or set dataset.data_dir); ImageNet cannot be downloaded automatically (dataset.download=true "
    "does not apply): get ILSVRC2012 from image-net.org and sort val/ into class folders"
)


def load_image(path: str) -> Image.Image:
    """Decode one image as RGB; a file PIL cannot read raises ``DataCorruptError`` naming it."""
    try:
        with open(path, "rb") as fh:
            return Image.open(fh).convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataCorruptError(f"image '{path}' cannot be decoded ({type(exc).__name__}: {exc}): re-extract or delete it") from exc


def check_imagefolder(data_dir: str | Path) -> tuple[Path, Path]:
    """``(train_dir, val_dir)`` after checking both exist and hold class folders."""
    root = Path(data_dir).expanduser()
    dirs = []
    for split in ("train", "val"):
        folder = root / split
        if not folder.is_dir():
            raise DataNotFoundError(f"ImageNet not found: looked for the folder '{folder.resolve()}'; {FIX}")
        if not any(p.is_dir() for p in folder.iterdir()):
            raise DataNotFoundError(f"ImageNet folder '{folder.resolve()}' has no class folders (ImageFolder layout: {split}/<class>/<image>); {FIX}")
        dirs.append(folder)
    return dirs[0], dirs[1]


def imagenet_transforms(train: bool, image_size: int = 224, resize_size: int = 256) -> T.Compose:
    if train:
        steps: list[Any] = [T.RandomResizedCrop(image_size), T.RandomHorizontalFlip()]
    else:
        steps = [T.Resize(resize_size), T.CenterCrop(image_size)]
    return T.Compose([*steps, T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def _image_folder(folder: Path, transform: Any) -> ImageFolder:
    try:
        return ImageFolder(str(folder), transform=transform, loader=load_image)
    except FileNotFoundError as exc:  # no class folders / no image files
        raise DataNotFoundError(f"ImageNet folder '{folder.resolve()}': {' '.join(str(exc).split())}; {FIX}") from exc


class ImageNetDataModule(TaskData):
    """ImageFolder train/val with a seeded held-out split of the training images.

    Args:
        data_dir: directory with ``train/`` and ``val/`` class folders.
        batch_size: training batch size; ``eval_batch_size`` (default: same) for val/test.
        seed: the cell's seed: shuffling and worker seeds follow ``(seed, epoch)``.
        val_size: training images held out for LR selection; ``split_seed`` fixes which.
        download: must stay false (ImageNet has no automatic download).
        num_workers: decoding processes.
        smoke: tiny subsets (256 train / 64 val / 64 test).
        device_loader: ``auto`` or ``torchvision`` (the only ImageNet path).
    """

    def __init__(
        self,
        data_dir: str = "data/imagenet",
        batch_size: int = 256,
        seed: int = 0,
        val_size: int = 10000,
        split_seed: int = 0,
        download: bool = False,
        num_workers: int = 8,
        smoke: bool = False,
        device_loader: str = "auto",
        image_size: int = 224,
        resize_size: int = 256,
        eval_batch_size: int | None = None,
        persistent_workers: bool = False,
    ) -> None:
        super().__init__()
        if device_loader not in ("auto", "torchvision"):
            raise ValueError(f"dataset.device_loader for ImageNet must be auto or torchvision; got {device_loader!r}")
        if isinstance(val_size, bool) or not isinstance(val_size, int) or val_size < 1:
            raise ValueError(f"dataset.val_size must be an integer >= 1 (held-out training images for LR selection); got {val_size!r}")
        self.data_dir = data_dir
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.seed = int(seed)
        self.val_size = val_size
        self.split_seed = int(split_seed)
        self.download = bool(download)
        self.num_workers = int(num_workers)
        self.smoke = bool(smoke)
        self.image_size = int(image_size)
        self.resize_size = int(resize_size)
        self.persistent_workers = bool(persistent_workers)
        self.datasets: dict[str, Any] = {}

    def prepare_data(self) -> None:
        if self.download:
            raise ValueError(f"dataset.download=true is not supported for ImageNet; {FIX}")

    def preflight(self) -> list[str]:
        """``train/`` and ``val/`` present with class folders (no image is decoded)."""
        try:
            check_imagefolder(self.data_dir)
        except DataNotFoundError as exc:
            return [str(exc)]
        return []

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        train_dir, val_dir = check_imagefolder(self.data_dir)
        base = _image_folder(train_dir, None)
        test = _image_folder(val_dir, imagenet_transforms(False, self.image_size, self.resize_size))
        if test.classes != base.classes:
            extra = sorted(set(test.classes) ^ set(base.classes))[:3]
            raise DataCorruptError(
                f"ImageNet class folders differ between '{train_dir.resolve()}' and '{val_dir.resolve()}' "
                f"(e.g. {', '.join(extra)}): both splits need the same class folders"
            )
        n = len(base)
        if self.val_size >= n:
            raise ValueError(f"dataset.val_size={self.val_size} must be smaller than the {n} training images in {train_dir}")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.split_seed))
        val_idx, train_idx = order[: self.val_size], order[self.val_size :]
        test_idx = torch.arange(len(test))
        if self.smoke:
            train_idx, val_idx, test_idx = train_idx[: SMOKE_SIZES["train"]], val_idx[: SMOKE_SIZES["val"]], test_idx[: SMOKE_SIZES["test"]]
        train_view, val_view = copy.copy(base), copy.copy(base)
        train_view.transform = imagenet_transforms(True, self.image_size, self.resize_size)
        val_view.transform = imagenet_transforms(False, self.image_size, self.resize_size)
        self.datasets = {
            "train": Subset(train_view, sorted(train_idx.tolist())),
            "val": Subset(val_view, sorted(val_idx.tolist())),
            "test": Subset(test, test_idx.tolist()),
        }
        self.classes = base.classes

    def _loader(self, split: str, train: bool) -> DataLoader:
        if not self.datasets:
            self.setup("fit")
        return make_loader(
            self.datasets[split],
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            seed=self.seed,
            num_workers=self.num_workers,
            persistent_workers=self.persistent_workers,
        )

    def split_loader(self, split: str) -> DataLoader:
        return self._loader(split, train=split == "train")

    def example_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.zeros(2, 3, self.image_size, self.image_size), torch.zeros(2, dtype=torch.long)
