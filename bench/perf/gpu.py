"""GPU check: ``make test-gpu``, optimizer steps vs ``Adam(fused=True)``, a ResNet-18 CIFAR epoch
through the runner vs a plain PyTorch loop; one markdown report.

    python -m bench.perf gpu [--out runs/perf_gpu.md] [--budget-s 420]
    python -m bench.perf gpu --tiny          # the same sections, tiny, on whatever device is here

On a CUDA machine it takes under 8 minutes: the GPU tests (``pytest -m gpu``, 240 s cap),
then every optimizer's step on the ResNet-18 parameter shapes, eager (its default path, plus
``foreach=True``) and compiled where the optimizer offers it (a ``compile``/``fused`` keyword,
detected), each timed right next to fused Adam so that other load cancels out of the ratio;
then ``trainer=gpu`` (bf16 autocast, channels_last, the GPU tensor data path) on synthetic
data in the real CIFAR-10 on-disk format, against a hand-written loop doing the same work
(bf16 autocast, channels_last, the same loader), alternating in one process. Without CUDA
and without ``--tiny`` it prints one line and exits 1. ``--tiny`` (what the tests run on CPU)
uses a few small tensors, 64 images and skips the pytest run, keeping only its collection.
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]
NO_CUDA = "bench.perf gpu: no CUDA device here (torch.cuda.is_available() is False); run it on a GPU machine, or pass --tiny"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_gpu_tests(tiny: bool, timeout_s: float) -> tuple[str, str]:
    """(status, output tail) of ``pytest -m gpu`` (collection only with ``tiny``)."""
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider"] + (["--co"] if tiny else [])
    try:
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return "timed out", f"`{' '.join(cmd[2:])}` ran past {timeout_s:.0f} s"
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
    return ("passed" if done.returncode == 0 else f"failed (exit {done.returncode})"), tail


# --- optimizer steps ----------------------------------------------------------------------

def _optimizer_specs() -> list[tuple[str, type, dict[str, Any]]]:
    """(name, class, kwargs) for each of our optimizers, from ``bench.perf.optimizers`` when it has them."""
    import optimizers

    from bench.perf.optimizers import CLASS_OF, OUR_KWARGS

    return [(name, optimizers.REGISTRY[CLASS_OF.get(name, name)], dict(kw)) for name, kw in OUR_KWARGS.items()]


def _compiled_kwarg(cls: type) -> str | None:
    """The keyword that selects an optimizer's compiled/fused step, if its constructor has one."""
    params = inspect.signature(cls.__init__).parameters
    return next((k for k in ("compile", "fused") if k in params), None)


def _shapes(tiny: bool) -> list[torch.Size]:
    if tiny:
        return [torch.Size(s) for s in ((64, 3, 3, 3), (64,), (128, 64), (10, 128), (10,))]
    from bench.perf.optimizers import resnet18_shapes

    return resnet18_shapes()


def _params(shapes: list[torch.Size], device: torch.device) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    params = []
    for shape in shapes:
        p = torch.nn.Parameter((0.05 * torch.randn(shape, generator=gen)).to(device))
        p.grad = (1e-2 * torch.randn(shape, generator=gen)).to(device)
        params.append(p)
    return params


def _step_times(opt: torch.optim.Optimizer, steps: int, device: torch.device) -> float:
    _sync(device)
    tic = time.perf_counter()
    for _ in range(steps):
        opt.step()
    _sync(device)
    return (time.perf_counter() - tic) / steps


