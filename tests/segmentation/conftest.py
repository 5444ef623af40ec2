"""A tiny COCO-2017 folder in the real layout: JPEG/PNG images + instances_{train,val}2017.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

H, W = 36, 48
DOG = 18


def rect(x0: int, y0: int, x1: int, y1: int) -> list[float]:
    """A rectangle polygon; pycocotools fills pixel columns x0..x1-1 and rows y0..y1-1."""
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def column_major_counts(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE of ``mask``, counted by hand (column-major runs, zeros first)."""
    flat = mask.T.reshape(-1).tolist()
    counts, value, run = [], 0, 0
    for v in flat:
        if v == value:
            run += 1
        else:
            counts.append(run)
            value, run = v, 1
    counts.append(run)
    return counts


# image 3's crowd region, hand-drawn: rows 10..19, columns 20..29
CROWD = np.zeros((H, W), dtype=np.uint8)
CROWD[10:20, 20:30] = 1
# image 2's person, hand-drawn, given as a compressed RLE
BLOB = np.zeros((H, W), dtype=np.uint8)
BLOB[5:9, 3:40] = 1
BLOB[20:30, 10:12] = 1


def _ann(ann_id: int, image_id: int, segmentation, category: int = 1, iscrowd: int = 0) -> dict:
    return {"id": ann_id, "image_id": image_id, "category_id": category, "segmentation": segmentation,
            "iscrowd": iscrowd, "area": 1.0, "bbox": [0, 0, 1, 1]}


def write_coco(root: Path) -> Path:
    """Train: persons in images 1, 2, 3, 7; none in 4 (no annotation), 5 (a dog), 6 (20x24).
    Val: persons in 10 and 12, none in 11."""
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(0)
    blob_rle = mask_utils.encode(np.asfortranarray(BLOB))
    blob_rle["counts"] = blob_rle["counts"].decode()
    splits = {
        "train2017": {
            "images": [(1, "jpg", H, W), (2, "png", H, W), (3, "jpg", H, W), (4, "jpg", H, W),
                       (5, "jpg", H, W), (6, "jpg", 20, 24), (7, "jpg", H, W)],
            "anns": [_ann(1, 1, [rect(2, 1, 6, 4)]), _ann(2, 1, [rect(30, 20, 40, 30)], category=DOG),
                     _ann(3, 2, blob_rle),
                     _ann(4, 3, {"size": [H, W], "counts": column_major_counts(CROWD)}, iscrowd=1),
                     _ann(5, 3, [rect(25, 15, 35, 25), rect(0, 0, 4, 2)]),
                     _ann(6, 5, [rect(0, 0, 10, 10)], category=DOG), _ann(7, 7, [rect(0, 0, 48, 36)])],
        },
        "val2017": {
            "images": [(10, "jpg", H, W), (11, "jpg", 40, 40), (12, "jpg", 30, 20)],
            "anns": [_ann(20, 10, [rect(8, 8, 16, 16)]), _ann(21, 12, [rect(0, 0, 20, 30)])],
        },
    }
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for split, spec in splits.items():
        (root / split).mkdir(exist_ok=True)
        images = []
        for image_id, ext, h, w in spec["images"]:
            name = f"{image_id:012d}.{ext}"
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / split / name)
            images.append({"id": image_id, "file_name": name, "height": h, "width": w})
        data = {"images": images, "annotations": spec["anns"],
                "categories": [{"id": 1, "name": "person", "supercategory": "person"},
                               {"id": DOG, "name": "dog", "supercategory": "animal"}]}
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(data))
    return root


@pytest.fixture
def coco_root(tmp_path: Path) -> Path:
    return write_coco(tmp_path / "coco")
