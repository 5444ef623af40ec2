"""GAN runner overhead: generator steps/s of a cell through the runner vs a plain PyTorch loop.

Both sides build the same ``gan_small`` cell (tiny SN-GAN, synthetic CIFAR-10 files in the
real on-disk format, written to a temporary folder) and do the same work: ``--steps`` generator
steps of ``n_dis`` discriminator steps each, on the same real batches and latents, then one FID
evaluation (training and test splits). The runner also writes its record and ``last.ckpt``.
Runs alternate in one process; the first round warms caches and is dropped; the median of
``--repeats`` is printed as ``runner G-steps/s / plain G-steps/s`` (1.0 = no overhead).

    python -m bench.perf gan [--steps 60] [--repeats 3] [--device cpu|cuda] [--full]

``--full`` uses the paper's sngan_resnet (GPU figures); the default is sngan_tiny.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from tasks.vision.cifar_format import write_synthetic_cifar


def _cfg(tmp: Path, steps: int, device: str, full: bool, round_: int) -> DictConfig:
    from bench.plan import CONF_DIR

    overrides = ["experiment=gan_small", "optimizer=adam", "lr=0.0002", "seed=0", f"max_steps={steps}",
                 f"eval_every={steps}", f"paths.data={tmp}", f"paths.runs={tmp}/runs{round_}",
                 f"paths.fid_cache={tmp}/fid", "dataset.verify_md5=false", "module.fid.samples=256",
                 "module.fid.batch_size=128", "logger=csv"]
    if device == "cuda":
        overrides.append("trainer=gpu")
    if full:
        overrides += ["model=sngan_resnet", "dataset.batch_size=64"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def plain_loop(cfg: DictConfig, device: str) -> float:
    """The same cell as a hand-written loop; returns wall seconds."""
    from bench.cell import optimizer_factory
    from bench.config import build, build_data, finalize
    from tasks.gan.data import _mix
    from tasks.gan.fid import FIDEvaluator, build_extractor, to_uint8
    from tasks.gan.losses import hinge_d_loss, hinge_g_loss

    tic = time.perf_counter()
    cfg = finalize(cfg)
    torch.manual_seed(int(cfg.seed))
    dev = torch.device(device)
    data = build_data(cfg)
    data.setup("fit")
    model = build(cfg.model).to(dev)
    factory = optimizer_factory(cfg)
    opt_g, opt_d = factory(model.generator.parameters(), "generator"), factory(model.discriminator.parameters(), "discriminator")
    gen, disc, stream = model.generator, model.discriminator, data.stream
    n_dis, seed, z_dim, classes = int(cfg.module.n_dis), int(cfg.seed), model.z_dim, model.num_classes
    fid_cfg = OmegaConf.to_container(cfg.module.fid, resolve=True)

    def latents(n: int, *key: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        g = torch.Generator(device=dev).manual_seed(_mix(seed, *key))
        z = torch.randn(n, z_dim, generator=g, device=dev)
        return z, (torch.randint(classes, (n,), generator=g, device=dev) if classes else None)

    model.train()
    for k in range(int(cfg.max_steps)):
        for d in range(n_dis):
            real, real_y = stream.batch(k * n_dis + d, dev)
            z, y = latents(len(real), 0, k, d, 0)
            with torch.no_grad():
                fake = gen(z, y)
            loss_d = hinge_d_loss(disc(real, real_y), disc(fake, y))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        disc.requires_grad_(False)
        z, y = latents(len(real), 1, k, 0, 0)
        loss_g = hinge_g_loss(disc(gen(z, y), y))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        disc.requires_grad_(True)
        if not bool(torch.isfinite(loss_d + loss_g)):
            break
    model.eval()
    extractor, name = build_extractor(fid_cfg["extractor"], fid_cfg["weights"], int(fid_cfg["features"]),
                                      int(fid_cfg["extractor_seed"]))
    evaluator = FIDEvaluator(extractor, name, fid_cfg["cache_dir"], int(fid_cfg["batch_size"]))
    g = torch.Generator().manual_seed(_mix(seed, 3))
    n = int(fid_cfg["samples"])
    z, y = torch.randn(n, z_dim, generator=g), torch.randint(classes, (n,), generator=g)
    with torch.no_grad():
        images = torch.cat([to_uint8(gen(zi.to(dev), yi.to(dev))) for zi, yi in zip(z.split(128), y.split(128))])
    feats = evaluator.features(images, dev)
    _ = [evaluator.score(feats, data.real[s], dev) for s in ("val", "test")]
    return time.perf_counter() - tic


def runner(cfg: DictConfig) -> float:
    from bench.cell import run_cell

    tic = time.perf_counter()
    record = run_cell(cfg)
    assert record["status"] == "ok", record.get("error")
    return time.perf_counter() - tic


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perf gan", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--full", action="store_true", help="the paper's sngan_resnet instead of sngan_tiny")
    args = parser.parse_args(argv)
    plain_t, runner_t = [], []
    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic_cifar(tmp, n_train=1024, n_test=256)
        for i in range(args.repeats + 1):  # round 0 warms caches (and the FID statistics cache) and is dropped
            cfg = _cfg(Path(tmp), args.steps, args.device, args.full, i)
            p, r = plain_loop(cfg, args.device), runner(cfg)
            if i:
                plain_t.append(p)
                runner_t.append(r)
    plain, run = statistics.median(plain_t), statistics.median(runner_t)
    model = "sngan_resnet" if args.full else "sngan_tiny"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.device}, {model}, "
          f"{args.steps} G steps + 1 FID evaluation, median of {args.repeats}")
    print(f"{'plain G-steps/s':>16} {'runner G-steps/s':>17} {'ratio':>7}")
    print(f"{args.steps / plain:>16.2f} {args.steps / run:>17.2f} {plain / run:>7.3f}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
