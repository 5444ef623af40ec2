"""The tensor path draws the same augmentation distribution as torchvision's CIFAR pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from scipy import stats

from tasks.vision.tensor_augment import CifarBatchTransform, Normalize, crop_flip, random_crop_flip, sample_crop_flip

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


def coordinate_image() -> np.ndarray:
    """R = 8*row, G = 8*col, B = 255: a crop/flip of it reveals its offsets (padding is black)."""
    rows, cols = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    return np.stack([rows * 8, cols * 8, np.full((32, 32), 255)], axis=-1).astype(np.uint8)


def decode(chw: np.ndarray) -> tuple[int, int, bool]:
    """(dy, dx, flipped) of a 32x32 crop of the 4-padded coordinate image."""
    flipped = chw[1, 16, 15] > chw[1, 16, 16]
    dy = int(chw[0, 16, 16]) // 8 - 16 + 4
    dx = int(chw[1, 16, 16]) // 8 - (15 if flipped else 16) + 4
    return dy, dx, bool(flipped)


def test_offset_and_flip_distribution_matches_torchvision() -> None:
    n = 6000
    torch.manual_seed(0)
    tv = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()])
    img = TF.to_pil_image(coordinate_image())
    tv_draws = [decode(np.asarray(tv(img)).transpose(2, 0, 1)) for _ in range(n)]
    x = torch.from_numpy(coordinate_image()).permute(2, 0, 1).unsqueeze(0).expand(n, 3, 32, 32).contiguous()
    ours = random_crop_flip(x, torch.Generator().manual_seed(0)).numpy()
    our_draws = [decode(o) for o in ours]

    def cells(draws: list[tuple[int, int, bool]]) -> np.ndarray:
        counts = np.zeros((9, 9, 2))
        for dy, dx, f in draws:
            counts[dy, dx, int(f)] += 1
        return counts.reshape(-1)

    tv_counts, our_counts = cells(tv_draws), cells(our_draws)
    assert tv_counts.sum() == our_counts.sum() == n  # every draw decoded to a valid offset
    # Both are uniform over the 162 (dy, dx, flip) cells...
    assert stats.chisquare(tv_counts).pvalue > 1e-3
    assert stats.chisquare(our_counts).pvalue > 1e-3
    # ...and indistinguishable from each other (two-sample chi-square on the contingency table).
    assert stats.chi2_contingency(np.stack([tv_counts, our_counts])).pvalue > 1e-3
    assert abs(our_counts.reshape(9, 9, 2)[..., 1].sum() / n - 0.5) < 0.03


def test_mean_augmented_image_matches_torchvision_pipeline() -> None:
    """Full pipeline incl. normalisation: per-pixel mean over many draws agrees within noise."""
    n = 3000
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    torch.manual_seed(1)
    tv = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)])
    pil = TF.to_pil_image(image)
    tv_batch = torch.stack([tv(pil) for _ in range(n)])
    x = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).expand(n, 3, 32, 32).contiguous()
    ours, labels = CifarBatchTransform(MEAN, STD, augment=True)((x, torch.zeros(n)), torch.Generator().manual_seed(1))
    assert ours.dtype == torch.float32 and ours.shape == tv_batch.shape and labels.shape == (n,)
    se = torch.sqrt(tv_batch.var(0) / n + ours.var(0) / n)
    z = (tv_batch.mean(0) - ours.mean(0)) / se
    assert z.abs().max() < 5.5, float(z.abs().max())  # 3072 pixels: |z| > 5.5 has probability ~1e-4 overall
    assert abs(float(z.mean())) < 0.1


def test_normalize_equals_to_tensor_then_normalize() -> None:
    x = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    ref = torch.stack([TF.normalize(TF.to_tensor(TF.to_pil_image(img)), MEAN, STD) for img in x])
    torch.testing.assert_close(Normalize(MEAN, STD)(x), ref, rtol=0, atol=2e-6)


def test_eval_transform_is_deterministic_and_channels_last_keeps_values() -> None:
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    plain, _ = CifarBatchTransform(MEAN, STD, augment=False)((x, None), None)
    cl, _ = CifarBatchTransform(MEAN, STD, augment=False, channels_last=True)((x, None), None)
    assert cl.is_contiguous(memory_format=torch.channels_last) and not plain.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(cl, plain, rtol=0, atol=0)
    torch.testing.assert_close(plain, Normalize(MEAN, STD)(x), rtol=0, atol=0)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_crop_flip_equals_torchvision_pad_crop_hflip_on_each_device(device: str) -> None:
    """Zero padding by 4, crop at the drawn offset, flip: as RandomCrop(32, padding=4) + hflip."""
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    dy, dx, flip = sample_crop_flip(64, torch.Generator().manual_seed(2))
    out = crop_flip(x.to(device), dy.to(device), dx.to(device), flip.to(device)).cpu()
    for i in range(64):
        ref = TF.crop(TF.pad(x[i], [4]), int(dy[i]), int(dx[i]), 32, 32)
        assert torch.equal(out[i], TF.hflip(ref) if flip[i] else ref), i
    assert {int(v) for v in dy} <= set(range(9)) and {int(v) for v in dx} <= set(range(9))
