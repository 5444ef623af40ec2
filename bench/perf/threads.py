"""Where more intra-op threads start to pay: train-step time at 1 thread vs N threads.

For models from tiny (the digits MLP) to a small conv net, times forward + backward + an
Adam step at 1 thread and at ``--threads`` (default: every core), interleaved in one
process, and prints the step's FLOPs (``bench.threads.step_flops``: 3x the forward FLOPs
counted on the meta device) beside the speed-up ``t(1) / t(N)``. ``bench.threads``
gives a cell one thread when its step is below ``SMALL_STEP_FLOPS``, the figure read off
this table.

    python -m bench.perf threads [--threads 2] [--steps 30] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from bench.threads import SMALL_STEP_FLOPS, available_cores, step_flops
from tasks.models import MLP, ConvNet

# (label, model builder, input shape without the batch dim, batch size)
CASES = [
    ("mlp 64-128-128-10 (digits)", lambda: MLP([64], 10, [128, 128]), (64,), 64),
    ("mlp 64-512-512-10", lambda: MLP([64], 10, [512, 512]), (64,), 64),
    ("mlp 784-1024-1024-10", lambda: MLP([784], 10, [1024, 1024]), (784,), 64),
    ("mlp 784-1024-1024-10", lambda: MLP([784], 10, [1024, 1024]), (784,), 256),
    ("mlp 3072-2048-2048-10", lambda: MLP([3072], 10, [2048, 2048]), (3072,), 128),
    ("convnet w8 32x32", lambda: ConvNet([3, 32, 32], 10, width=8), (3, 32, 32), 32),
    ("convnet w32 32x32", lambda: ConvNet([3, 32, 32], 10), (3, 32, 32), 32),
    ("convnet w32 32x32", lambda: ConvNet([3, 32, 32], 10), (3, 32, 32), 128),
]


def _steps(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, n: int) -> float:
    tic = time.perf_counter()
    for _ in range(n):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - tic) / n


def measure(build, shape: tuple[int, ...], batch: int, threads: int, steps: int, repeats: int) -> tuple[float, float]:
    """Median seconds per step at 1 thread and at ``threads``, alternating rounds."""
    torch.manual_seed(0)
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(batch, *shape), torch.randint(0, 10, (batch,))
    times: dict[int, list[float]] = {1: [], threads: []}
    for rnd in range(repeats + 1):
        for n in (1, threads) if rnd % 2 else (threads, 1):
            torch.set_num_threads(n)
            t = _steps(model, opt, x, y, steps)
            if rnd:  # the first round warms allocator and caches
                times[n].append(t)
    return statistics.median(times[1]), statistics.median(times[threads])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perf threads", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=available_cores())
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    before = torch.get_num_threads()
    print(f"torch {torch.__version__}; 1 vs {args.threads} threads; median of {args.repeats} rounds of {args.steps} steps; "
          f"threshold SMALL_STEP_FLOPS = {SMALL_STEP_FLOPS:.0e}")
    print(f"{'model':<28} {'batch':>5} {'step MFLOP':>11} {'ms (1 thr)':>10} {f'ms ({args.threads} thr)':>10} {'speed-up':>9}")
    try:
        for label, build, shape, batch in CASES:
            with torch.device("meta"):
                flops = step_flops(build(), torch.zeros(batch, *shape))
            t1, tn = measure(build, shape, batch, args.threads, args.steps, args.repeats)
            print(f"{label:<28} {batch:>5} {flops / 1e6:>11.1f} {t1 * 1e3:>10.2f} {tn * 1e3:>10.2f} {t1 / tn:>8.2f}x")
    finally:
        torch.set_num_threads(before)
    return 0
