"""Translation runner overhead: the Lightning cell vs a plain PyTorch loop, target tokens/s.

Both sides build the same model, data, optimizer and per-step schedule from one composed
config (``experiment=iwslt_small`` by default) and do the same work: ``--epochs`` epochs of
label-smoothed training, teacher-forced validation and test loss after each, then the mean
of the last ``module.average_last`` epochs' weights decoded by beam search and scored by
BLEU. The runner also writes its record and ``last.ckpt``. Rounds alternate in one process;
the first is dropped; medians are reported, with ratio = plain time / runner time.

    python -m bench.perf translation [--data DIR] [--epochs 2] [--repeats 3] [--set KEY=VALUE ...]

Without ``--data`` (a directory holding ``iwslt14.tokenized.de-en/`` from ``prepare``) a
synthetic prepared corpus is written to a temporary directory (random ids, IWSLT-like lengths).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from tasks.translation.averaging import RunningAverage
from tasks.translation.bleu import corpus_bleu, remove_bpe
from tasks.translation.search import beam_search
from tasks.translation.vocab import PAD_ID, Dictionary, pack


def synthetic_corpus(root: Path, vocab: int = 2000, pairs: int = 6000, seed: int = 0) -> Path:
    """A prepared-format directory of random sentence pairs (lengths 4-60, target ~ source)."""
    out = root / "iwslt14.tokenized.de-en"
    out.mkdir(parents=True, exist_ok=True)
    Dictionary([f"w{i}" for i in range(vocab - 4)], [1] * (vocab - 4)).save(out / "dict.txt")
    g = torch.Generator().manual_seed(seed)
    for split, n in (("train", pairs), ("valid", pairs // 20), ("test", pairs // 20)):
        src, tgt = [], []
        for _ in range(n):
            ls = int(torch.randint(4, 60, (1,), generator=g))
            lt = max(2, ls + int(torch.randint(-3, 4, (1,), generator=g)))
            src.append(torch.randint(4, vocab, (ls,), generator=g).tolist() + [2])
            tgt.append(torch.randint(4, vocab, (lt,), generator=g).tolist() + [2])
        torch.save({"src": pack(src), "tgt": pack(tgt)}, out / f"{split}.pt")
    (out / "code").write_text("#version: 0.2\n")
    (out / "manifest.json").write_text("{}\n")
    return root


def plain_loop(cfg: DictConfig) -> tuple[float, int]:
    """Train and evaluate ``cfg`` by hand; (wall seconds, training target tokens)."""
    from bench.cell import optimizer_factory, scheduler_factory
    from bench.config import DATASET_METADATA_KEYS, build, finalize

    tic = time.perf_counter()
    cfg = finalize(cfg)
    torch.manual_seed(int(cfg.seed))
    data = build(cfg.dataset, DATASET_METADATA_KEYS)
    data.setup("fit")
    model = build(cfg.model)
    optimizer = optimizer_factory(cfg)(model.parameters())
    scheduler = scheduler_factory(cfg)(optimizer)["scheduler"]
    mod = cfg.module
    dictionary = Dictionary.load(Path(mod.dict_path))
    train, evals = data.split_loader("train"), [data.split_loader("val"), data.split_loader("test")]
    average, tokens, epochs = RunningAverage(), 0, int(cfg.epochs)
    for epoch in range(epochs):
        model.train()
        train.sampler.set_epoch(epoch)
        for src, prev, tgt in train:
            logits = model(src, prev).float().flatten(0, 1)
            n = tgt.ne(PAD_ID).sum()
            loss = F.cross_entropy(logits, tgt.flatten(), ignore_index=PAD_ID,
                                   label_smoothing=float(mod.label_smoothing), reduction="sum") / n
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            tokens += int(n)
        model.eval()
        final = epoch == epochs - 1
        if epoch >= epochs - int(mod.average_last):
            average.add(model.state_dict())
        if final:
            model.load_state_dict(average.average(model.state_dict()))
        with torch.no_grad():
            for loader in evals:
                total = torch.zeros(2, dtype=torch.float64)
                hyps, refs = [], []
                for src, prev, tgt in loader:
                    logits = model(src, prev).float().flatten(0, 1)
                    total += torch.stack([F.cross_entropy(logits, tgt.flatten(), ignore_index=PAD_ID,
                                                          reduction="sum").double(),
                                          tgt.ne(PAD_ID).sum().double()])
                    if final:
                        beam = int(mod.beam)
                        src_len = src.ne(PAD_ID).sum(1).float()
                        out = beam_search(model, model.start_decoding(src.repeat_interleave(beam, 0)), src.shape[0],
                                          beam=beam, lenpen=float(mod.lenpen),
                                          max_len=(float(mod.max_len_a) * src_len + int(mod.max_len_b)).long())
                        hyps += [remove_bpe(dictionary.string(h)) for h in out]
                        refs += [remove_bpe(dictionary.string(r, escape_unk=True)) for r in tgt.tolist()]
                _ = (total[0] / total[1]).item(), corpus_bleu(hyps, refs) if final else None
    return time.perf_counter() - tic, tokens


def main(argv: list[str]) -> int:
    from bench.perf.runner import compose_cell, plain_vs_runner

    parser = argparse.ArgumentParser(prog="python -m bench.perf translation", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="paths.data holding iwslt14.tokenized.de-en/")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra config override")
    args = parser.parse_args(argv)
    tokens = 0

    def plain(cfg: DictConfig) -> float:
        nonlocal tokens
        seconds, tokens = plain_loop(cfg)
        return seconds

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or synthetic_corpus(Path(tmp) / "data")
        base = ["experiment=iwslt_small", f"paths.data={data}", "optimizer=adam", "lr=0.0015", "seed=0",
                f"epochs={args.epochs}", "module.max_len_a=0", "module.max_len_b=10", "logger=csv", *args.set]
        try:
            plain_s, run, _ = plain_vs_runner(lambda i: compose_cell([*base, f"paths.runs={tmp}/runs{i}"]), plain, args.repeats)
        except RuntimeError as exc:
            print(exc)
            return 1
    plain = plain_s
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.epochs} epochs, "
          f"{tokens} training target tokens, median of {args.repeats}")
    print(f"{'side':<8} {'seconds':>9} {'tokens/s':>10}")
    print(f"{'plain':<8} {plain:>9.3f} {tokens / plain:>10.0f}")
    print(f"{'runner':<8} {run:>9.3f} {tokens / run:>10.0f}")
    print(f"throughput ratio (plain time / runner time): {plain / run:.3f}")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
