"""Optimizer step time on a ResNet-18-sized parameter set, as ratios to torch Adam (foreach).

Every row gets its own copy of the 11.7M parameters of ``torchvision.models.resnet18()`` in
their real shapes (62 tensors), with fixed random gradients. Each row alternates with the
baseline (``--repeats`` rounds of ``--steps`` baseline steps then ``--steps`` row steps, after
``--warmup`` steps), and its ratio is taken against the baseline steps right next to it, so
load from other processes on a shared machine cancels out; ms/step is the median step.
State bytes/param counts the tensors in ``optimizer.state`` divided by the parameter count;
scratch bytes/param counts the reusable temporaries our per-tensor path keeps (not state).
Our rows use each optimizer's default path (``foreach=None``: multi-tensor on CUDA,
per-tensor on CPU); ``--both-paths`` times ``foreach=True`` and ``foreach=False`` instead.

    python -m bench.perf optimizers [--device cpu|cuda|all] [--steps 10] [--repeats 3]
                                    [--warmup 3] [--only padam,rame] [--both-paths]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

import optimizers

BASELINE = "torch Adam (foreach)"

# Constructor kwargs used for our optimizers in the benchmark (defaults otherwise).
OUR_KWARGS: dict[str, dict] = {
    "rame": {"lr": 1e-3},
    "padam": {"lr": 0.1},
    "adamomentum": {"lr": 1e-3},
    "adarem": {"lr": 0.1},
    "adarems": {"lr": 0.1},
    "adal": {"lr": 1e-3},
    "yogi": {"lr": 1e-3},
    "adabound": {"lr": 1e-3},
    "amsbound": {"lr": 1e-3, "amsbound": True},
    "adabelief": {"lr": 1e-3},
    "nosadam": {"lr": 1e-3},
}
# Optimizers whose step has a per-tensor reduction (not purely element-wise).
REDUCTION = {"adarem", "adarems", "adal"}


@dataclass
class Row:
    name: str
    build: Callable[[list[torch.Tensor]], torch.optim.Optimizer]
    note: str = ""
    optimizer: torch.optim.Optimizer | None = None
    times: list[float] = field(default_factory=list)
    error: str | None = None


def resnet18_shapes() -> list[torch.Size]:
    import torchvision

    return [p.shape for p in torchvision.models.resnet18().parameters()]


def _quiet(factory: Callable[[list[torch.Tensor]], torch.optim.Optimizer]):
    def build(params: list[torch.Tensor]) -> torch.optim.Optimizer:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return factory(params)

    return build


def reference_rows(device: torch.device) -> list[Row]:
    rows = [
        Row(BASELINE, lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True)),
        Row("torch Adam (per-tensor)", lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=False)),
        Row("torch Adam (fused)", lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True)),
        Row("torch SGD momentum (foreach)", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, foreach=True)),
        Row("torch AMSGrad (foreach)", lambda ps: torch.optim.Adam(ps, lr=1e-3, amsgrad=True, foreach=True)),
    ]
    packages: list[tuple[str, str, Callable]] = [
        ("pkg torch_optimizer.Yogi", "torch_optimizer", lambda m: lambda ps: m.Yogi(ps, lr=1e-3)),
        ("pkg adabound.AdaBound", "adabound", lambda m: lambda ps: m.AdaBound(ps, lr=1e-3)),
        (
            "pkg adabelief_pytorch.AdaBelief",
            "adabelief_pytorch",
            lambda m: lambda ps: m.AdaBelief(ps, lr=1e-3, print_change_log=False),
        ),
    ]
    for label, module, make in packages:
        try:
            mod = __import__(module)
        except Exception as exc:  # pragma: no cover - depends on the environment
            rows.append(Row(label, lambda ps: None, error=f"import failed: {exc}"))
            continue
        rows.append(Row(label, _quiet(make(mod)), note="reference package, per-tensor loop"))
    return rows


def our_rows(names: list[str], both_paths: bool) -> list[Row]:
    rows = []
    for name in names:
        cls = optimizers.REGISTRY["adabound" if name == "amsbound" else name]
        kwargs = OUR_KWARGS.get(name, {})
        note = "per-tensor reduction" if name in REDUCTION else "element-wise"
        if both_paths:
            for foreach, label in ((True, "foreach"), (False, "per-tensor")):
                build = lambda ps, c=cls, k=kwargs, f=foreach: c(ps, foreach=f, **k)  # noqa: E731
                rows.append(Row(f"{name} ({label})", build, note=note))
        else:
            rows.append(Row(name, lambda ps, c=cls, k=kwargs: c(ps, **k), note=note))
    return rows


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _make_params(shapes: list[torch.Size], grads: list[torch.Tensor]) -> list[torch.Tensor]:
    params = []
    generator = torch.Generator().manual_seed(1)
    for shape, grad in zip(shapes, grads):
        p = torch.nn.Parameter((0.05 * torch.randn(shape, generator=generator)).to(grad.device))
        p.grad = grad
        params.append(p)
    return params


def state_bytes_per_param(optimizer: torch.optim.Optimizer, numel: int) -> float:
    total = 0
    for state in optimizer.state.values():
        for value in state.values():
            if isinstance(value, torch.Tensor):
                total += value.numel() * value.element_size()
    return total / numel


def scratch_bytes_per_param(optimizer: torch.optim.Optimizer, numel: int) -> float:
    buffers = getattr(optimizer, "_scratch_buffers", {})
    return sum(b.numel() * b.element_size() for b in buffers.values()) / numel


def _time_steps(optimizer: torch.optim.Optimizer, steps: int, device: torch.device) -> list[float]:
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(steps):
            _sync(device)
            start = time.perf_counter()
            optimizer.step()
            _sync(device)
            times.append(time.perf_counter() - start)
    return times


def _prepare(row: Row, params: list[torch.Tensor], warmup: int, device: torch.device) -> bool:
    try:
        row.optimizer = row.build(params)
        if row.optimizer is None:
            raise RuntimeError("not available")
        if isinstance(row.optimizer, optimizers.AdaRem):
            row.optimizer.set_epoch(1)
        _time_steps(row.optimizer, warmup, device)
        return True
    except Exception as exc:  # a reference package that breaks on this torch/device
        row.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:80]
        row.optimizer = None
        return False


def run_device(device: torch.device, rows: list[Row], steps: int, warmup: int, repeats: int) -> None:
    """Time every row against the baseline measured right next to it.

    For each row: ``repeats`` rounds of (``steps`` baseline steps, ``steps`` row steps); the
    ratio is the median over rounds of median(row)/median(adjacent baseline), so load from
    other processes on a shared machine cancels out. One row is alive at a time (plus the
    baseline), which keeps memory at ~4 parameter copies.
    """
    shapes = resnet18_shapes()
    numel = sum(s.numel() for s in shapes)
    generator = torch.Generator().manual_seed(0)
    grads = [(1e-2 * torch.randn(s, generator=generator)).to(device) for s in shapes]
    base = next(r for r in rows if r.name == BASELINE)
    if not _prepare(base, _make_params(shapes, grads), warmup, device):
        raise RuntimeError(f"baseline failed: {base.error}")
    threads = torch.get_num_threads() if device.type == "cpu" else None
    where = f"{device.type}" + (f" ({threads} threads)" if threads else f" ({torch.cuda.get_device_name(device)})")
    print(
        f"\n{where}: torch {torch.__version__}, {numel:,} params in {len(shapes)} tensors (resnet18 shapes); "
        f"per row {repeats} rounds of {steps} baseline + {steps} row steps after {warmup} warm-up"
    )
    print(
        f"| {'optimizer':32s} | {'ms/step':>8s} | {'vs Adam-foreach':>15s} | {'state B/param':>13s} "
        f"| {'scratch B/param':>15s} | note |"
    )
    print("|" + "-" * 34 + "|" + "-" * 10 + "|" + "-" * 17 + "|" + "-" * 15 + "|" + "-" * 17 + "|------|")
    all_base_times: list[float] = []
    for row in rows:
        if row is base:
            continue
        if row.error is None and _prepare(row, _make_params(shapes, grads), warmup, device):
            ratios = []
            for _ in range(repeats):
                base_times = _time_steps(base.optimizer, steps, device)
                row_times = _time_steps(row.optimizer, steps, device)
                all_base_times += base_times
                row.times += row_times
                ratios.append(statistics.median(row_times) / statistics.median(base_times))
            ms = 1e3 * statistics.median(row.times)
            state = state_bytes_per_param(row.optimizer, numel)
            scratch = scratch_bytes_per_param(row.optimizer, numel)
            line = f"| {row.name:32s} | {ms:8.2f} | {statistics.median(ratios):14.2f}x | {state:13.1f} | {scratch:15.2f}"
            print(f"{line} | {row.note} |", flush=True)
        else:
            print(f"| {row.name:32s} | {'-':>8s} | {'-':>15s} | {'-':>13s} | {'-':>15s} | skipped: {row.error} |")
        row.optimizer = None
        row.times = []
    base_ms = 1e3 * statistics.median(all_base_times) if all_base_times else float("nan")
    state = state_bytes_per_param(base.optimizer, numel)
    print(f"| {BASELINE:32s} | {base_ms:8.2f} | {1.0:14.2f}x | {state:13.1f} | {0.0:15.2f} | baseline, all rounds |")
    base.optimizer = None


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.perf optimizers", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="all", help="cpu, cuda or all (cpu, plus cuda when present)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per row per round")
    parser.add_argument("--repeats", type=int, default=3, help="round-robin rounds")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per row first")
    parser.add_argument("--only", default="", help="comma-separated names of our optimizers (default: all)")
    parser.add_argument("--both-paths", action="store_true", help="time foreach=True and foreach=False for ours")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(OUR_KWARGS)
    unknown = [n for n in names if n not in OUR_KWARGS]
    if unknown:
        parser.error(f"unknown optimizer(s) {unknown}; choose from {sorted(OUR_KWARGS)}")
    if args.device == "all":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    elif args.device in ("cpu", "cuda"):
        if args.device == "cuda" and not torch.cuda.is_available():
            parser.error("--device cuda: no CUDA device available")
        devices = [args.device]
    else:
        parser.error(f"--device must be cpu, cuda or all, not {args.device!r}")
    for device in devices:
        rows = reference_rows(torch.device(device)) + our_rows(names, args.both_paths)
        run_device(torch.device(device), rows, args.steps, args.warmup, args.repeats)
