"""Constructor validation: every bad argument raises ValueError naming it and its allowed range."""

from __future__ import annotations

import math

import pytest
import torch

import optimizers
from optimizers import REGISTRY, RAME, AdaBelief, AdaBound, AdaL, AdaMomentum, AdaRem, AdaRemS, NosAdam, Padam, Yogi

from .helpers import make_params

BAD_ARGS = [
    (RAME, "lr", -1.0),
    (RAME, "lr", math.nan),
    (RAME, "beta", 1.0),
    (RAME, "q", 1.0),
    (RAME, "q", -0.1),
    (RAME, "eta", 0.0),
    (RAME, "xi", -1e-3),
    (RAME, "weight_decay", -1.0),
    (RAME, "foreach", "yes"),
    (Padam, "partial", 0.0),
    (Padam, "partial", 0.6),
    (Padam, "betas", (0.9, 1.0)),
    (Padam, "betas", (0.9,)),
    (Padam, "betas", 0.9),
    (Padam, "eps", -1.0),
    (Padam, "amsgrad", "yes"),
    (Padam, "lr", "0.1"),
    (AdaMomentum, "betas", (-0.1, 0.9)),
    (AdaMomentum, "eps", -1e-8),
    (AdaMomentum, "decoupled_weight_decay", 1),
    (AdaRem, "decay", 1.5),
    (AdaRem, "eps", 0.0),
    (AdaRem, "beta", -0.1),
    (AdaRem, "weight_decay", -0.1),
    (AdaRemS, "radius", 0.0),
    (AdaRemS, "spherical", "yes"),
    (AdaL, "betas", [0.9, 1.5]),
    (AdaL, "eps", -1.0),
    (Yogi, "initial_accumulator", -1.0),
    (Yogi, "eps", -1.0),
    (AdaBound, "final_lr", -0.1),
    (AdaBound, "gamma", 1.0),
    (AdaBound, "lr", 0.0),
    (AdaBound, "amsbound", None),
    (AdaBelief, "rectify", "no"),
    (AdaBelief, "eps", -1.0),
    (AdaBelief, "weight_decouple", None),
    (NosAdam, "gamma", -0.5),
    (NosAdam, "beta1", 1.0),
    (NosAdam, "lr_decay", 0),
]


@pytest.mark.parametrize("cls, name, value", BAD_ARGS, ids=[f"{c.__name__}-{n}-{v!r}" for c, n, v in BAD_ARGS])
def test_bad_argument_raises_value_error_naming_it(cls, name, value):
    with pytest.raises(ValueError) as info:
        cls(make_params(), **{name: value})
    message = str(info.value)
    assert f"Invalid {name}" in message
    assert "allowed" in message


def test_message_states_the_allowed_range():
    with pytest.raises(ValueError, match=r"Invalid partial: 0\.7; allowed: 0\.0 < partial <= 0\.5"):
        Padam(make_params(), partial=0.7)
    with pytest.raises(ValueError, match=r"Invalid betas\[1\]: 1\.0; allowed: 0\.0 <= betas\[1\] < 1\.0"):
        AdaL(make_params(), betas=(0.9, 1.0))


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_defaults_construct(name):
    opt = REGISTRY[name](make_params())
    assert isinstance(opt, torch.optim.Optimizer)
    assert len(opt.param_groups) == 1


def test_param_group_options_are_validated_too():
    params = make_params()
    with pytest.raises(ValueError, match="Invalid q"):
        RAME([{"params": params[:2]}, {"params": params[2:], "q": 2.0}])
    opt = Padam(params[:2])
    with pytest.raises(ValueError, match="Invalid partial"):
        opt.add_param_group({"params": params[2:], "partial": 0.9})


def test_yaml_style_lists_are_accepted_and_normalised():
    opt = Padam(make_params(), betas=[0.9, 0.99])
    assert opt.param_groups[0]["betas"] == (0.9, 0.99)


def test_set_epoch_validates():
    opt = AdaRem(make_params())
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(ValueError, match="completed_epochs"):
            opt.set_epoch(bad)
    opt.set_epoch(3)
    assert all(g["epoch"] == 3 for g in opt.param_groups)


def test_complex_and_sparse_are_rejected():
    with pytest.raises(ValueError, match="complex"):
        optimizers.Yogi([torch.nn.Parameter(torch.zeros(2, dtype=torch.complex64))])
    p = torch.nn.Parameter(torch.zeros(3))
    p.grad = torch.zeros(3).to_sparse()
    with pytest.raises(RuntimeError, match="sparse"):
        optimizers.AdaL([p]).step()
