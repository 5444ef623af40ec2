"""Training throughput of the cell runner vs a plain PyTorch truncated-BPTT loop (tokens/s).

Both sides train the same model on the same PTB-format corpus with the same optimizer,
windows, gradient clipping and evaluation (validation at batch 10, test at batch 1, each
epoch); the runner also writes its record and ``last.ckpt`` (part of what it costs). Runs
alternate in one process; the medians of ``--repeats`` are printed with their ratio
(runner / plain; 1.0 = no overhead), by wall clock and by this process's CPU time (the fairer
figure on a machine other jobs share: it does not count time the process waited for a core). With no ``--data`` a synthetic corpus in the PTB
layout is written to a temporary folder (10k-word vocabulary, Zipf-distributed words).

    python -m tasks.lm.perf [--repeats 3] [--epochs 1] [--model lstm_small] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from bench.cell import optimizer_factory, run_cell
from bench.config import DATASET_METADATA_KEYS, build, finalize
from bench.plan import CONF_DIR
from tasks.lm.models import detach_state


def write_synthetic_ptb(root: Path, train_tokens: int, vocab: int = 10_000, seed: int = 0) -> int:
    """``root/ptb.{train,valid,test}.txt`` of Zipf-distributed words; returns the vocabulary size."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(vocab - 1)])  # + <eos>
    probs = 1.0 / np.arange(1, vocab)
    probs /= probs.sum()
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", train_tokens), ("valid", train_tokens // 10), ("test", train_tokens // 10)):
        ids = rng.choice(vocab - 1, size=n, p=probs)
        ids[: vocab - 1] = np.arange(vocab - 1)[: min(n, vocab - 1)]  # every word occurs in train
        lines = [" " + " ".join(words[chunk]) + " " for chunk in np.array_split(ids, max(1, n // 21))]
        (root / f"ptb.{split}.txt").write_text("\n".join(lines) + "\n")
    return vocab


def compose_cell(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def plain_loop(cfg: DictConfig) -> tuple[float, float]:
    """The same training and evaluation written by hand; returns (wall, CPU) seconds."""
    tic, cpu = time.perf_counter(), time.process_time()
    cfg = finalize(cfg)
    torch.manual_seed(int(cfg.seed))
    device = torch.device("cuda" if cfg.trainer.accelerator == "gpu" else "cpu")
    data = build(cfg.dataset, DATASET_METADATA_KEYS)
    data.setup("fit")
    model = build(cfg.model).to(device)
    optimizer = optimizer_factory(cfg)(model.parameters())
    autocast = torch.autocast("cuda", torch.bfloat16, enabled=device.type == "cuda" and "bf16" in str(cfg.trainer.precision))
    train, evals = data.split_loader("train"), [data.split_loader("val"), data.split_loader("test")]
    for _ in range(int(cfg.epochs)):
        model.train()
        state, sums = None, torch.zeros(2, dtype=torch.float64, device=device)
        for w in train:
            x, y = w.input.to(device, non_blocking=True), w.target.to(device, non_blocking=True)
            with autocast:
                out = model(x, state)
                nll = F.cross_entropy(out.logits.flatten(0, 1).float(), y.flatten())
                loss = nll + out.penalty
            state = detach_state(out.state)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            sums += torch.stack([nll.detach().double() * y.numel(), nll.new_tensor(y.numel(), dtype=torch.float64)])
        _ = (sums[0] / sums[1]).item()
        model.eval()
        with torch.no_grad(), autocast:
            for loader in evals:
                state, stats = None, torch.zeros(2, dtype=torch.float64, device=device)
                for w in loader:
                    x, y = w.input.to(device), w.target.to(device)
                    out = model(x, state)
                    state = out.state
                    stats[0] += F.cross_entropy(out.logits.flatten(0, 1).float(), y.flatten(), reduction="sum").double()
                    stats[1] += y.numel()
                _ = (stats[0] / stats[1]).exp().item()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - tic, time.process_time() - cpu


def runner(cfg: DictConfig) -> tuple[float, float]:
    tic, cpu = time.perf_counter(), time.process_time()
    record = run_cell(cfg)
    assert record["status"] == "ok", record.get("error")
    return time.perf_counter() - tic, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.lm.perf", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--model", default="lstm_small", help="a conf/model name (lstm_small, lstm1, lstm2, lstm3)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--train-tokens", type=int, default=150_000)
    parser.add_argument("--bptt", type=int, default=35)
    parser.add_argument("--data", type=Path, default=None, help="a folder with ptb.{train,valid,test}.txt")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data_dir = args.data
        if data_dir is None:
            data_dir = tmp_path / "ptb"
            write_synthetic_ptb(data_dir, args.train_tokens)
        vocab = len(build({"_target_": "tasks.lm.data.PTBDataModule", "data_dir": str(data_dir)})._load().words)
        base = ["experiment=ptb_small", f"model={args.model}", f"paths.data={data_dir.parent}",
                f"dataset.data_dir={data_dir}", f"dataset.num_classes={vocab}", f"dataset.bptt={args.bptt}",
                "dataset.train_tokens=null", f"epochs={args.epochs}", "optimizer=sgd", "lr=1.0", "seed=0",
                "logger=none", f"trainer={'gpu' if args.device == 'cuda' else 'cpu'}"]
        cfg = compose_cell(base)
        rows = build(cfg.dataset, DATASET_METADATA_KEYS)._load().train.numel() // int(cfg.dataset.batch_size)
        tokens = (rows - 1) * int(cfg.dataset.batch_size) * args.epochs
        plain_loop(compose_cell(base))  # warm-up: first-touch allocations, lazy imports
        times: dict[str, list[tuple[float, float]]] = {"runner": [], "plain": []}
        for i in range(args.repeats):  # interleaved, so drift in machine load hits both alike
            times["runner"].append(runner(compose_cell([*base, f"paths.runs={tmp_path / f'runs{i}'}"])))
            times["plain"].append(plain_loop(compose_cell(base)))
    print(f"lm {args.model} on {args.device}: {tokens} training tokens/epoch x {args.epochs}, batch "
          f"{cfg.dataset.batch_size}, bptt {args.bptt}, {args.repeats} interleaved repeats, "
          f"torch threads {torch.get_num_threads()}")
    ratios = []
    for i, clock in enumerate(("wall", "cpu")):
        rate = {k: tokens / statistics.median(t[i] for t in v) for k, v in times.items()}
        for name in ("plain", "runner"):
            print(f"  {clock:4s} {name:6s}  {rate[name]:10.0f} tokens/s  "
                  f"(median of {[round(t[i], 2) for t in times[name]]} s)")
        ratios.append(f"{clock} {rate['runner'] / rate['plain']:.3f}")
    print(f"  ratio runner / plain: {', '.join(ratios)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
