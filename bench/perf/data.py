"""CIFAR data-path throughput: torchvision DataLoader vs the tensor path, in one process.

    python -m bench.perf data [--images 10000] [--batch-size 128] [--workers 2] [--repeats 3]
                              [--train-steps N] [--json PATH]

Writes a synthetic CIFAR-10 (random pixels, the real on-disk pickle format) to a temp dir, then
for each path iterates whole training epochs through ``CIFARDataModule`` (crop + flip +
normalise, exactly what training consumes) and reports images/s, median over ``--repeats``,
and the ratio tensor/torchvision. Paths: ``torchvision`` (PIL transforms in ``--workers``
processes; on GPU the batch is also copied to the device), ``tensor-cpu``, and ``tensor-gpu``
when CUDA is present.

``--train-steps N`` (default: 30 on GPU, 0 on CPU) also times ResNet-18 (CIFAR stem) training
steps in a plain loop fed by the tensor path (bf16 autocast + channels_last on GPU), reported
as images/s and the implied seconds per 50k-image epoch; the published reference is airbench /
hlb-CIFAR10 (a ResNet-18-class epoch in ~2-3 s on an A100). Runner-vs-plain-loop overhead on
this workload is measured by ``python -m bench.perf runner`` with ``runner_workload_overrides``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from tasks.vision.cifar import CIFARDataModule
from tasks.vision.cifar_format import write_synthetic_cifar
from tasks.vision.cifar_models import resnet18


def runner_workload_overrides(data_dir: str | Path) -> list[str]:
    """LEAD: Hydra overrides for a ResNet-18/CIFAR-10 workload in ``bench.perf.runner.WORKLOADS``.

    ``data_dir`` must hold a CIFAR-10 written by ``write_synthetic_cifar`` (hence no MD5 check).
    """
    return [
        "model=resnet18", "dataset=cifar10", f"paths.data={data_dir}", "dataset.verify_md5=false",
        "dataset.val_size=1000", "optimizer=sgd", "lr=0.1",
    ]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def epoch_images_per_second(dm: CIFARDataModule, device: torch.device, epoch: int) -> float:
    """Iterate one training epoch (moving each batch to ``device``); images per second."""
    loader = dm.split_loader("train")
    loader.sampler.set_epoch(epoch)
    _sync(device)
    tic = time.perf_counter()
    n = 0
    for x, y in loader:
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        n += y.shape[0]
    _sync(device)
    return n / (time.perf_counter() - tic)


def measure_paths(data_dir: Path, args: argparse.Namespace) -> dict[str, float]:
    cuda = torch.cuda.is_available()
    gpu = torch.device("cuda") if cuda else None
    paths = {"torchvision": ("torchvision", gpu or torch.device("cpu")), "tensor-cpu": ("cpu", torch.device("cpu"))}
    if cuda:
        paths["tensor-gpu"] = ("gpu", gpu)
    modules = {}
    for name, (kind, _) in paths.items():
        dm = CIFARDataModule(str(data_dir), batch_size=args.batch_size, val_size=max(1, args.images // 10),
                             verify_md5=False, device_loader=kind, num_workers=args.workers, seed=0)
        dm.setup("fit")
        modules[name] = dm
    results: dict[str, list[float]] = {name: [] for name in paths}
    for name, (_, device) in paths.items():  # warm-up: worker start-up code paths, CUDA context, caches
        epoch_images_per_second(modules[name], device, epoch=0)
    for r in range(args.repeats):  # alternate paths so machine load affects each alike
        for name, (_, device) in paths.items():
            results[name].append(epoch_images_per_second(modules[name], device, epoch=r + 1))
    return {name: statistics.median(v) for name, v in results.items()}


def train_images_per_second(data_dir: Path, steps: int, batch_size: int, val_size: int = 1000) -> dict[str, Any]:
    """Plain-loop ResNet-18 (CIFAR stem) training fed by the tensor path on the default device."""
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    dm = CIFARDataModule(str(data_dir), batch_size=batch_size, val_size=val_size, verify_md5=False,
                         device_loader="gpu" if cuda else "cpu", channels_last=cuda, drop_last=True)
    dm.setup("fit")
    model = resnet18(10).to(device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda)

    def run(n_steps: int, epoch: int) -> tuple[int, float]:
        loader = dm.split_loader("train")
        done = images = 0
        _sync(device)
        tic = time.perf_counter()
        while done < n_steps:
            loader.sampler.set_epoch(epoch)
            for x, y in loader:
                with autocast:
                    loss = F.cross_entropy(model(x), y, label_smoothing=0.0)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                done, images = done + 1, images + y.shape[0]
                if done == n_steps:
                    break
            epoch += 1
        _sync(device)
        return images, time.perf_counter() - tic

    model.train()
    run(max(3, steps // 5), epoch=0)  # warm-up (cudnn autotuning)
    images, seconds = run(steps, epoch=100)
    rate = images / seconds
    return {"device": torch.cuda.get_device_name() if cuda else "cpu", "batch_size": batch_size, "steps": steps,
            "images_per_s": rate, "seconds_per_50k_epoch": 50000 / rate,
            "precision": "bf16-autocast" if cuda else "fp32", "channels_last": cuda}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.perf data", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000, help="synthetic training images (default 10000)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the torchvision path")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=None, help="ResNet-18 training steps to time (default 30 on GPU, 0 on CPU)")
    parser.add_argument("--train-batch-size", type=int, default=512)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    train_steps = args.train_steps if args.train_steps is not None else (30 if torch.cuda.is_available() else 0)

    with tempfile.TemporaryDirectory(prefix="optbench-perf-data-") as tmp:
        data_dir = Path(tmp)
        write_synthetic_cifar(data_dir, "cifar10", n_train=args.images, n_test=1000, seed=0)
        rates = measure_paths(data_dir, args)
        base = rates["torchvision"]
        print(f"CIFAR-10 training-epoch throughput ({args.images} images, batch {args.batch_size}, "
              f"torchvision workers={args.workers}, torch threads={torch.get_num_threads()}, median of {args.repeats})")
        print(f"{'path':<14}{'images/s':>12}{'vs torchvision':>16}")
        for name, rate in rates.items():
            print(f"{name:<14}{rate:>12,.0f}{rate / base:>15.1f}x")
        result: dict[str, Any] = {"images": args.images, "batch_size": args.batch_size, "workers": args.workers,
                                  "images_per_s": rates, "ratio_vs_torchvision": {k: v / base for k, v in rates.items()}}
        if train_steps > 0:
            train = train_images_per_second(data_dir, train_steps, args.train_batch_size, val_size=max(1, args.images // 10))
            result["resnet18_train"] = train
            print(f"ResNet-18 (CIFAR stem) plain-loop training on {train['device']}, batch {train['batch_size']}, "
                  f"{train['precision']}, channels_last={train['channels_last']}: {train['images_per_s']:,.0f} images/s "
                  f"= {train['seconds_per_50k_epoch']:.2f} s per 50k-image epoch (airbench/hlb-CIFAR10 reference: ~2-3 s on an A100)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
