"""COCO-2017 person annotations: which images a split uses, and their person masks.

On-disk layout (the official archives unpacked side by side)::

    <data_dir>/train2017/<12-digit id>.jpg     train2017.zip
    <data_dir>/val2017/<12-digit id>.jpg       val2017.zip
    <data_dir>/annotations/instances_train2017.json   annotations_trainval2017.zip
    <data_dir>/annotations/instances_val2017.json

**Image selection** (``selection``). RAME (Sec. VI-D) trains on 108,344 images and validates
on 4,614, "roughly half" with persons. COCO-2017 has 118,287 / 5,000 images, of which
64,115 / 2,693 contain a person and 54,172 / 2,307 do not; 108,344 = 2 x 54,172 and
4,614 = 2 x 2,307 exactly. So the paper's split is *balanced*: every person-free image plus
as many person images (54,172 of 64,115; 2,307 of 2,693). Which person images were kept is
not stated; ``balanced`` keeps a uniform sample drawn with ``split_seed`` (an assumption).
``all`` keeps every image, ``persons`` only images with a person.

**Masks.** Category 1 (person) annotations, polygons and RLE (compressed or not), are
rasterised with ``pycocotools.mask`` and merged per image into one uint8 mask:
0 background, 1 person, 2 crowd region (``iscrowd=1``, a group of people). ``crowd`` decides
at load time what a crowd pixel is: ``foreground`` (default: they are people),
``ignore`` (left out of loss and IoU) or ``background``. Masks are cached per image as PNG.
"""

from __future__ import annotations

import json
import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tasks.vision.errors import DataCorruptError, DataNotFoundError

log = logging.getLogger(__name__)
PERSON = 1
CROWD_VALUE = 2
IGNORE = 255
SELECTIONS = ("balanced", "all", "persons")
CROWD_MODES = ("foreground", "ignore", "background")
SPLIT_DIRS = {"train": "train2017", "val": "val2017"}
SOURCE = ("from cocodataset.org: train2017.zip, val2017.zip and annotations_trainval2017.zip, "
          "unpacked into one folder (set paths.data=DIR so that DIR/coco holds them, or dataset.data_dir)")


def annotation_path(data_dir: str | Path, split: str) -> Path:
    return Path(data_dir).expanduser() / "annotations" / f"instances_{SPLIT_DIRS[split]}.json"


def image_dir(data_dir: str | Path, split: str) -> Path:
    return Path(data_dir).expanduser() / SPLIT_DIRS[split]


def missing_files(data_dir: str | Path, splits: tuple[str, ...] = ("train", "val")) -> list[str]:
    """One line per missing file or folder of the layout, naming it and where it comes from."""
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        return [f"COCO-2017 not found: no folder '{root}' (it should hold train2017/, val2017/ and annotations/); "
                f"they come {SOURCE}"]
    problems = []
    for split in splits:
        for path, kind in ((image_dir(data_dir, split), "folder"), (annotation_path(data_dir, split), "file")):
            exists = path.is_dir() if kind == "folder" else path.is_file()
            if not exists:
                problems.append(f"COCO-2017 {kind} not found: '{path}'; it comes {SOURCE}")
    return problems


@dataclass(frozen=True)
class ImageEntry:
    """One image: where it is, its size, and its person annotations as JSON
    (``[[segmentation, iscrowd], ...]``; one string per image keeps the index to a few Python
    objects per image, so DataLoader workers forked from it do not copy it page by page)."""

    image_id: int
    file_name: str
    height: int
    width: int
    persons_json: str = "[]"

    @property
    def has_person(self) -> bool:
        return self.persons_json != "[]"

    @property
    def persons(self) -> list[tuple[Any, int]]:
        """``[(segmentation, iscrowd), ...]`` of the image's person annotations."""
        return [(seg, int(crowd)) for seg, crowd in json.loads(self.persons_json)]


def load_index(ann_file: str | Path) -> tuple[list[ImageEntry], dict[str, int]]:
    """Every image of an ``instances_*.json`` with its person annotations, sorted by id."""
    from pycocotools.coco import COCO

    ann_file = Path(ann_file)
    try:
        coco = _quiet_coco(COCO, str(ann_file))
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise DataCorruptError(f"'{ann_file}' is not a COCO instances file ({type(exc).__name__}: {exc}); "
                               f"re-extract annotations_trainval2017.zip") from exc
    entries = []
    for image_id in sorted(coco.getImgIds()):
        info = coco.imgs[image_id]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id], catIds=[PERSON], iscrowd=None))
        persons = json.dumps([[a["segmentation"], int(a.get("iscrowd", 0))] for a in anns], separators=(",", ":"))
        entries.append(ImageEntry(int(image_id), str(info["file_name"]), int(info["height"]), int(info["width"]), persons))
    with_person = sum(1 for e in entries if e.has_person)
    return entries, {"images": len(entries), "with_person": with_person, "without_person": len(entries) - with_person}


