"""SN-GAN architecture: the reference's sizes, spectral norm on every D layer, conditioning, losses."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm

from tasks.gan.losses import hinge_d_loss, hinge_g_loss
from tasks.gan.models import sngan_resnet


def _weighted_layers(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding))]


def test_parameter_counts_equal_the_reference_runs_log() -> None:
    # logs/SNGAN-adabelief-train-*.log of juntang-zhuang/SNGAN-AdaBelief prints
    # "Number of parameters: 4304387" (Generator) and "1055105" (Discriminator)
    model = sngan_resnet(num_classes=10)
    assert sum(p.numel() for p in model.generator.parameters()) == 4_304_387
    assert sum(p.numel() for p in model.discriminator.parameters()) == 1_055_105


def test_spectral_norm_is_active_on_every_discriminator_layer_and_none_of_the_generator() -> None:
    torch.manual_seed(0)
    model = sngan_resnet(num_classes=10, g_channels=16, d_channels=16)
    layers = _weighted_layers(model.discriminator)
    # the 12 SN_of_dis_* layers of the reference log: blocks 1-2 three convs each, blocks 3-4 two, linear, embedding
    assert len(layers) == 3 + 3 + 2 + 2 + 2
    for layer in layers:
        assert parametrize.is_parametrized(layer, "weight")
        assert any(isinstance(p, _SpectralNorm) for p in layer.parametrizations.weight)
    assert not any(parametrize.is_parametrized(m) for m in _weighted_layers(model.generator))

    disc = model.discriminator.train()
    with torch.no_grad():  # orthogonal init has sigma 1 already: make the raw weights 3x too large
        for layer in layers:
            layer.parametrizations.weight.original.mul_(3.0)
    x, y = torch.randn(4, 3, 32, 32), torch.randint(10, (4,))
    for _ in range(30):  # power iterations run in training-mode forwards
        disc(x, y)
    disc.eval()
    with torch.no_grad():
        for layer in layers:
            w = layer.weight  # the normalised weight
            assert torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2).item() == pytest.approx(1.0, abs=2e-2)
            raw = layer.parametrizations.weight.original
            assert torch.linalg.matrix_norm(raw.reshape(raw.shape[0], -1), ord=2).item() == pytest.approx(3.0, rel=1e-3)


def test_generator_shapes_range_and_class_conditioning() -> None:
    torch.manual_seed(0)
    model = sngan_resnet(num_classes=10, z_dim=8, g_channels=16, d_channels=16).eval()
    z = torch.randn(4, 8)
    images = model.generator(z, torch.tensor([0, 1, 2, 3]))
    assert images.shape == (4, 3, 32, 32) and images.abs().max() <= 1.0
    other = model.generator(z, torch.tensor([5, 5, 5, 5]))
    assert not torch.allclose(images, other)  # conditional BN depends on the label
    d0 = model.discriminator(images, torch.tensor([0, 0, 0, 0]))
    d1 = model.discriminator(images, torch.tensor([1, 1, 1, 1]))
    assert d0.shape == (4,) and not torch.allclose(d0, d1)  # the projection term depends on the label


def test_unconditional_switch_drops_class_embeddings() -> None:
    torch.manual_seed(0)
    model = sngan_resnet(num_classes=10, conditional=False, z_dim=8, g_channels=16, d_channels=16).eval()
    assert model.num_classes is None
    assert not any(isinstance(m, nn.Embedding) for m in model.modules())
    images = model.generator(torch.randn(3, 8))
    assert images.shape == (3, 3, 32, 32) and model.discriminator(images).shape == (3,)


def test_fit_check_forward_rejects_images_of_another_size() -> None:
    model = sngan_resnet(num_classes=10, g_channels=16, d_channels=16)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2,)
    with pytest.raises(ValueError, match=r"generator makes \(3, 32, 32\)"):
        model(torch.zeros(2, 3, 64, 64))


def test_hinge_losses_match_a_hand_computation() -> None:
    real = torch.tensor([2.0, 0.5, -1.0])
    fake = torch.tensor([-2.0, 0.0, 0.5])
    # D: mean(relu(1 - real)) = mean(0, 0.5, 2) = 5/6; mean(relu(1 + fake)) = mean(0, 1, 1.5) = 5/6
    assert hinge_d_loss(real, fake).item() == pytest.approx(5 / 3)
    # G: -mean(fake) = -(-1.5 / 3)
    assert hinge_g_loss(fake).item() == pytest.approx(0.5)
