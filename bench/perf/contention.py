"""A quickstart-sized sweep on a quiet machine vs beside busy neighbours this benchmark starts.

Neighbours, each occupying every core: ``torch`` (one process multiplying 1024x1024 matrices
at torch's default threads, one per core) and ``loops`` (one Python busy loop per core). The
sweep is ``python -m bench experiment=quickstart hydra/launcher=joblib`` restricted to a few
optimizers (``--optimizers``), run as a fresh process, so start-up and worker imports are in
the figure. Conditions alternate (quiet, torch, loops, quiet, ...) and each ratio is the median
over rounds of the sweep's wall time beside the neighbour / the quiet run next to it.

    python -m bench.perf contention [--optimizers adam,sgd,rame] [--rounds 2] [--epochs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.threads import available_cores

REPO = Path(__file__).resolve().parents[2]
TORCH_JOB = "import torch\na = torch.randn(1024, 1024)\nwhile True:\n    a @ a\n"
BUSY_LOOP = "while True:\n    pass\n"


def start_neighbours(kind: str) -> list[subprocess.Popen]:
    """The busy processes of ``kind`` (``quiet``: none). Their environment has no thread limits."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPTBENCH_THREADS", "MKL_NUM_THREADS")}
    if kind == "quiet":
        return []
    code, count = (TORCH_JOB, 1) if kind == "torch" else (BUSY_LOOP, available_cores())
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(count)]
    time.sleep(2.0 if kind == "torch" else 0.2)  # torch's import, so the neighbour is busy when the sweep starts
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.kill()
    for proc in procs:
        proc.wait()


def sweep_seconds(optimizers: list[str], epochs: int, runs: Path) -> float:
    cmd = [sys.executable, "-m", "bench", "experiment=quickstart", "hydra/launcher=joblib",
           f"sweep.optimizer=[{','.join(optimizers)}]", f"epochs={epochs}", f"paths.runs={runs}"]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPTBENCH_THREADS")}
    tic = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - tic
    if done.returncode != 0:
        raise RuntimeError(f"sweep failed ({done.returncode}): {done.stderr[-1500:]}")
    return elapsed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perf contention", description=__doc__.splitlines()[0])
    parser.add_argument("--optimizers", default="adam,sgd,rame")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    optimizers = [o.strip() for o in args.optimizers.split(",") if o.strip()]
    kinds = ("quiet", "torch", "loops")
    times: dict[str, list[float]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(args.rounds):
            for kind in kinds:
                procs = start_neighbours(kind)
                try:
                    times[kind].append(sweep_seconds(optimizers, args.epochs, Path(tmp) / f"{rnd}_{kind}"))
                finally:
                    stop(procs)
                print(f"round {rnd}: {kind:<5} {times[kind][-1]:6.1f} s", file=sys.stderr, flush=True)
    print(f"sweep: quickstart x {optimizers} ({args.epochs} epochs), {available_cores()} cores, "
          f"median of {args.rounds} alternating rounds")
    print(f"{'neighbour':<34} {'sweep s':>8} {'vs quiet':>9}")
    print(f"{'none (quiet)':<34} {statistics.median(times['quiet']):>8.1f} {1.0:>8.2f}x")
    labels = {"torch": "torch matmul job, default threads", "loops": f"{available_cores()} Python busy loops"}
    for kind in ("torch", "loops"):
        ratio = statistics.median(t / q for t, q in zip(times[kind], times["quiet"]))
        print(f"{labels[kind]:<34} {statistics.median(times[kind]):>8.1f} {ratio:>8.2f}x")
    return 0
