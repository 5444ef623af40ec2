"""Model builders: parameter counts against published numbers, stems, forward/backward passes.

Each CIFAR count is checked twice: against the rounded number the architecture's paper or
official code publishes, and exactly against a layer-by-layer count written from the
official source's layer list (independent arithmetic, not the module under test).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import ResNet as TorchvisionResNet

from tasks.vision import cifar_models as cm
from tasks.vision import imagenet_models as im


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv(cin: int, cout: int, k: int, bias: bool = False) -> int:
    return k * k * cin * cout + (cout if bias else 0)


def bn(c: int) -> int:
    return 2 * c


def linear(i: int, o: int) -> int:
    return i * o + o


VGG16_WIDTHS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)


def count_vgg16_bn_cifar(classes: int) -> int:
    """uclaml/Padam models/vgg.py: 13 x (conv3x3 with bias + BN), Linear(512, classes)."""
    total, cin = 0, 3
    for w in VGG16_WIDTHS:
        total, cin = total + conv(cin, w, 3, bias=True) + bn(w), w
    return total + linear(512, classes)


def count_kuangliu_resnet(blocks: tuple[int, ...], classes: int) -> int:
    """kuangliu ResNet: conv3x3(3,64)+BN; BasicBlocks; 1x1 conv+BN shortcut on shape change; Linear(512)."""
    total, cin = conv(3, 64, 3) + bn(64), 64
    for planes, n in zip((64, 128, 256, 512), blocks):
        for _ in range(n):
            total += conv(cin, planes, 3) + bn(planes) + conv(planes, planes, 3) + bn(planes)
            if cin != planes:
                total += conv(cin, planes, 1) + bn(planes)
            cin = planes
    return total + linear(512, classes)


def count_kuangliu_densenet(growth: int, classes: int) -> int:
    """kuangliu DenseNet121: conv3x3(3, 2g); bottlenecks BN-1x1(4g)-BN-3x3(g); BN-1x1 transitions (x0.5)."""
    planes = 2 * growth
    total = conv(3, planes, 3)
    for i, n in enumerate((6, 12, 24, 16)):
        for _ in range(n):
            total += bn(planes) + conv(planes, 4 * growth, 1) + bn(4 * growth) + conv(4 * growth, growth, 3)
            planes += growth
        if i < 3:
            total += bn(planes) + conv(planes, planes // 2, 1)
            planes //= 2
    return total + bn(planes) + linear(planes, classes)


def count_resnet20_option_a(classes: int) -> int:
    """He et al. 2016 Sec. 4.2: conv3x3(3,16)+BN, 3 stages x 3 blocks x 2 (conv3x3+BN) at 16/32/64, FC."""
    total, cin = conv(3, 16, 3) + bn(16), 16
    for planes in (16, 32, 64):
        for _ in range(3):
            total += conv(cin, planes, 3) + bn(planes) + conv(planes, planes, 3) + bn(planes)
            cin = planes
    return total + linear(64, classes)


def count_padam_wrn(depth: int, k: int, classes: int) -> int:
    """uclaml/Padam models/wideresnet.py WResNet_cifar10: conv3x3(3,16k)+BN, (depth-4)/6 BasicBlocks per stage."""
    n = (depth - 4) // 6
    total, cin = conv(3, 16 * k, 3) + bn(16 * k), 16 * k
    for planes in (16 * k, 32 * k, 64 * k):
        for _ in range(n):
            total += conv(cin, planes, 3) + bn(planes) + conv(planes, planes, 3) + bn(planes)
            if cin != planes:
                total += conv(cin, planes, 1) + bn(planes)
            cin = planes
    return total + linear(64 * k, classes)


# (builder kwargs, exact layer-by-layer count, published rounded count, relative tolerance, source)
CIFAR_CASES = {
    # 14.7M: kuangliu/pytorch-cifar VGG16 as in uclaml/Padam (commonly quoted 14.7M).
    "vgg16": (cm.vgg16, {}, count_vgg16_bn_cifar(10), 14.7e6, 0.005),
    # 11.2M / 21.3M: kuangliu CIFAR ResNet-18/34 (AdaBound demo, Padam code).
    "resnet18": (cm.resnet18, {}, count_kuangliu_resnet((2, 2, 2, 2), 10), 11.2e6, 0.005),
    "resnet34": (cm.resnet34, {}, count_kuangliu_resnet((3, 4, 6, 3), 10), 21.3e6, 0.005),
    # 7.0M: kuangliu DenseNet121 (growth 32, AdaBound demo); 1.0M with AdaMomentum's growth 12.
    "densenet121": (cm.densenet121, {}, count_kuangliu_densenet(32, 10), 7.0e6, 0.01),
    "densenet121_g12": (cm.densenet121, {"growth_rate": 12}, count_kuangliu_densenet(12, 10), 1.0e6, 0.01),
    # 0.27M: He et al. 2016, Table 6 (ResNet-20).
    "resnet20": (cm.resnet20, {}, count_resnet20_option_a(10), 0.27e6, 0.01),
    # 0.27M: Keras examples/cifar10_resnet.py docstring ("ResNet20 0.27M"); + 1x1 projections and conv biases.
    "resnet20_keras": (cm.resnet20_keras, {}, count_resnet20_option_a(10) + linear(16, 32) + linear(32, 64) + 16 + 6 * (16 + 32 + 64), 0.27e6, 0.02),
    # 2.7M: Zagoruyko & Komodakis 2016 (WRN-16-4); Padam's variant (64-channel stem, post-activation) is 1% larger.
    "wrn16_4": (cm.wrn16_4, {}, count_padam_wrn(16, 4, 10), 2.7e6, 0.03),
}


@pytest.mark.parametrize("name", sorted(CIFAR_CASES))
def test_cifar_parameter_counts(name: str) -> None:
    build, kw, exact, published, tol = CIFAR_CASES[name]
    got = n_params(build(10, **kw))
    assert got == exact
    assert abs(got - published) / published < tol, (got, published)


def test_rame_keras_models_parameter_counts() -> None:
    # geifmany/cifar-vgg: 13 x (conv3x3 with bias + BN), Dense(512,512), BN(512), Dense(512,10).
    vgg = count_vgg16_bn_cifar(10) - linear(512, 10) + linear(512, 512) + bn(512) + linear(512, 10)
    assert n_params(cm.vgg16_keras(10)) == vgg
    # Keras' model.summary() also counts BN moving mean/variance: 2 per BN channel.
    buffers = sum(b.numel() for name, b in cm.vgg16_keras(10).named_buffers() if "running" in name)
    assert buffers == 2 * (sum(VGG16_WIDTHS) + 512)
    # aidiary/keras-examples mlp/cifar10.py: Dense 3072->1024->512->512->10.
    assert n_params(cm.mlp_keras(10)) == linear(3072, 1024) + linear(1024, 512) + linear(512, 512) + linear(512, 10) == 3_939_338


def test_cifar100_heads_are_wider() -> None:
    assert n_params(cm.vgg16(100)) == count_vgg16_bn_cifar(100)
    assert n_params(cm.resnet34(100)) == count_kuangliu_resnet((3, 4, 6, 3), 100)
    assert n_params(cm.densenet121(100)) == count_kuangliu_densenet(32, 100)


# torchvision's published parameter counts (model docs, weights ``meta["num_params"]``).
IMAGENET_COUNTS = {
    "resnet18": (im.resnet18, {}, 11_689_512),
    "resnet50": (im.resnet50, {}, 25_557_032),
    "mobilenet_v2": (im.mobilenet_v2, {}, 3_504_872),
    "shufflenet_v2_x1_0": (im.shufflenet_v2, {"width": 1.0}, 2_278_604),
    "shufflenet_v2_x0_5": (im.shufflenet_v2, {"width": 0.5}, 1_366_792),
}


@pytest.mark.parametrize("name", sorted(IMAGENET_COUNTS))
def test_imagenet_parameter_counts(name: str) -> None:
    build, kw, published = IMAGENET_COUNTS[name]
    assert n_params(build(1000, **kw)) == published


def test_vgg16_bn_imagenet_parameter_count() -> None:
    assert n_params(im.vgg16_bn(1000)) == 138_365_992  # torchvision vgg16_bn docs


def test_mobilenet_v2_half_width_matches_reference_implementation() -> None:
    # TF-slim MobileNetV2 checkpoints table: 1.95M (width 0.5) and 3.47M (width 1.0) at 224 px.
    # torchvision's layout is 1.0% above TF-slim at width 1.0 (3,504,872 vs 3.47M); same at 0.5.
    got = n_params(im.mobilenet_v2(1000, width_mult=0.5))
    assert abs(got / 1.95e6 - 1) < 0.015
    assert got < n_params(im.mobilenet_v2(1000)) / 1.7
    # The last 1x1 conv keeps 1280 channels for widths < 1 (Sandler et al. 2018, Sec. 5.1).
    assert im.mobilenet_v2(1000, width_mult=0.5).classifier[-1].in_features == 1280


def test_stem_follows_input_shape() -> None:
    assert isinstance(cm.resnet18(10, input_shape=[3, 32, 32]), cm.CifarResNet)
    assert isinstance(cm.resnet18(10, input_shape=[3, 64, 64]), cm.CifarResNet)
    tv = cm.resnet18(1000, input_shape=[3, 224, 224])
    assert isinstance(tv, TorchvisionResNet) and tv.conv1.kernel_size == (7, 7)
    assert n_params(cm.vgg16(1000, input_shape=(3, 224, 224))) == 138_365_992  # -> vgg16_bn
    assert isinstance(cm.resnet34(10, input_shape=[3, 224, 224], stem="cifar"), cm.CifarResNet)
    assert isinstance(cm.resnet18(10, input_shape=[3, 32, 32], stem="imagenet"), TorchvisionResNet)
    with pytest.raises(ValueError, match="model.stem"):
        cm.resnet18(10, stem="tiny")
    with pytest.raises(ValueError, match="growth_rate"):
        cm.densenet121(1000, growth_rate=12, input_shape=[3, 224, 224])
    with pytest.raises(ValueError, match="model.width"):
        im.shufflenet_v2(1000, width=0.75)


def test_resnet20_option_a_shortcut_has_no_parameters() -> None:
    model = cm.resnet20(10)
    shortcuts = [m.shortcut for m in model.modules() if isinstance(m, cm.ThinBlock)]
    assert sum(isinstance(s, cm.OptionAShortcut) for s in shortcuts) == 2
    assert all(n_params(s) == 0 for s in shortcuts)
    x = torch.randn(2, 16, 8, 8)
    out = cm.OptionAShortcut(16)(x)  # 16 -> 32 channels: subsample 2x, 8 zero channels each side
    assert out.shape == (2, 32, 4, 4)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2]) and not out[:, :8].any() and not out[:, 24:].any()


CIFAR_BUILDERS = ["vgg16", "vgg16_keras", "resnet18", "resnet34", "resnet20", "resnet20_keras", "wrn16_4", "densenet121", "mlp_keras"]


@pytest.mark.parametrize("name", CIFAR_BUILDERS)
def test_cifar_models_train_step(name: str) -> None:
    torch.manual_seed(0)
    model = getattr(cm, name)(100)
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 100, (4,))
    logits = model(x)
    assert logits.shape == (4, 100) and torch.isfinite(logits).all()
    nn.functional.cross_entropy(logits, y).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name,kw", [("resnet18", {}), ("resnet50", {}), ("mobilenet_v2", {"width_mult": 0.5}), ("shufflenet_v2", {"width": 0.5}), ("vgg16_bn", {})])
def test_imagenet_models_forward_small_input(name: str, kw: dict) -> None:
    model = getattr(im, name)(7, **kw).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 7)


@pytest.mark.slow
@pytest.mark.parametrize("name,kw", [("resnet18", {}), ("resnet50", {}), ("mobilenet_v2", {}), ("mobilenet_v2", {"width_mult": 0.5}), ("shufflenet_v2", {"width": 1.0}), ("shufflenet_v2", {"width": 0.5}), ("vgg16_bn", {})])
def test_imagenet_models_forward_224(name: str, kw: dict) -> None:
    model = getattr(im, name)(1000, **kw).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 224, 224)).shape == (2, 1000)