def time_optimizers(device: torch.device, tiny: bool, deadline: float, steps: int, repeats: int) -> list[dict[str, Any]]:
    """One row per optimizer and path: ms/step and the median ratio to adjacent fused-Adam steps."""
    shapes = _shapes(tiny)
    base = torch.optim.Adam(_params(shapes, device), lr=1e-3, fused=True)
    _step_times(base, 3, device)
    rows: list[dict[str, Any]] = []
    candidates: list[tuple[str, str, Any]] = [("torch Adam", "foreach", lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True))]
    for name, cls, kw in _optimizer_specs():
        candidates.append((name, "eager (default)", lambda ps, c=cls, k=kw: c(ps, **k)))
        if "foreach" in inspect.signature(cls.__init__).parameters:
            candidates.append((name, "foreach", lambda ps, c=cls, k=kw: c(ps, foreach=True, **k)))
        flag = _compiled_kwarg(cls)
        compiled = None if flag is None else (lambda ps, c=cls, k=kw, f=flag: c(ps, **{f: True}, **k))
        candidates.append((name, f"compiled ({flag}=True)" if flag else "compiled", compiled))
    for name, path, build in candidates:
        if build is None:
            rows.append({"optimizer": name, "path": path, "ms": None, "ratio": None,
                         "note": "its constructor has no compile/fused keyword"})
            continue
        if time.monotonic() > deadline:
            rows.append({"optimizer": name, "path": path, "ms": None, "ratio": None, "note": "skipped: time budget spent"})
            continue
        try:
            tic = time.perf_counter()
            opt = build(_params(shapes, device))
            if hasattr(opt, "set_epoch"):
                opt.set_epoch(1)
            _step_times(opt, 3, device)  # warm-up (and compilation)
            warm = time.perf_counter() - tic
            ratios, times = [], []
            for _ in range(repeats):
                b = _step_times(base, steps, device)
                t = _step_times(opt, steps, device)
                ratios.append(t / b)
                times.append(t)
            rows.append({"optimizer": name, "path": path, "ms": 1e3 * statistics.median(times),
                         "ratio": statistics.median(ratios), "note": f"first 3 steps {warm:.1f} s" if "compiled" in path else ""})
        except Exception as exc:  # noqa: BLE001 - one optimizer failing on this device is a row, not the end
            rows.append({"optimizer": name, "path": path, "ms": None, "ratio": None,
                         "note": f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''}"})
    return rows


# --- one CIFAR-shaped ResNet-18 epoch ---------------------------------------------------------

def _overrides(data: Path, runs: Path, tiny: bool, cuda: bool) -> list[str]:
    trainer = ["trainer=gpu"] if cuda else ["trainer=cpu", "+trainer.channels_last=true"]
    size = ["dataset.batch_size=32", "dataset.val_size=16", "dataset.eval_batch_size=64"] if tiny else []
    return ["model=resnet18", "dataset=cifar10", f"paths.data={data}", f"paths.runs={runs}", "optimizer=sgd",
            "lr=0.05", "epochs=1", "eval_test_every_epoch=false", "dataset.verify_md5=false", "logger=none",
            "checkpoint_every_s=30", *trainer, *size]


def plain_epoch(cfg: Any, device: torch.device) -> float:
    """The same epoch (train + validation) by hand: bf16 autocast on CUDA, channels_last, same loader."""
    from bench.cell import optimizer_factory
    from bench.config import DATASET_METADATA_KEYS, build, finalize

    tic = time.perf_counter()
    cfg = finalize(cfg)
    torch.manual_seed(int(cfg.seed))
    data = build(cfg.dataset, DATASET_METADATA_KEYS)
    data.setup("fit")
    model = build(cfg.model).to(device, memory_format=torch.channels_last)
    opt = optimizer_factory(cfg)(model.parameters())
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    train, val = data.split_loader("train"), data.split_loader("val")
    model.train()
    for x, y in train:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast:
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    correct = torch.zeros((), device=device)
    with torch.no_grad(), autocast:
        for x, y in val:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            correct += (model(x).argmax(1) == y).sum()
    _ = correct.item()
    _sync(device)
    return time.perf_counter() - tic


def time_epoch(device: torch.device, tiny: bool, repeats: int) -> dict[str, Any]:
    from bench.perf.runner import compose_cell, plain_vs_runner
    from tasks.vision.cifar_format import write_synthetic_cifar

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        n_train = 64 if tiny else 50_000
        write_synthetic_cifar(data, "cifar10", n_train=n_train, n_test=32 if tiny else 10_000)
        plain, runner, record = plain_vs_runner(
            lambda i: compose_cell(_overrides(data, Path(tmp) / f"runs{i}", tiny, device.type == "cuda")),
            lambda cfg: plain_epoch(cfg, device), repeats)
        images = n_train - (16 if tiny else 5000)
        return {"images": images, "plain_s": plain, "runner_s": runner,
                "device": record.get("device"), "precision": record["config"]["trainer"].get("precision")}


# --- report -------------------------------------------------------------------------------

def render(device: torch.device, tiny: bool, tests: tuple[str, str], rows: list[dict[str, Any]],
           epoch: dict[str, Any] | str, wall: float) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    lines = [f"# GPU check{' (--tiny)' if tiny else ''}", "",
             f"{name}; torch {torch.__version__}; {wall:.0f} s in all.", "",
             f"## make test-gpu{' (collection only, --tiny)' if tiny else ''}: {tests[0]}", "", "```", tests[1], "```", "",
             "## Optimizer step vs Adam(fused=True)", "",
             f"{'a few small tensors' if tiny else 'ResNet-18 parameter shapes (11.7M parameters)'}; "
             "ratio = median over rounds of this step / the fused-Adam steps timed next to it.", "",
             "| optimizer | path | ms/step | vs fused Adam | note |", "|---|---|---:|---:|---|"]
    for r in rows:
        ms = f"{r['ms']:.3f}" if r["ms"] is not None else "-"
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
        lines.append(f"| {r['optimizer']} | {r['path']} | {ms} | {ratio} | {r['note']} |")
    lines += ["", "## ResNet-18, one CIFAR-shaped epoch (train + validation): runner vs plain loop", ""]
    if isinstance(epoch, str):
        lines.append(f"failed: {epoch}")
    else:
        lines += [f"{epoch['images']} training images (synthetic, real CIFAR-10 on-disk format), {epoch['device']}, "
                  f"precision {epoch['precision']}, channels_last, tensor data path; median of the timed rounds.", "",
                  "| plain s | runner s | throughput ratio plain/runner | runner images/s |", "|---:|---:|---:|---:|",
                  f"| {epoch['plain_s']:.2f} | {epoch['runner_s']:.2f} | {epoch['plain_s'] / epoch['runner_s']:.3f} "
                  f"| {epoch['images'] / epoch['runner_s']:.0f} |"]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perf gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes on whatever device is here (CPU test mode)")
    parser.add_argument("--out", default="runs/perf_gpu.md", help="markdown report path")
    parser.add_argument("--budget-s", type=float, default=420.0, help="stop timing optimizers after this many seconds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-tests", action="store_true", help="do not run pytest -m gpu")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    if not cuda and not args.tiny:
        print(NO_CUDA, file=sys.stderr)
        return 1
    start = time.monotonic()
    device = torch.device("cuda" if cuda else "cpu")
    tests = ("skipped (--skip-tests)", "") if args.skip_tests else run_gpu_tests(args.tiny, timeout_s=240)
    print(f"bench.perf gpu: tests {tests[0]} ({time.monotonic() - start:.0f} s)", file=sys.stderr)
    epoch_reserve = 20 if args.tiny else 120  # seconds kept for the epoch comparison
    rows = time_optimizers(device, args.tiny, start + args.budget_s - epoch_reserve,
                           steps=3 if args.tiny else 20, repeats=args.repeats)
    print(f"bench.perf gpu: {len(rows)} optimizer rows ({time.monotonic() - start:.0f} s)", file=sys.stderr)
    try:
        epoch: dict[str, Any] | str = time_epoch(device, args.tiny, repeats=1 if args.tiny else 2)
    except Exception as exc:  # noqa: BLE001 - the report says what failed
        epoch = f"{type(exc).__name__}: {exc}"[:500]
    report = render(device, args.tiny, tests, rows, epoch, time.monotonic() - start)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(f"bench.perf gpu: report written to {out}", file=sys.stderr)
    return 0 if tests[0] in ("passed", "skipped (--skip-tests)") and not isinstance(epoch, str) else 1
