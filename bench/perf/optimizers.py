"""Optimizer step time on a ResNet-18-sized parameter set, as ratios to torch's Adam.

Every row gets its own copy of the 11.7M parameters of ``torchvision.models.resnet18()`` in
their real shapes (62 tensors), with fixed random gradients. For each thread count, each row
is timed in ``--repeats`` rounds of (``--steps`` steps of ``Adam(foreach=True)``, ``--steps``
steps of ``Adam(fused=True)``, ``--steps`` steps of the row), after ``--warmup`` steps; its
ratios are the median over rounds of median(row) / median(adjacent baseline), so load from
other processes on a shared machine cancels out of the ratio as far as it can.

Modes: ``eager`` is each optimizer's default path (``foreach=None``: per-tensor on CPU,
multi-tensor on CUDA); ``compiled`` is ours with ``compile=True`` and, for the
``pytorch-optimizer`` peers, that package's own ``create_optimizer(..., compile=True)``. The
first step of a compiled row is its compile time (``compile s``; the inductor cache on disk
makes repeated runs faster); inductor's one-time start-up is timed first and printed apart.
Peers run the same algorithm as the row they are compared with (``same as``);
``--both-paths`` adds our ``foreach=True`` and ``foreach=False`` rows.

    python -m bench.perf optimizers [--threads 1,2] [--modes eager,compiled] [--device cpu|cuda|all]
                                    [--steps 6] [--repeats 3] [--warmup 3] [--only padam,rame]
                                    [--no-peers] [--no-reference] [--both-paths]
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

# Constructor kwargs used for our optimizers in the benchmark (defaults otherwise).
OUR_KWARGS: dict[str, dict] = {
    "rame": {"lr": 1e-3},
    "padam": {"lr": 0.1},
    "padam-noams": {"lr": 0.1, "amsgrad": False},
    "adamomentum": {"lr": 1e-3},
    "adarem": {"lr": 0.1},
    "adarems": {"lr": 0.1},
    "adal": {"lr": 1e-3},
    "yogi": {"lr": 1e-3},
    "adabound": {"lr": 1e-3},
    "amsbound": {"lr": 1e-3, "amsbound": True},
    "adabelief": {"lr": 1e-3},
    "nosadam": {"lr": 1e-3},
    "shb": {"lr": 0.1},
}
CLASS_OF = {"amsbound": "adabound", "padam-noams": "padam"}
# Optimizers whose step has a per-tensor reduction (not purely element-wise).
REDUCTION = {"adarem", "adarems", "adal"}
MODES = ("eager", "compiled")
COMPILE_S_TARGET = 30.0  # seconds for a compiled row's first step (issue 17)


@dataclass
class Row:
    name: str
    build: Callable[[list[torch.Tensor]], torch.optim.Optimizer]
    mode: str = "eager"
    note: str = ""
    same_as: str = ""  # for a peer: the name of our row with the same algorithm
    error: str | None = None
    compile_s: float | None = None
    ratios: dict[int, tuple[float, float, float]] = field(default_factory=dict)  # threads -> (ms, ×fused, ×foreach)


def resnet18_shapes() -> list[torch.Size]:
    import torchvision

    return [p.shape for p in torchvision.models.resnet18().parameters()]


def _quiet(factory: Callable[[list[torch.Tensor]], torch.optim.Optimizer]):
    def build(params: list[torch.Tensor]) -> torch.optim.Optimizer:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return factory(params)

    return build


def _adam_foreach(ps: list[torch.Tensor]) -> torch.optim.Optimizer:
    return torch.optim.Adam(ps, lr=1e-3, foreach=True)


def _adam_fused(ps: list[torch.Tensor]) -> torch.optim.Optimizer:
    return torch.optim.Adam(ps, lr=1e-3, fused=True)


def reference_rows() -> list[Row]:
    return [
        Row("torch Adam (per-tensor)", lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=False)),
        Row("torch SGD momentum (foreach)", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, foreach=True)),
        Row("torch AMSGrad (foreach)", lambda ps: torch.optim.Adam(ps, lr=1e-3, amsgrad=True, foreach=True)),
    ]


def _pytorch_optimizer_row(label: str, name: str, kwargs: dict, same_as: str, mode: str) -> Row:
    def build(ps: list[torch.Tensor]) -> torch.optim.Optimizer:
        from pytorch_optimizer import create_optimizer

        return create_optimizer(torch.nn.ParameterList(ps), name, compile=mode == "compiled", **kwargs)

    return Row(f"pytorch_optimizer.{label}", _quiet(build), mode=mode, same_as=same_as, note="peer")


def peer_rows(modes: list[str]) -> list[Row]:
    rows = []
    specs = [  # (label, create_optimizer name, kwargs matching our row, our row)
        ("PAdam", "padam", {"lr": 0.1, "partial": 0.125}, "padam-noams"),
        ("Yogi", "yogi", {"lr": 1e-3}, "yogi"),
        ("AdaBound", "adabound", {"lr": 1e-3}, "adabound"),
        ("AdaBelief", "adabelief", {"lr": 1e-3, "rectify": True}, "adabelief"),
    ]
    try:
        import pytorch_optimizer  # noqa: F401

        for mode in modes:
            rows += [_pytorch_optimizer_row(label, name, kw, same, mode) for label, name, kw, same in specs]
    except Exception as exc:  # pragma: no cover - depends on the environment
        rows.append(Row("pytorch_optimizer", lambda ps: None, error=f"import failed: {exc}"))
    if "eager" in modes:
        packages: list[tuple[str, str, Callable, str]] = [
            ("torch_optimizer.Yogi", "torch_optimizer", lambda m: lambda ps: m.Yogi(ps, lr=1e-3), "yogi"),
            ("adabound.AdaBound", "adabound", lambda m: lambda ps: m.AdaBound(ps, lr=1e-3), "adabound"),
            (
                "adabelief_pytorch.AdaBelief",
                "adabelief_pytorch",
                lambda m: lambda ps: m.AdaBelief(ps, lr=1e-3, print_change_log=False),
                "adabelief",
            ),
        ]
        for label, module, make, same in packages:
            try:
                mod = __import__(module)
            except Exception as exc:  # pragma: no cover - depends on the environment
                rows.append(Row(label, lambda ps: None, error=f"import failed: {exc}"))
                continue
            rows.append(Row(label, _quiet(make(mod)), same_as=same, note="peer, per-tensor loop"))
    return rows


def our_rows(names: list[str], modes: list[str], both_paths: bool) -> list[Row]:
    rows = []
    for mode in modes:
        for name in names:
            cls = optimizers.REGISTRY[CLASS_OF.get(name, name)]
            kwargs = OUR_KWARGS[name]
            note = "per-tensor reduction" if name in REDUCTION else "element-wise"
            if mode == "compiled":
                rows.append(Row(name, lambda ps, c=cls, k=kwargs: c(ps, compile=True, **k), mode, note))
            elif both_paths:
                for foreach, label in ((True, "foreach"), (False, "per-tensor")):
                    build = lambda ps, c=cls, k=kwargs, f=foreach: c(ps, foreach=f, **k)  # noqa: E731
                    rows.append(Row(f"{name} ({label})", build, mode, note))
            else:
                rows.append(Row(name, lambda ps, c=cls, k=kwargs: c(ps, **k), mode, note))
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


def inductor_startup_s(device: torch.device) -> float:
    """Seconds to compile and run a one-line function: what a process pays once before its first
    compiled graph (inductor's imports, the C++ toolchain probe, its compile workers), which
    would otherwise land on whichever compiled row happens to come first."""
    start = time.perf_counter()
    torch.compile(lambda x: x * 2 + 1, fullgraph=True)(torch.ones(8, device=device))
    _sync(device)
    return time.perf_counter() - start


def _build(row: Row, params: list[torch.Tensor], warmup: int, device: torch.device) -> torch.optim.Optimizer | None:
    try:
        optimizer = row.build(params)
        if optimizer is None:
            raise RuntimeError("not available")
        if isinstance(optimizer, optimizers.AdaRem):
            optimizer.set_epoch(1)
        first = _time_steps(optimizer, 1, device)[0]
        if row.mode == "compiled":
            row.compile_s = first
        _time_steps(optimizer, max(warmup - 1, 0), device)
        return optimizer
    except Exception as exc:  # a peer that breaks on this torch/device
        row.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:80]
        return None


def run_device(device: torch.device, rows: list[Row], threads: list[int], steps: int, warmup: int, repeats: int) -> None:
    """Time every row against both baselines measured right next to it, at each thread count.

    One row is alive at a time (plus the two baselines), which keeps memory at ~6 parameter
    copies; a compiled row compiles once and is timed at every thread count.
    """
    shapes = resnet18_shapes()
    numel = sum(s.numel() for s in shapes)
    generator = torch.Generator().manual_seed(0)
    grads = [(1e-2 * torch.randn(s, generator=generator)).to(device) for s in shapes]
    foreach = _adam_foreach(_make_params(shapes, grads))
    fused = _adam_fused(_make_params(shapes, grads))
    _time_steps(foreach, warmup, device)
    _time_steps(fused, warmup, device)
    if device.type != "cpu":
        threads = [torch.get_num_threads()]
    name = "cpu" if device.type == "cpu" else torch.cuda.get_device_name(device)
    print(
        f"\n{name}: torch {torch.__version__}, {numel:,} params in {len(shapes)} tensors (resnet18 shapes); "
        f"per row and thread count {repeats} rounds of {steps} Adam-foreach + {steps} Adam-fused + {steps} row "
        f"steps after {warmup} warm-up",
        flush=True,
    )
    if any(row.mode == "compiled" for row in rows):
        print(f"inductor start-up (once a process, in no row's compile s): {inductor_startup_s(device):.1f} s", flush=True)
    base_ms: dict[int, list[float]] = {t: [] for t in threads}
    fused_ms: dict[int, list[float]] = {t: [] for t in threads}
    for row in rows:
        optimizer = None if row.error else _build(row, _make_params(shapes, grads), warmup, device)
        if optimizer is not None:
            for t in threads:
                torch.set_num_threads(t)
                _time_steps(optimizer, 1, device)
                to_fused, to_foreach, row_times = [], [], []
                for _ in range(repeats):
                    a = _time_steps(foreach, steps, device)
                    b = _time_steps(fused, steps, device)
                    c = _time_steps(optimizer, steps, device)
                    base_ms[t] += a
                    fused_ms[t] += b
                    row_times += c
                    to_foreach.append(statistics.median(c) / statistics.median(a))
                    to_fused.append(statistics.median(c) / statistics.median(b))
                row.ratios[t] = (1e3 * statistics.median(row_times), statistics.median(to_fused), statistics.median(to_foreach))
        print(_line(row, threads), flush=True)
        optimizer = None
    print(f"baseline ms/step: " + ", ".join(
        f"{t} thread(s): Adam-foreach {1e3 * statistics.median(base_ms[t]):.1f}, Adam-fused {1e3 * statistics.median(fused_ms[t]):.1f}"
        for t in threads if base_ms[t]
    ))
    print(_header(threads))
    for row in rows:
        print(_line(row, threads))
    _verdicts(rows, threads)


def _header(threads: list[int]) -> str:
    cols = "".join(f" {t}t ms | {t}t ×fused | {t}t ×foreach |" for t in threads)
    line = "| optimizer | mode |" + cols + " compile s | same as | note |"
    return line + "\n|" + "---|" * (line.count("|") - 1)


def _line(row: Row, threads: list[int]) -> str:
    cells = []
    for t in threads:
        if t in row.ratios:
            ms, f, fe = row.ratios[t]
            cells += [f"{ms:.1f}", f"{f:.2f}×", f"{fe:.2f}×"]
        else:
            cells += ["-", "-", "-"]
    compile_s = f"{row.compile_s:.0f}" if row.compile_s is not None else ""
    note = row.note if row.error is None else f"skipped: {row.error}"
    return f"| {row.name} | {row.mode} | " + " | ".join(cells) + f" | {compile_s} | {row.same_as} | {note} |"


def _verdicts(rows: list[Row], threads: list[int]) -> None:
    """Print the targets: eager <= 1.0x Adam-foreach; compiled <= 1.5x (2.0x with a reduction) fused Adam
    and its first step (the compile; inductor's disk cache shortens reruns) <= COMPILE_S_TARGET;
    ours faster than each peer's same algorithm in the same mode."""
    ours = {(r.name, r.mode): r for r in rows if r.note in ("element-wise", "per-tensor reduction")}
    misses = []
    for (name, mode), r in ours.items():
        for t, (_, f, fe) in r.ratios.items():
            if mode == "eager" and fe > 1.0:
                misses.append(f"{name} eager {t}t: {fe:.2f}× Adam-foreach > 1.0×")
            limit = 2.0 if name in REDUCTION else 1.5
            if mode == "compiled" and f > limit:
                misses.append(f"{name} compiled {t}t: {f:.2f}× fused Adam > {limit}×")
        if mode == "compiled" and r.compile_s is not None and r.compile_s > COMPILE_S_TARGET:
            misses.append(f"{name} compiled: first step {r.compile_s:.0f} s > {COMPILE_S_TARGET:.0f} s")
    for peer in rows:
        mine = ours.get((peer.same_as, peer.mode))
        if not peer.same_as or mine is None:
            continue
        for t, (_, f, _) in peer.ratios.items():
            if t in mine.ratios and mine.ratios[t][1] >= f:
                misses.append(f"{peer.name} {peer.mode} {t}t ({f:.2f}×) is not slower than {mine.name} ({mine.ratios[t][1]:.2f}×)")
    print("targets: " + ("all met" if not misses else "MISSED: " + "; ".join(misses)))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.perf optimizers", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="all", help="cpu, cuda or all (cpu, plus cuda when present)")
    parser.add_argument("--threads", default="", help="comma-separated intra-op thread counts (CPU), e.g. 1,2")
    parser.add_argument("--modes", default="eager,compiled", help="eager, compiled or both (comma-separated)")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per row per round")
    parser.add_argument("--repeats", type=int, default=3, help="round-robin rounds")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per row first (the first compiles)")
    parser.add_argument("--only", default="", help="comma-separated names of our optimizers (default: all)")
    parser.add_argument("--no-peers", action="store_true", help="skip the peer packages")
    parser.add_argument("--no-reference", action="store_true", help="skip torch's other reference rows")
    parser.add_argument("--both-paths", action="store_true", help="time foreach=True and foreach=False for ours")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(OUR_KWARGS)
    unknown = [n for n in names if n not in OUR_KWARGS]
    if unknown:
        parser.error(f"unknown optimizer(s) {unknown}; choose from {sorted(OUR_KWARGS)}")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes):
        parser.error(f"--modes must name some of {', '.join(MODES)}, not {args.modes!r}")
    try:
        threads = [int(t) for t in args.threads.split(",") if t.strip()] or [torch.get_num_threads()]
    except ValueError:
        parser.error(f"--threads must be comma-separated integers >= 1, not {args.threads!r}")
    if any(t < 1 for t in threads):
        parser.error(f"--threads must be comma-separated integers >= 1, not {args.threads!r}")
    if args.device == "all":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    elif args.device in ("cpu", "cuda"):
        if args.device == "cuda" and not torch.cuda.is_available():
            parser.error("--device cuda: no CUDA device available")
        devices = [args.device]
    else:
        parser.error(f"--device must be cpu, cuda or all, not {args.device!r}")
    for device in devices:
        rows = [] if args.no_reference or "eager" not in modes else reference_rows()
        peers = [] if args.no_peers else peer_rows(modes)
        for row in our_rows(names, modes, args.both_paths):  # each peer right after the row it faces
            rows.append(row)
            rows += [p for p in peers if p.same_as == row.name and p.mode == row.mode]
        rows += [p for p in peers if p not in rows]
        run_device(torch.device(device), rows, threads, args.steps, args.warmup, args.repeats)
