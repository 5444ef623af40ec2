"""The SN-GAN task: manual optimization, ``n_dis`` discriminator steps per generator step, FID.

One training step (``training_step`` call) is one generator iteration, as in StudioGAN's
``train_eval.py``: ``n_dis`` discriminator updates, each on a fresh real batch and a fresh batch
of generated images (generator in train mode, no generator gradients), then one generator update
on a fresh latent batch (discriminator gradients off). Latents ``z ~ N(0, I)`` and fake labels
``~ U{0..classes-1}`` for step ``k``, sub-step ``d`` come from a generator seeded by
``(seed, k, d)``; real batches are a function of ``(seed, k * n_dis + d)``
(:class:`tasks.gan.data.RealStream`). With the step counter in ``last.ckpt``, a resumed cell
therefore trains on exactly the data and noise an uninterrupted one does.

Evaluation: ``fid.samples`` images generated (generator in eval mode) from a noise/label set
fixed by the seed -- the same samples at every evaluation and after a resume -- are compared
with the real statistics of the training split (``val_fid``: what picks the best evaluation)
and of the test split (``test_fid``: the reference's ``eval_type: test`` number); the generated
images go through the extractor once for both. ``samples.png`` (an 8 x 8 grid of the first 64
fixed samples) is rewritten in the cell directory at each evaluation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from torch import nn

from tasks.base import SPLITS, Task
from tasks.gan.data import RealImages, RealStream, _mix
from tasks.gan.fid import FIDEvaluator, build_extractor, to_uint8
from tasks.gan.losses import hinge_d_loss, hinge_g_loss
from tasks.gan.models import SNGAN
from tasks.metric import FID
FID_DEFAULTS: dict[str, Any] = {"extractor": "inception", "weights": None, "cache_dir": None, "samples": 10000,
                                "batch_size": 500, "features": 64, "extractor_seed": 0}


def shard_bounds(n: int, world: int, rank: int) -> tuple[int, int]:
    """``[lo, hi)`` of rank ``rank``'s contiguous share of ``n`` items over ``world`` ranks
    (``ceil(n / world)`` each, the last ones shorter or empty)."""
    per = -(-n // world)
    return min(n, rank * per), min(n, (rank + 1) * per)


class GANModule(Task):
    """Two optimizer roles, ``generator`` and ``discriminator`` (per-role hyperparameters:
    ``optimizer_overrides.<optimizer>.<role>.<kwarg>``). Each evaluation row holds ``val_fid``,
    ``test_fid`` and the mean ``g_loss`` / ``d_loss`` (``train_loss`` = ``g_loss``) of the
    generator steps since the previous evaluation."""

    metric = FID
    logged_keys = ("train_loss", "g_loss", "d_loss", "g_step", "lr_g", "lr_d", "val_fid", "test_fid")
    roles = ("generator", "discriminator")
    ddp_unused_parameters = True  # D steps leave G without gradients, the G step freezes D

    def __init__(self, model: SNGAN, optimizer_factory: Any, scheduler_factory: Any = None,
                 divergence_check_every: int = 1, n_dis: int = 5, seed: int = 0,
                 fid: dict[str, Any] | None = None, smoke: bool = False) -> None:
        super().__init__(model, optimizer_factory, scheduler_factory, divergence_check_every)
        self.automatic_optimization = False
        if int(n_dis) < 1:
            raise ValueError(f"module.n_dis must be >= 1, got {n_dis}")
        self.n_dis, self.seed = int(n_dis), int(seed)
        unknown = set(fid or {}) - set(FID_DEFAULTS)
        if unknown:
            raise ValueError(f"module.fid.{sorted(unknown)[0]}: unknown key; allowed: {', '.join(FID_DEFAULTS)}")
        self.fid_cfg = {**FID_DEFAULTS, **(fid or {})}
        if smoke:
            self.fid_cfg["samples"] = min(int(self.fid_cfg["samples"]), 128)
        if int(self.fid_cfg["samples"]) < 2:
            raise ValueError(f"module.fid.samples must be >= 2, got {self.fid_cfg['samples']}")
        extractor, extractor_id = build_extractor(self.fid_cfg["extractor"], self.fid_cfg["weights"],
                                                  int(self.fid_cfg["features"]), int(self.fid_cfg["extractor_seed"]))
        # a plain object, not a child module: never trained, checkpointed or put in train mode
        self.fid = FIDEvaluator(extractor, extractor_id, self.fid_cfg["cache_dir"], int(self.fid_cfg["batch_size"]))
        self.g_step = 0
        self._fake_features: Tensor | None = None

    # --- noise -----------------------------------------------------------------------------
    def _latents(self, n: int, *key: int) -> tuple[Tensor, Tensor | None]:
        g = torch.Generator(device=self.device).manual_seed(_mix(self.seed, *key))
        z = torch.randn(n, self.model.z_dim, generator=g, device=self.device)
        classes = self.model.num_classes
        y = torch.randint(classes, (n,), generator=g, device=self.device) if classes else None
        return z, y

    def eval_latents(self) -> tuple[Tensor, Tensor | None]:
        """The fixed evaluation set: ``fid.samples`` latents (and labels) drawn from the seed alone."""
        g = torch.Generator().manual_seed(_mix(self.seed, 3))
        n = int(self.fid_cfg["samples"])
        z = torch.randn(n, self.model.z_dim, generator=g)
        classes = self.model.num_classes
        return z, (torch.randint(classes, (n,), generator=g) if classes else None)

    # --- training --------------------------------------------------------------------------
    def _running(self) -> Tensor:
        sums = getattr(self, "_sums", None)
        if sums is None or sums.device != self.device:
            self._sums = torch.zeros(3, dtype=torch.float64, device=self.device)  # d_loss, g_loss, steps
        return self._sums

    def training_step(self, stream: RealStream, batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        gen, disc = self.model.generator, self.model.discriminator
        k = self.g_step
        rank = self.global_rank  # each data-parallel rank draws its own latents
        d_total = torch.zeros((), device=self.device)
        disc.requires_grad_(True)
        for d in range(self.n_dis):
            real, real_y = stream.batch(k * self.n_dis + d, self.device)
            z, fake_y = self._latents(len(real), 0, k, d, rank)
            with torch.no_grad():
                fake = gen(z, fake_y)
            d_loss = hinge_d_loss(disc(real, real_y), disc(fake, fake_y))
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(d_loss)
            opt_d.step()
            d_total = d_total + d_loss.detach()
        disc.requires_grad_(False)  # the reference's toggle_grad: no D gradients in the G step
        z, fake_y = self._latents(len(real), 1, k, 0, rank)
        g_loss = hinge_g_loss(disc(gen(z, fake_y), fake_y))
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()
        disc.requires_grad_(True)
        self.g_step = k + 1
        d_mean = d_total / self.n_dis
        losses = torch.stack([d_mean, g_loss.detach()])
        self.check_finite(losses, "GAN losses (d, g)", step=k)
        self._running().add_(torch.cat([losses.double(), torch.ones(1, dtype=torch.float64, device=self.device)]))

    def on_train_epoch_end(self) -> None:
        schedulers = self.lr_schedulers()
        for scheduler in ([] if schedulers is None else schedulers if isinstance(schedulers, list) else [schedulers]):
            scheduler.step()  # manual optimization: the module steps its (per-epoch) schedules

    def _log_training_figures(self) -> None:
        """The running means since the last evaluation, logged with the evaluation's FIDs."""
        sums = self._running()
        steps = float(sums[2])
        if steps == 0:  # a resumed run re-validating the step its checkpoint was taken at
            return
        d_loss, g_loss = (sums[:2] / steps).tolist()
        self.check_finite(d_loss + g_loss, "GAN losses (d, g)")
        opt_g, opt_d = self.optimizers()
        self.log_dict({"train_loss": g_loss, "g_loss": g_loss, "d_loss": d_loss, "g_step": float(self.g_step),
                       "lr_g": float(opt_g.param_groups[0]["lr"]), "lr_d": float(opt_d.param_groups[0]["lr"])},
                      batch_size=1)
        sums.zero_()

    # --- evaluation ------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._fake_features = None

    def on_validation_epoch_end(self) -> None:
        if self._trainer is not None and not self.trainer.sanity_checking:
            self._log_training_figures()

    @torch.no_grad()
    def generate(self, z: Tensor, y: Tensor | None) -> Tensor:
        """uint8 images of the generator (in its current mode) for latents ``z`` / labels ``y``."""
        out = []
        for i in range(0, len(z), int(self.fid_cfg["batch_size"])):
            zi = z[i: i + int(self.fid_cfg["batch_size"])].to(self.device)
            yi = None if y is None else y[i: i + len(zi)].to(self.device)
            out.append(to_uint8(self.model.generator(zi, yi)))
        return torch.cat(out)

    def eval_features(self) -> Tensor:
        """Extractor features of the fixed evaluation set (:meth:`eval_latents`), in its order.

        Under DDP each rank generates and extracts one contiguous shard, with rank 0's BatchNorm
        statistics (the model ``last.ckpt`` holds), and the shards are gathered, so every rank
        scores the same features for 1/world of the work. The 8 x 8 grid is the first 64 images.
        """
        z, y = self.eval_latents()
        trainer = self._trainer
        world = trainer.world_size if trainer is not None else 1
        if world == 1:
            images = self.generate(z, y)
            self._save_grid(images[:64])
            return self.fid.features(images, self.device)
        buffers = dict(self.model.generator.named_buffers())
        synced = trainer.strategy.broadcast({k: b.detach().cpu() for k, b in buffers.items()}, src=0)
        for k, b in buffers.items():
            b.copy_(synced[k])
        bounds = [shard_bounds(len(z), world, r) for r in range(world)]
        lo, hi = bounds[trainer.global_rank]
        images = self.generate(z[lo:hi], None if y is None else y[lo:hi])
        if trainer.global_rank == 0:
            first = min(64, len(z))
            self._save_grid(images[:first] if hi >= first else self.generate(z[:first], None if y is None else y[:first]))
        features = self.fid.features(images, self.device)
        sizes = [b - a for a, b in bounds]
        padded = features.new_zeros(sizes[0], features.shape[1])  # all_gather needs one shape on every rank
        padded[: len(features)] = features
        gathered = trainer.strategy.all_gather(padded)  # (world, sizes[0], features)
        return torch.cat([gathered[r, :size] for r, size in enumerate(sizes)])

    def validation_step(self, real: RealImages, batch_idx: int, dataloader_idx: int = 0) -> None:
        if self._fake_features is None:
            self._fake_features = self.eval_features()
        fid = self.fid.score(self._fake_features, real, self.device)
        self.log(f"{SPLITS[dataloader_idx]}_fid", fid, add_dataloader_idx=False, batch_size=1)

    def _save_grid(self, images: Tensor) -> None:
        trainer = getattr(self, "_trainer", None)
        if trainer is None or not trainer.is_global_zero:
            return
        from torchvision.utils import save_image

        path = Path(trainer.default_root_dir) / "samples.png"
        tmp = path.with_name("samples.tmp.png")
        save_image(images.float() / 255.0, tmp, nrow=8, padding=2)
        tmp.replace(path)

    # --- optimizers, checkpoint, record ------------------------------------------------------
    def configure_optimizers(self) -> Any:
        opt_g = self.optimizer_factory(self.model.generator.parameters(), "generator")
        opt_d = self.optimizer_factory(self.model.discriminator.parameters(), "discriminator")
        if self.scheduler_factory is None:
            return [opt_g, opt_d]
        return [opt_g, opt_d], [self.scheduler_factory(opt_g), self.scheduler_factory(opt_d)]

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["gan"] = {"g_step": self.g_step, "torch_rng": torch.get_rng_state(),
                             "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("gan", {})
        self.g_step = int(state.get("g_step", 0))
        if state.get("torch_rng") is not None:
            torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    @classmethod
    def fit_check(cls, model: nn.Module, batch: RealStream) -> None:
        """Real images and labels into D; G must make images of the same shape (``SNGAN.forward``)."""
        model(batch.images.float(), batch.labels)

    def record_extras(self) -> dict[str, Any]:
        return {"gan": {"g_steps": self.g_step, "n_dis": self.n_dis, "fid_extractor": self.fid.extractor_id,
                        "fid_samples": int(self.fid_cfg["samples"]),
                        "fid_real": {"val": "cifar10 train split", "test": "cifar10 test split"}}}
