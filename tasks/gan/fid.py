"""FID through ``torchmetrics.image.fid.FrechetInceptionDistance``, real statistics cached on disk.

Extractors (``fid.extractor``):

- ``inception`` (the papers' number): torchmetrics' ``NoTrainInceptionV3`` -- torch-fidelity's
  port of the TF-slim Inception-v3 of the original FID code, pool3 features (2048) -- with its
  weights read from the local file ``weights-inception-2015-12-05-6726825d.pth`` (never
  downloaded: torch-fidelity downloads only when the path is ``None``, and we always pass one).
  ``antialias=False``: inputs are resized to 299 x 299 by torch-fidelity's
  ``interpolate_bilinear_2d_like_tensorflow1x``, the resize of the original TF FID code
  (torchmetrics >= 1.8 defaults to an antialiased resize, which shifts FID).
- ``random_conv``: a small convolutional net with fixed, seeded random weights. Cheap enough for
  a CPU and needs no file; its distances are *not* comparable to published FIDs (``gan_small``
  and the tests use it).

Real-image statistics (the metric's ``real_features_sum``/``real_features_cov_sum``/
``real_features_num_samples`` states) are computed once per (data set, split, image-content
digest, extractor) and stored under ``cache_dir`` in a file named by a hash of that key; an
evaluation merges them into a fresh metric beside the generated images' states
(``Metric.merge_state``), so the generated images go through the extractor once per evaluation
however many real splits they are compared with.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_SHA256_PREFIX = "6726825d"
INCEPTION_SOURCE = ("torch-fidelity's release asset https://github.com/toshas/torch-fidelity/releases/download/"
                    f"v0.2.0/{INCEPTION_FILE} (the TF FID Inception converted to PyTorch)")
EXTRACTORS = ("inception", "random_conv")
REAL_STATES = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")
FAKE_STATES = ("fake_features_sum", "fake_features_cov_sum", "fake_features_num_samples")

_hash_memo: dict[tuple[str, int, int], str] = {}


class FIDWeightsError(ValueError):
    """The Inception weights file is missing or is not the FID one."""


def _sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_memo:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _hash_memo[key] = h.hexdigest()
    return _hash_memo[key]


def check_inception_weights(path: str | os.PathLike[str] | None) -> Path:
    """The weights file, after checking it exists and its SHA-256 starts with the name's ``6726825d``."""
    fix = f"set paths.fid_weights=FILE (or OPTBENCH_FID_WEIGHTS=FILE); the file is {INCEPTION_SOURCE}"
    if not path:
        raise FIDWeightsError(f"module.fid.weights is empty: {fix}")
    file = Path(path).expanduser()
    if not file.is_file():
        raise FIDWeightsError(f"FID Inception weights not found at '{file.resolve()}': {fix}")
    digest = _sha256(file)
    if not digest.startswith(INCEPTION_SHA256_PREFIX):
        raise FIDWeightsError(f"'{file.resolve()}' is not {INCEPTION_FILE} (its SHA-256 starts {digest[:8]}, "
                              f"expected {INCEPTION_SHA256_PREFIX}): {fix}")
    return file


class RandomConvExtractor(nn.Module):
    """uint8 images -> features of a fixed random conv net (seeded; never trained)."""

    def __init__(self, num_features: int = 64, seed: int = 0) -> None:
        super().__init__()
        self.num_features, self.seed = int(num_features), int(seed)
        g = torch.Generator().manual_seed(self.seed)
        widths = (3, 16, 32, self.num_features)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in zip(widths, widths[1:]))
        with torch.no_grad():
            for conv in self.convs:
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) / (conv.weight[0].numel() ** 0.5))
                conv.bias.zero_()
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "RandomConvExtractor":
        return super().train(False)

    def forward(self, x: Tensor) -> Tensor:
        h = x.float() / 127.5 - 1.0
        for conv in self.convs:
            h = torch.relu(conv(h))
        return h.mean(dim=(2, 3))


def build_extractor(extractor: str, weights: str | None = None, num_features: int = 64,
                    seed: int = 0) -> tuple[nn.Module, str]:
    """``(feature module, id)``; the id names the extractor in the statistics cache key."""
    if extractor == "inception":
        from torchmetrics.image.fid import NoTrainInceptionV3

        file = check_inception_weights(weights)
        net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                 feature_extractor_weights_path=str(file), antialias=False)
        net.num_features = 2048  # tells torchmetrics the width without a dummy forward pass
        return net, f"inception-v3-tf-2048-{INCEPTION_SHA256_PREFIX}-noantialias"
    if extractor == "random_conv":
        return RandomConvExtractor(num_features, seed), f"random_conv-{int(num_features)}-s{int(seed)}"
    raise ValueError(f"module.fid.extractor must be one of {', '.join(EXTRACTORS)}; got {extractor!r}")


