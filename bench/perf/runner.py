"""Runner overhead: the Lightning cell runner vs a plain PyTorch loop doing the same work.

Both sides build the same model, data and optimizer from the same finalized config and
train the same epochs with a validation and test pass after each; the runner also writes
its record and ``last.ckpt`` (that is part of what it costs). The cell is planned first and
untimed, as ``python -m bench`` plans every cell before any job starts (the runner times
``run_cell`` on the plan entry, a job's work). Runs alternate in one process and the median
of ``--repeats`` is reported as throughput ratio ``plain_time / runner_time`` (1.0 = no
overhead).

    python -m bench.perf runner [--repeats 3] [--epochs 5] [--workload digits|conv|all]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from bench.cell import optimizer_factory, run_cell, scheduler_factory
from bench.config import DATASET_METADATA_KEYS, build
from bench.plan import CONF_DIR, planned_entry
from bench.threads import cell_step_flops, configure_threads

WORKLOADS = {
    "digits": ["model=mlp", "dataset=digits", "optimizer=adam", "lr=0.001"],
    "conv": ["model=convnet", "dataset=synthetic", "dataset.batch_size=128", "optimizer=sgd", "lr=0.05"],
}


def compose_cell(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def plain_loop(cfg: DictConfig) -> float:
    """Train the finalized cell ``cfg`` with a hand-written loop; return wall seconds."""
    tic = time.perf_counter()
    configure_threads(cell_step_flops(cfg))  # the thread count run_cell picks for this cell (bench.threads)
    torch.manual_seed(int(cfg.seed))
    data = build(cfg.dataset, DATASET_METADATA_KEYS)
    data.setup("fit")
    data.steps_per_call = 1  # packing saves Lightning's per-batch hooks; a plain loop has none
    model = build(cfg.model)
    optimizer = optimizer_factory(cfg)(model.parameters())
    scheduler = scheduler_factory(cfg)(optimizer)["scheduler"]
    train, evals = data.split_loader("train"), [data.split_loader("val"), data.split_loader("test")]
    for epoch in range(int(cfg.epochs)):
        model.train()
        train.sampler.set_epoch(epoch)
        loss_sum = torch.zeros((), dtype=torch.float64)
        for x, y in train:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach().double() * y.shape[0]
        scheduler.step()
        model.eval()
        with torch.no_grad():  # the same metrics the runner records: loss and accuracy
            for loader in evals:
                stats = torch.zeros(3, dtype=torch.float64)
                for x, y in loader:
                    logits = model(x)
                    stats[0] += F.cross_entropy(logits, y, reduction="sum").double()
                    stats[1] += y.shape[0]
                    stats[2] += (logits.argmax(1) == y).sum()
                _ = (stats[0] / stats[1]).item(), (stats[2] / stats[1]).item()
        if not torch.isfinite(loss_sum):
            break
    return time.perf_counter() - tic


def plain_vs_runner(compose_round: Callable[[int], DictConfig], plain: Callable[[DictConfig], float],
                    repeats: int) -> tuple[float, float, dict[str, Any]]:
    """(median plain seconds, median runner seconds, the last runner record): ``repeats``
    rounds of the plain loop, given the finalized config, then :func:`bench.cell.run_cell`
    on the plan entry of the cell ``compose_round(i)`` describes (each round with its own
    runs directory; planning is not timed), after one warm-up round that is dropped (caches,
    cuDNN autotuning, the allocator). Objects alive at the start are frozen out of the cyclic
    collector, as in a sweep job, and each side starts after a collection. A runner cell that
    does not end ``ok`` raises ``RuntimeError`` with the end of its error: its time would mean
    nothing."""
    plain_t, runner_t = [], []
    gc.collect()
    gc.freeze()  # as a sweep job does after its imports (bench.__main__): collections scan only what cells made
    for i in range(repeats + 1):
        entry = planned_entry(compose_round(i))
        cfg = OmegaConf.create(entry["config"])
        gc.collect()  # neither side pays for collecting the other's garbage
        p = plain(cfg)
        gc.collect()
        tic = time.perf_counter()
        record = run_cell(cfg, planned=entry)
        r = time.perf_counter() - tic
        if record.get("status") != "ok":
            raise RuntimeError(f"runner cell ended {record.get('status')}: {str(record.get('error'))[-300:]}")
        if i:
            plain_t.append(p)
            runner_t.append(r)
    return statistics.median(plain_t), statistics.median(runner_t), record


def measure(name: str, epochs: int, repeats: int) -> tuple[float, float]:
    """(median plain seconds, median runner seconds) for one workload."""
    with tempfile.TemporaryDirectory() as tmp:
        plain, runner, _ = plain_vs_runner(
            lambda i: compose_cell([*WORKLOADS[name], f"epochs={epochs}", f"paths.runs={tmp}/{i}", "logger=csv", "seed=0"]),
            plain_loop, repeats)
    return plain, runner


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.perf runner", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    args = parser.parse_args(argv)
    names = list(WORKLOADS) if args.workload == "all" else [args.workload]
    print(f"torch {torch.__version__}, threads per bench.threads (shown per workload), {args.epochs} epochs, "
          f"median of {args.repeats}")
    print(f"{'workload':<10} {'plain s':>9} {'runner s':>9} {'throughput ratio':>17}")
    for name in names:
        plain, run = measure(name, args.epochs, args.repeats)
        print(f"{name:<10} {plain:>9.3f} {run:>9.3f} {plain / run:>17.3f}   ({torch.get_num_threads()} threads)")