def _quiet_coco(cls: Any, path: str) -> Any:
    """``COCO(path)`` without its progress prints on stdout."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return cls(path)


def select(entries: list[ImageEntry], selection: str, split_seed: int = 0) -> list[ImageEntry]:
    """The images a split trains or validates on (see the module docstring), in id order."""
    if selection not in SELECTIONS:
        raise ValueError(f"dataset.selection={selection!r} is invalid: choose one of {', '.join(SELECTIONS)}")
    positives = [e for e in entries if e.has_person]
    negatives = [e for e in entries if not e.has_person]
    if selection == "all":
        return list(entries)
    if selection == "persons":
        return positives
    n = min(len(positives), len(negatives))
    rng = random.Random(int(split_seed))
    keep = rng.sample(positives, n) + rng.sample(negatives, n)
    return sorted(keep, key=lambda e: e.image_id)


def rasterise(entry: ImageEntry) -> np.ndarray:
    """The ``(height, width)`` uint8 mask: 0 background, 1 person, 2 crowd (crowd wins on overlap)."""
    from pycocotools import mask as mask_utils

    out = np.zeros((entry.height, entry.width), dtype=np.uint8)
    for segmentation, iscrowd in entry.persons:
        if isinstance(segmentation, list):  # polygons: one RLE per polygon, merged
            rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, entry.height, entry.width))
        elif isinstance(segmentation.get("counts"), list):  # uncompressed RLE
            rle = mask_utils.frPyObjects(segmentation, entry.height, entry.width)
        else:  # compressed RLE
            rle = segmentation
        m = mask_utils.decode(rle).astype(bool)
        if iscrowd:
            out[m] = CROWD_VALUE
        else:
            out[m & (out != CROWD_VALUE)] = PERSON
    return out


def apply_crowd(mask: np.ndarray, crowd: str) -> np.ndarray:
    """Map crowd pixels (2) to 1 (``foreground``), 255 (``ignore``) or 0 (``background``)."""
    if crowd not in CROWD_MODES:
        raise ValueError(f"dataset.crowd={crowd!r} is invalid: choose one of {', '.join(CROWD_MODES)}")
    value = {"foreground": PERSON, "ignore": IGNORE, "background": 0}[crowd]
    out = mask.copy()
    out[mask == CROWD_VALUE] = value
    return out


class MaskCache:
    """Per-image person masks as PNG files under ``root`` (``None``: rasterise every time)."""

    def __init__(self, root: str | Path | None, split: str) -> None:
        self.root = None if root in (None, "") else Path(root).expanduser() / SPLIT_DIRS[split]

    def get(self, entry: ImageEntry) -> np.ndarray:
        if self.root is None:
            return rasterise(entry)
        path = self.root / f"{entry.image_id:012d}.png"
        if path.is_file():
            try:
                with Image.open(path) as img:
                    mask = np.asarray(img, dtype=np.uint8)
                if mask.shape == (entry.height, entry.width):
                    return mask
            except OSError:
                pass  # a torn or foreign file: rasterise again and overwrite it
        mask = rasterise(entry)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            Image.fromarray(mask, mode="L").save(tmp, format="PNG")
            tmp.replace(path)  # atomic: concurrent workers write the same bytes
        except OSError as exc:  # a read-only or full cache: keep training, rasterise each time
            log.warning("person-mask cache '%s' is not writable (%s); masks are rasterised every epoch", self.root, exc)
            self.root = None
        return mask


def load_image(path: str | Path) -> Image.Image:
    """Decode one image as RGB; a missing or unreadable file raises a one-line error naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"COCO image not found: '{path}'; it comes {SOURCE}")
    try:
        with open(path, "rb") as fh:
            return Image.open(fh).convert("RGB")
    except (OSError, ValueError) as exc:
        raise DataCorruptError(f"image '{path}' cannot be decoded ({type(exc).__name__}: {exc}): re-extract it") from exc
