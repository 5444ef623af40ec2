"""AdaRem-S spheres only the scale-invariant weights: conv/linear weights that feed a BatchNorm.
The classifier, every bias and BatchNorm's own parameters stay Euclidean (AdaRem Sec. 3.3)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import resnet18 as tv_resnet18

from optimizers import SHB, AdaRemS
from tasks.classification import ClassificationModule
from tasks.param_groups import scale_invariant_weights, spherical_param_groups
from tasks.vision.cifar_models import resnet18 as cifar_resnet18
from tasks.vision.cifar_models import vgg16_keras


def _expected_convs(model: nn.Module) -> set[str]:
    return {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


@pytest.mark.parametrize("make", [lambda: tv_resnet18(num_classes=10), lambda: cifar_resnet18(10)],
                         ids=["torchvision", "ours"])
def test_resnet_convs_are_spherical_classifier_and_biases_are_not(make):
    model = make()
    names, method = scale_invariant_weights(model)
    assert method == "fx"
    assert set(names) == _expected_convs(model)  # every conv of a ResNet (downsample included) feeds a BN
    classifier = "fc.weight" if "fc.weight" in dict(model.named_parameters()) else "linear.weight"
    assert classifier in dict(model.named_parameters()) and classifier not in names
    assert not any(n.endswith(".bias") for n in names)
    assert not any("bn" in n for n in names)


def test_conv_followed_by_relu_then_bn_is_not_scale_invariant():
    model = vgg16_keras(10)  # Keras blocks: Conv(bias) -> ReLU -> BN
    assert scale_invariant_weights(model)[0] == []


def test_module_order_fallback_and_explicit_list():
    class Untraceable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn, self.head = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2)

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: fx cannot trace it
                x = x * 2
            return self.head(self.bn(self.conv(x)).mean((2, 3)))

    names, method = scale_invariant_weights(Untraceable())
    assert (names, method) == (["conv.weight"], "module order")
    assert scale_invariant_weights(Untraceable(), ["head.weight"]) == (["head.weight"], "explicit")
    with pytest.raises(ValueError, match="'nope' is not a parameter"):
        scale_invariant_weights(Untraceable(), ["nope"])


def _module(model, factory):
    return ClassificationModule(model, optimizer_factory=lambda params, role="model": factory(params))


def test_classification_task_gives_adarems_the_split_and_records_it():
    model = cifar_resnet18(10)
    module = _module(model, lambda p: AdaRemS(p, lr=0.1))
    optimizer = module.configure_optimizers()
    sphere, plane = optimizer.param_groups
    assert sphere["spherical"] is True and plane["spherical"] is False
    params = dict(model.named_parameters())
    assert {id(p) for p in sphere["params"]} == {id(params[n]) for n in _expected_convs(model)}
    assert params["linear.weight"] is not None and any(p is params["linear.weight"] for p in plane["params"])
    extras = module.record_extras()["spherical"]
    assert "linear.weight" in extras["euclidean"] and "linear.bias" in extras["euclidean"]
    assert set(extras["spherical"]) == _expected_convs(model) and extras["method"] == "fx"
    # the classifier really is Euclidean in the optimizer: no radius state after a step
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    optimizer.step()
    assert "radius" not in optimizer.state[params["linear.weight"]]
    assert "radius" in optimizer.state[params["conv1.weight"]]


def test_other_optimizers_keep_one_group_and_no_extras():
    module = _module(cifar_resnet18(10), lambda p: SHB(p, lr=0.1))
    optimizer = module.configure_optimizers()
    assert len(optimizer.param_groups) == 1 and module.record_extras() is None


def test_param_groups_drop_an_empty_group():
    groups, info = spherical_param_groups(nn.Linear(3, 2))
    assert [g["spherical"] for g in groups] == [False] and info["spherical"] == []
