"""FID: torchmetrics' own numbers, the cached real statistics, the Inception weights file checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchmetrics.image.fid import FrechetInceptionDistance

from tasks.gan import fid as fid_mod
from tasks.gan.data import RealImages
from tasks.gan.fid import FIDEvaluator, FIDWeightsError, RandomConvExtractor, build_extractor, to_uint8


def _images(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)


def _shifted(images: torch.Tensor) -> torch.Tensor:
    return (images.float() * 0.5 + 100).to(torch.uint8)  # darker contrast, brighter mean


def test_identical_sets_score_zero_and_a_shifted_set_scores_more(tmp_path: Path) -> None:
    real = RealImages("train", _images(300, 0), "tiny-train")
    evaluator = FIDEvaluator(*build_extractor("random_conv", num_features=32), tmp_path, batch_size=64)
    same = evaluator.score(evaluator.features(real.images), real)
    other_draw = evaluator.score(evaluator.features(_images(300, 1)), real)
    shifted = evaluator.score(evaluator.features(_shifted(real.images)), real)
    assert abs(same) < 1e-6
    assert shifted > 20 * other_draw > 0  # a shift of the distribution, not sampling noise


def test_scores_equal_torchmetrics_used_directly(tmp_path: Path) -> None:
    extractor, name = build_extractor("random_conv", num_features=32, seed=3)
    real, fake = _images(200, 0), _shifted(_images(150, 5))
    reference = FrechetInceptionDistance(feature=RandomConvExtractor(32, seed=3))
    reference.update(real, real=True)
    reference.update(fake, real=False)
    evaluator = FIDEvaluator(extractor, name, tmp_path, batch_size=64)
    ours = evaluator.score(evaluator.features(fake), RealImages("test", real, "tiny-test"))
    assert ours == pytest.approx(float(reference.compute()), rel=1e-6)


class CountingExtractor(RandomConvExtractor):
    calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        CountingExtractor.calls += len(x)
        return super().forward(x)


def test_real_statistics_are_cached_reused_and_invalidated(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    train, test = RealImages("train", _images(100, 0), "d-train-100-aa"), RealImages("test", _images(60, 1), "d-test-60-bb")
    fake = _shifted(_images(50, 2))

    first = FIDEvaluator(CountingExtractor(16, 0), "count-16-s0", cache, batch_size=32)
    scores = [first.score(first.features(fake), r) for r in (train, test)]
    assert first.computed_real == [train.key, test.key] and len(list(cache.glob("fid-stats-*.pt"))) == 2

    CountingExtractor.calls = 0
    again = FIDEvaluator(CountingExtractor(16, 0), "count-16-s0", cache, batch_size=32)  # a new process, same key
    assert [again.score(again.features(fake), r) for r in (train, test)] == pytest.approx(scores, rel=1e-9)
    assert again.computed_real == [] and CountingExtractor.calls == 2 * len(fake)  # only the generated images

    changed = RealImages("train", _images(100, 9), "d-train-100-cc")  # other content -> other digest in the key
    other_extractor = FIDEvaluator(CountingExtractor(16, 1), "count-16-s1", cache, batch_size=32)
    other_extractor.score(other_extractor.features(fake), train)
    again.score(again.features(fake), changed)
    assert other_extractor.computed_real == [train.key] and again.computed_real == [changed.key]
    assert len(list(cache.glob("fid-stats-*.pt"))) == 4

    # a cache file holding another key's statistics (e.g. copied by hand) is not trusted
    stale = FIDEvaluator(CountingExtractor(16, 0), "count-16-s0", cache, batch_size=32)
    stale.cache_file(test.key).write_bytes(stale.cache_file(train.key).read_bytes())
    assert stale.score(stale.features(fake), test) == pytest.approx(scores[1], rel=1e-9)
    assert stale.computed_real == [test.key]


def test_to_uint8_maps_the_generator_range() -> None:
    x = torch.tensor([-1.5, -1.0, 0.0, 1.0, 2.0])
    assert to_uint8(x).tolist() == [0, 0, 128, 255, 255]


def test_missing_or_wrong_inception_weights_are_one_line_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / fid_mod.INCEPTION_FILE
    with pytest.raises(FIDWeightsError, match="not found at .*paths.fid_weights=FILE.*OPTBENCH_FID_WEIGHTS.*torch-fidelity") as err:
        build_extractor("inception", str(missing))
    assert "\n" not in str(err.value)
    wrong = tmp_path / fid_mod.INCEPTION_FILE
    wrong.write_bytes(b"not the weights")
    with pytest.raises(FIDWeightsError, match="is not weights-inception-2015-12-05-6726825d.pth .*SHA-256"):
        build_extractor("inception", str(wrong))
    with pytest.raises(ValueError, match="module.fid.extractor must be one of inception, random_conv"):
        build_extractor("vgg")


def test_inception_path_loads_the_local_file_without_downloading(tmp_path: Path, monkeypatch) -> None:
    """torchmetrics' NoTrainInceptionV3 built from a local (random-weight) file; no download is tried."""
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inception

    def no_download(*args, **kwargs):
        raise AssertionError("tried to download the Inception weights")

    monkeypatch.setattr(tf_inception, "load_state_dict_from_url", no_download)
    with monkeypatch.context() as m:  # build the architecture once with random weights, to write a weights file
        m.setattr(torch.nn.Module, "load_state_dict", lambda self, *a, **k: None)
        m.setattr(tf_inception.torch, "load", lambda *a, **k: {})
        net = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path="x")
    weights = tmp_path / fid_mod.INCEPTION_FILE
    torch.save(net.state_dict(), weights)
    monkeypatch.setattr(fid_mod, "INCEPTION_SHA256_PREFIX", fid_mod._sha256(weights)[:8])

    extractor, name = build_extractor("inception", str(weights))
    assert extractor.use_antialias is False and "noantialias" in name
    state = torch.load(weights, weights_only=False)
    key = "Mixed_7c.branch_pool.conv.weight"
    assert torch.equal(extractor.state_dict()[key], state[key])  # the file's weights, loaded strictly
    features = FIDEvaluator(extractor, name, None, batch_size=2).features(_images(3, 0))
    assert features.shape == (3, 2048) and torch.isfinite(features).all()
