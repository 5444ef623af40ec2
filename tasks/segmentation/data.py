"""COCO-2017 person segmentation as a LightningDataModule (layout and selection: ``coco.py``).

Batches are ``(image uint8 [B,3,H,W], mask uint8 [B,H,W])``; mask values 0/1 and 255 for
pixels outside the image (padding) or ignored crowd regions. The module normalises on the
device. Transforms follow the cited DSB2018 code (``selim/train_all.sh``, resnet152_2):
training on random ``crop_size`` (224) crops, batch 16; validation on whole images. Here
validation images are zero-padded to ``eval_size`` x ``eval_size`` (640, COCO's longest side;
larger images are shrunk to fit) so that they batch, and the padding is ignored. Training
crops are flipped horizontally with probability 1/2; the cited code's heavier nucleus
augmentation (``aug_mega_hardcore``: rotations, inversion, blur, noise) is not used.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from tasks.base import TaskData
from tasks.segmentation import coco
from tasks.vision.errors import DataCorruptError, DataNotFoundError
from tasks.vision.loaders import make_loader

log = logging.getLogger(__name__)
SMOKE_SIZES = {"train": 32, "val": 16}
INDEX_FORMAT = 1  # bump when coco.ImageEntry changes: cached indexes of another format are rebuilt


class CocoPersonDataset(Dataset):
    """Images of one split with their person masks; ``crop`` for training, ``pad_to`` for evaluation."""

    def __init__(self, entries: list[coco.ImageEntry], image_root: Path, masks: coco.MaskCache, crowd: str,
                 crop: int | None = None, pad_to: int | None = None, flip: bool = False) -> None:
        if (crop is None) == (pad_to is None):
            raise ValueError("give exactly one of crop (training) and pad_to (evaluation)")
        coco.apply_crowd(np.zeros(1, np.uint8), crowd)  # validates the mode
        self.entries, self.image_root, self.masks, self.crowd = entries, image_root, masks, crowd
        self.crop, self.pad_to, self.flip = crop, pad_to, flip

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        entry = self.entries[index]
        image = coco.load_image(self.image_root / entry.file_name)
        if image.size != (entry.width, entry.height):
            raise DataCorruptError(f"image '{self.image_root / entry.file_name}' is {image.size[0]}x{image.size[1]}, "
                                        f"its annotation says {entry.width}x{entry.height}: re-extract it")
        mask = coco.apply_crowd(self.masks.get(entry), self.crowd)
        pixels = np.asarray(image, dtype=np.uint8)
        if self.pad_to is not None:
            pixels, mask = _fit(pixels, mask, self.pad_to)
            x, y = _pad(pixels, mask, self.pad_to, self.pad_to, 0, 0)
        else:
            x, y = _random_crop(pixels, mask, self.crop)
            if self.flip and torch.rand(()) < 0.5:
                x, y = x.flip(-1), y.flip(-1)
        return x, y


def _fit(pixels: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Shrink (keeping the aspect ratio) so that both sides are at most ``size``."""
    h, w = mask.shape
    if max(h, w) <= size:
        return pixels, mask
    scale = size / max(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return (np.asarray(Image.fromarray(pixels).resize(new, Image.BILINEAR)),
            np.asarray(Image.fromarray(mask).resize(new, Image.NEAREST)))


def _pad(pixels: np.ndarray, mask: np.ndarray, height: int, width: int, top: int, left: int) -> tuple[Tensor, Tensor]:
    """Place ``pixels``/``mask`` at (top, left) of a zero image / all-ignore mask of the given size."""
    h, w = mask.shape
    x = torch.zeros(3, height, width, dtype=torch.uint8)
    y = torch.full((height, width), coco.IGNORE, dtype=torch.uint8)
    x[:, top:top + h, left:left + w] = torch.from_numpy(np.array(pixels, copy=True)).permute(2, 0, 1)
    y[top:top + h, left:left + w] = torch.from_numpy(np.array(mask, copy=True))
    return x, y


def _random_crop(pixels: np.ndarray, mask: np.ndarray, size: int) -> tuple[Tensor, Tensor]:
    """A uniformly placed ``size`` x ``size`` crop; a side shorter than ``size`` is padded (ignored)."""
    h, w = mask.shape
    top = int(torch.randint(h - size + 1, ())) if h > size else 0
    left = int(torch.randint(w - size + 1, ())) if w > size else 0
    pixels, mask = pixels[top:top + size, left:left + size], mask[top:top + size, left:left + size]
    return _pad(pixels, mask, size, size, 0, 0)


class CocoPersonDataModule(TaskData):
    """COCO-2017 person masks: train2017 for training, val2017 for validation (no labelled test split).

    Args:
        data_dir: folder with ``train2017/``, ``val2017/`` and ``annotations/`` (``coco.py``).
        batch_size / crop_size: training batch and crop side (cited code: 16 and 224).
        eval_batch_size / eval_size: validation batch and padded side (640).
        selection / split_seed: which images a split uses (``coco.select``; paper: balanced).
        crowd: what a crowd region is (``foreground`` | ``ignore`` | ``background``).
        cache_dir: where per-image masks and the parsed annotation index are cached (``None``: no cache).
        seed: the cell's seed (shuffling, and crops drawn in workers, follow ``(seed, epoch)``).
        smoke: the first 32 training and 16 validation images of the selection.
    """

    def __init__(self, data_dir: str = "data/coco", batch_size: int = 16, crop_size: int = 224,
                 eval_batch_size: int = 8, eval_size: int = 640, selection: str = "balanced", split_seed: int = 0,
                 crowd: str = "foreground", cache_dir: str | None = None, seed: int = 0, num_workers: int = 8,
                 persistent_workers: bool = False, smoke: bool = False, download: bool = False) -> None:
        super().__init__()
        if selection not in coco.SELECTIONS:
            raise ValueError(f"dataset.selection={selection!r} is invalid: choose one of {', '.join(coco.SELECTIONS)}")
        if crowd not in coco.CROWD_MODES:
            raise ValueError(f"dataset.crowd={crowd!r} is invalid: choose one of {', '.join(coco.CROWD_MODES)}")
        for key, value in (("crop_size", crop_size), ("eval_size", eval_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 32 or value % 32:
                raise ValueError(f"dataset.{key}={value!r} is invalid: must be a multiple of 32 (the encoder's stride), >= 32")
        self.data_dir = data_dir
        self.batch_size, self.crop_size = int(batch_size), int(crop_size)
        self.eval_batch_size, self.eval_size = int(eval_batch_size), int(eval_size)
        self.selection, self.split_seed, self.crowd = selection, int(split_seed), crowd
        self.cache_dir = cache_dir or None
        self.seed, self.num_workers, self.persistent_workers = int(seed), int(num_workers), bool(persistent_workers)
        self.smoke, self.download = bool(smoke), bool(download)
        self.datasets: dict[str, CocoPersonDataset] = {}
        self.counts: dict[str, dict[str, int]] = {}

    # --- contract helpers ---------------------------------------------------------------
    def preflight(self) -> list[str]:
        """Missing files of the layout, one line each (cheap: no file is read)."""
        return coco.missing_files(self.data_dir)

    def example_batch(self) -> tuple[Tensor, Tensor]:
        """Two training crops' worth of zeros with the real dtypes (no file access)."""
        s = self.crop_size
        return torch.zeros(2, 3, s, s, dtype=torch.uint8), torch.zeros(2, s, s, dtype=torch.uint8)

    # --- Lightning ----------------------------------------------------------------------
    def prepare_data(self) -> None:
        if self.download:
            raise ValueError(f"dataset.download=true is not supported for COCO; get it {coco.SOURCE}")

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        problems = self.preflight()
        if problems:
            raise DataNotFoundError(problems[0])
        for split in ("train", "val"):
            entries, counts = self._index(split)
            chosen = coco.select(entries, self.selection, self.split_seed)
            if self.smoke:
                chosen = chosen[:SMOKE_SIZES[split]]
            self.counts[split] = {**counts, "selected": len(chosen),
                                  "selected_with_person": sum(1 for e in chosen if e.has_person)}
            masks = coco.MaskCache(Path(self.cache_dir) / "masks" if self.cache_dir else None, split)
            root = coco.image_dir(self.data_dir, split)
            if split == "train":
                self.datasets[split] = CocoPersonDataset(chosen, root, masks, self.crowd, crop=self.crop_size, flip=True)
            else:
                self.datasets[split] = CocoPersonDataset(chosen, root, masks, self.crowd, pad_to=self.eval_size)
        log.info("COCO person %s: train %d images (%d with persons), val %d (%d)", self.selection,
                 self.counts["train"]["selected"], self.counts["train"]["selected_with_person"],
                 self.counts["val"]["selected"], self.counts["val"]["selected_with_person"])

    def _index(self, split: str) -> tuple[list[coco.ImageEntry], dict[str, int]]:
        """The parsed annotation index, from the cache when the annotation file is unchanged."""
        ann = coco.annotation_path(self.data_dir, split)
        stat = ann.stat()
        key = (INDEX_FORMAT, str(ann.resolve()), stat.st_size, stat.st_mtime_ns)
        cache = Path(self.cache_dir) / f"index_{coco.SPLIT_DIRS[split]}.pkl" if self.cache_dir else None
        if cache is not None and cache.is_file():
            try:
                with cache.open("rb") as fh:
                    saved = pickle.load(fh)
                if saved.get("key") == key:
                    return saved["entries"], saved["counts"]
            except (OSError, pickle.UnpicklingError, EOFError, AttributeError, KeyError):
                pass  # stale or torn: rebuild
        entries, counts = coco.load_index(ann)
        if cache is not None:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
                with tmp.open("wb") as fh:
                    pickle.dump({"key": key, "entries": entries, "counts": counts}, fh, protocol=pickle.HIGHEST_PROTOCOL)
                tmp.replace(cache)
            except OSError as exc:  # read-only cache: the index is parsed again next time
                log.warning("dataset.cache_dir '%s' is not writable (%s): nothing is cached", self.cache_dir, exc)
        return entries, counts

    def split_loader(self, split: str) -> DataLoader:
        """``train`` (shuffled by ``(seed, epoch)``, random crops) or ``val`` (whole images, in order).

        Under DDP, Lightning puts a ``DistributedSampler`` into these DataLoaders (the runner's
        contract); COCO-2017 has no labelled ``test`` split.
        """
        if split == "test":
            raise ValueError("COCO-2017 person segmentation has no labelled test split (test2017 has no annotations): "
                             "set eval_test_every_epoch=false (experiment=rame_coco does)")
        if split not in self.datasets and not self.datasets:
            self.setup("fit")
        train = split == "train"
        return make_loader(self.datasets[split], self.batch_size if train else self.eval_batch_size,
                           shuffle=train, seed=self.seed, num_workers=self.num_workers,
                           persistent_workers=self.persistent_workers)
