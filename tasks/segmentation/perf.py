"""Segmentation runner overhead: ``run_cell`` vs a plain PyTorch loop, images/s, one process.

Both train the same composed cell (an FPN on a small encoder over a synthetic COCO-format
folder written to a temporary directory: JPEG images, polygon person annotations) for the
same epochs with a validation pass after each; the runner also writes its record and
``last.ckpt`` every epoch. Runs alternate in one process; the first round warms caches and
is dropped; the median of ``--repeats`` is reported as ``plain_time / runner_time``
(1.0 = no overhead). The lead dispatches ``python -m bench.perf segmentation`` here.

    python -m tasks.segmentation.perf [--repeats 3] [--epochs 2] [--images 48] [--encoder resnet18]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from PIL import Image


def write_fake_coco(root: Path, n_train: int, n_val: int, height: int = 96, width: int = 128, seed: int = 0) -> Path:
    """A COCO-2017 layout with random images, half of them with one rectangular person polygon."""
    rng = np.random.default_rng(seed)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for split, n in (("train2017", n_train), ("val2017", n_val)):
        (root / split).mkdir(exist_ok=True)
        images, anns = [], []
        for i in range(1, n + 1):
            name = f"{i:012d}.jpg"
            Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(root / split / name)
            images.append({"id": i, "file_name": name, "height": height, "width": width})
            if i % 2:
                x0, y0 = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
                poly = [x0, y0, x0 + width // 3, y0, x0 + width // 3, y0 + height // 3, x0, y0 + height // 3]
                anns.append({"id": i, "image_id": i, "category_id": 1, "segmentation": [poly], "iscrowd": 0,
                             "area": 1.0, "bbox": [x0, y0, width // 3, height // 3]})
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(
            {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}))
    return root


def _overrides(data: Path, runs: Path, epochs: int, encoder: str) -> list[str]:
    return ["model=fpn_resnet152", "dataset=coco_person", "module=segmentation", "eval_test_every_epoch=false",
            f"model.encoder={encoder}", "optimizer=adam", "lr=0.001", f"epochs={epochs}",
            f"dataset.data_dir={data}", f"dataset.cache_dir={data / 'cache'}", "dataset.selection=all",
            "dataset.crop_size=64", "dataset.input_shape=[3,64,64]", "dataset.eval_size=128", "dataset.batch_size=8",
            "dataset.eval_batch_size=8", "dataset.num_workers=0", "logger=csv", "seed=0", f"paths.runs={runs}"]


def plain_loop(cfg) -> float:
    """Train ``cfg`` with a hand-written loop (same data, model, optimizer, loss, metrics); wall seconds."""
    from bench.cell import optimizer_factory, scheduler_factory
    from bench.config import build, build_data, finalize
    from tasks.segmentation.losses import bce_dice, iou_counts
    from tasks.segmentation.module import IMAGENET_MEAN, IMAGENET_STD

    tic = time.perf_counter()
    cfg = finalize(cfg)
    torch.manual_seed(int(cfg.seed))
    data = build_data(cfg)
    data.setup("fit")
    model = build(cfg.model)
    optimizer = optimizer_factory(cfg)(model.parameters())
    scheduler = scheduler_factory(cfg)(optimizer)["scheduler"]
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255
    train, val = data.split_loader("train"), data.split_loader("val")
    per_step = cfg.schedule.get("interval", "epoch") == "step"
    for epoch in range(int(cfg.epochs)):
        model.train()
        train.sampler.set_epoch(epoch)
        loss_sum = torch.zeros((), dtype=torch.float64)
        for x, y in train:
            loss = bce_dice(model((x.float() - mean) / std), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach().double()
            if per_step:
                scheduler.step()
        if not per_step:
            scheduler.step()
        model.eval()
        with torch.no_grad():
            sums = torch.zeros(4, dtype=torch.float64)
            for x, y in val:
                logits = model((x.float() - mean) / std)
                sums[0] += bce_dice(logits, y, per_image=True).double().sum()
                sums[1] += y.shape[0]
                sums[2:] += iou_counts(logits, y)
            _ = (sums[0] / sums[1]).item(), (sums[2] / sums[3]).item()
    return time.perf_counter() - tic


def main(argv: list[str]) -> int:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from bench.perf.runner import plain_vs_runner
    from bench.plan import CONF_DIR

    parser = argparse.ArgumentParser(prog="python -m tasks.segmentation.perf", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=48, help="training images (validation: a quarter)")
    parser.add_argument("--encoder", default="resnet18")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        data = write_fake_coco(Path(tmp) / "coco", args.images, max(2, args.images // 4))

        def compose_round(i: int) -> DictConfig:
            GlobalHydra.instance().clear()
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
                return compose(config_name="config",
                               overrides=_overrides(data, Path(tmp) / f"runs{i}", args.epochs, args.encoder))

        try:
            plain, run, _ = plain_vs_runner(compose_round, plain_loop, args.repeats)
        except RuntimeError as exc:
            print(exc)
            return 1
    images = args.epochs * args.images
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, FPN/{args.encoder}, {args.images} train "
          f"images (64 px crops), {args.epochs} epochs, median of {args.repeats}")
    print(f"{'contender':<8} {'seconds':>8} {'train img/s':>12}")
    print(f"{'plain':<8} {plain:>8.2f} {images / plain:>12.1f}")
    print(f"{'runner':<8} {run:>8.2f} {images / run:>12.1f}")
    print(f"throughput ratio runner/plain: {plain / run:.3f}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