def to_uint8(images: Tensor) -> Tensor:
    """Generator output in ``[-1, 1]`` -> uint8 ``[0, 255]`` (rounded), what the extractors read."""
    return ((images.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)


class _Features(nn.Module):
    """Pass-through "extractor": the metric is updated with features the evaluator extracted itself."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, x: Tensor) -> Tensor:
        return x


class FIDEvaluator:
    """FID of generated images against one or more real sets, with cached real statistics.

    The evaluator runs the extractor itself (once per image) and feeds the features to
    ``FrechetInceptionDistance`` built over a pass-through module, so the accumulation and the
    Frechet distance are torchmetrics' own; cached real states enter through ``merge_state``.

    Args:
        extractor, extractor_id: from :func:`build_extractor`.
        cache_dir: where real statistics live (``None``: computed once per process, not stored).
        batch_size: images per extractor call.
    """

    def __init__(self, extractor: nn.Module, extractor_id: str, cache_dir: str | os.PathLike[str] | None,
                 batch_size: int = 500) -> None:
        self.extractor, self.extractor_id = extractor, extractor_id
        self.num_features = int(getattr(extractor, "num_features"))
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.batch_size = int(batch_size)
        self.computed_real: list[str] = []  # keys of real sets whose statistics were computed, not read
        self._memo: dict[str, dict[str, Tensor]] = {}

    def _metric(self, device: torch.device) -> FrechetInceptionDistance:
        # sync_on_compute=False: under DDP, torchmetrics would otherwise sum every rank's fake and
        # real states into each rank's FID (a mix of models, the real set counted world-size times)
        return FrechetInceptionDistance(feature=_Features(self.num_features), reset_real_features=True,
                                        sync_on_compute=False).to(device)

    @torch.no_grad()
    def features(self, images: Tensor, device: torch.device | str = "cpu") -> Tensor:
        """Extractor features of uint8 images (N x 3 x H x W), in batches of ``batch_size``."""
        device = torch.device(device)
        self.extractor.to(device)
        return torch.cat([self.extractor(chunk.to(device)).float().reshape(len(chunk), -1)
                          for chunk in images.split(self.batch_size)])

    def cache_file(self, real_key: str) -> Path | None:
        if self.cache_dir is None:
            return None
        key = json.dumps({"real": real_key, "extractor": self.extractor_id}, sort_keys=True)
        return self.cache_dir / f"fid-stats-{hashlib.sha256(key.encode()).hexdigest()[:20]}.pt"

    def real_state(self, real: Any, device: torch.device | str = "cpu") -> dict[str, Tensor]:
        """The real-image states of ``real`` (``.key``, ``.images``): from memory, the cache, or computed."""
        if real.key in self._memo:
            return self._memo[real.key]
        file = self.cache_file(real.key)
        if file is not None and file.is_file():
            saved = torch.load(file, map_location="cpu", weights_only=True)
            if saved.get("real") == real.key and saved.get("extractor") == self.extractor_id:
                self._memo[real.key] = {k: saved[k] for k in REAL_STATES}
                return self._memo[real.key]
        metric = self._metric(torch.device(device))
        metric.update(self.features(real.images, device), real=True)
        state = {k: getattr(metric, k).detach().cpu() for k in REAL_STATES}
        self.computed_real.append(real.key)
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_name(f"{file.name}.tmp{os.getpid()}")
            torch.save({"real": real.key, "extractor": self.extractor_id, **state}, tmp)
            os.replace(tmp, file)
        self._memo[real.key] = state
        return state

    def score(self, fake_features: Tensor, real: Any, device: torch.device | str = "cpu") -> float:
        """FID between generated images' features (:meth:`features`) and the real set ``real``."""
        device = torch.device(device)
        metric = self._metric(device)
        zeros = {k: torch.zeros_like(getattr(metric, k)) for k in FAKE_STATES}
        metric.merge_state({**{k: v.to(device) for k, v in self.real_state(real, device).items()}, **zeros})
        metric.update(fake_features.to(device), real=False)
        return float(metric.compute())
