"""Conformance: each optimizer against its reference, side by side on the same gradients.

Yogi, AdaBound/AMSBound and AdaBelief run against the installed reference packages
(torch_optimizer 0.3.0, adabound 0.0.5, adabelief-pytorch 0.2.1); the others against the
straight-line transcriptions in ``reference.py``. Runs are float64 so that any difference
beyond op-order rounding shows up.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable

import pytest
import torch

import optimizers

from . import reference
from .helpers import clone_params, grad_stream, make_params, set_grads

F64 = torch.float64
TOL = dict(rtol=1e-9, atol=1e-12)


def against_transcription(make: Callable, ref_cls: type, hp: dict, steps: int = 10, epochs: bool = False, shapes=None):
    for foreach in (False, True):
        kwargs = {} if shapes is None else {"shapes": shapes}
        params = make_params(seed=11, dtype=F64, **kwargs)
        ref_params = [p.detach().clone() for p in params]
        opt = make(params, foreach=foreach)
        ref = ref_cls(ref_params, **hp)
        grads = grad_stream(params, seed=12)
        for t in range(steps):
            step_grads = next(grads)
            if epochs:
                opt.set_epoch(t // 3)
                ref.epoch = t // 3
            set_grads(params, step_grads)
            opt.step()
            ref.step(step_grads)
            for a, b in zip(params, ref_params):
                torch.testing.assert_close(a.detach(), b, **TOL)


def against_package(make: Callable, make_reference: Callable, steps: int = 12, change_lr_at: int | None = None):
    for foreach in (False, True):
        params = make_params(seed=13, dtype=F64)
        ref_params = clone_params(params)
        opt = make(params, foreach=foreach)
        with contextlib.redirect_stdout(io.StringIO()):
            ref = make_reference(ref_params)
        grads = grad_stream(params, seed=14)
        for t in range(steps):
            if t == change_lr_at:  # an LR schedule acting on both
                for group in opt.param_groups + ref.param_groups:
                    group["lr"] *= 0.5
            step_grads = next(grads)
            set_grads(params, step_grads)
            set_grads(ref_params, step_grads)
            opt.step()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref.step()
            for a, b in zip(params, ref_params):
                torch.testing.assert_close(a.detach(), b.detach(), **TOL)


# ------------------------------------------------------------------ reference packages


@pytest.mark.parametrize(
    "kwargs", [{}, {"weight_decay": 0.1, "eps": 1e-6, "initial_accumulator": 0.0}, {"betas": (0.5, 0.9)}]
)
def test_yogi_matches_torch_optimizer(kwargs):
    torch_optimizer = pytest.importorskip("torch_optimizer")
    kwargs = {"lr": 1e-2, **kwargs}
    against_package(lambda ps, **k: optimizers.Yogi(ps, **kwargs, **k), lambda ps: torch_optimizer.Yogi(ps, **kwargs))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"amsbound": True}, {"weight_decay": 1e-2, "gamma": 0.1, "final_lr": 0.05}, {"amsbound": True, "gamma": 0.5}],
    ids=["adabound", "amsbound", "adabound-wd-gamma", "amsbound-fast-bounds"],
)
def test_adabound_matches_package(kwargs):
    adabound = pytest.importorskip("adabound")
    kwargs = {"lr": 1e-2, **kwargs}
    against_package(
        lambda ps, **k: optimizers.AdaBound(ps, **kwargs, **k),
        lambda ps: adabound.AdaBound(ps, **kwargs),
        change_lr_at=6,  # final_lr follows the schedule through lr/base_lr
    )


ADABELIEF_FLAGS = [
    {},
    {"rectify": False},
    {"rectify": False, "amsgrad": True},
    {"amsgrad": True},
    {"weight_decouple": False, "weight_decay": 0.1},
    {"weight_decay": 0.1},
    {"weight_decay": 0.1, "fixed_decay": True},
    {"degenerated_to_sgd": False, "eps": 1e-8},
]


@pytest.mark.parametrize(
    "kwargs", ADABELIEF_FLAGS, ids=[",".join(f"{k}={v}" for k, v in f.items()) or "defaults" for f in ADABELIEF_FLAGS]
)
def test_adabelief_matches_package(kwargs):
    adabelief_pytorch = pytest.importorskip("adabelief_pytorch")
    kwargs = {"lr": 1e-2, **kwargs}
    against_package(
        lambda ps, **k: optimizers.AdaBelief(ps, **kwargs, **k),
        lambda ps: adabelief_pytorch.AdaBelief(ps, print_change_log=False, **kwargs),
        steps=12,  # rectification switches on at step 6 for beta2 = 0.999
    )


# ------------------------------------------------------------------ transcriptions


@pytest.mark.parametrize(
    "hp",
    [
        dict(partial=0.125, amsgrad=True, weight_decay=0.0),
        dict(partial=0.25, amsgrad=False, weight_decay=5e-3),
        dict(partial=0.2, amsgrad=True, weight_decay=0.0),
        dict(partial=0.5, amsgrad=True, weight_decay=1e-3),
        dict(partial=0.0625, amsgrad=False, weight_decay=0.0),
    ],
)
def test_padam_matches_official_code(hp):
    hp = dict(lr=0.05, betas=(0.9, 0.999), eps=1e-8, **hp)
    against_transcription(lambda ps, **k: optimizers.Padam(ps, **hp, **k), reference.PadamOfficial, hp)


@pytest.mark.parametrize(
    "hp",
    [
        dict(weight_decay=0.0, decoupled_weight_decay=False),
        dict(weight_decay=0.01, decoupled_weight_decay=False),
        dict(weight_decay=0.1, decoupled_weight_decay=True),
    ],
    ids=["plain", "l2", "decoupled"],
)
def test_adamomentum_matches_official_code(hp):
    hp = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, **hp)
    against_transcription(lambda ps, **k: optimizers.AdaMomentum(ps, **hp, **k), reference.AdaMomentumOfficial, hp)


@pytest.mark.parametrize(
    "hp",
    [
        dict(q=0.25, xi=0.0, eta=1.0, weight_decay=0.0),
        dict(q=0.125, xi=0.0, eta=1.0, weight_decay=0.0),
        dict(q=0.5, xi=0.1, eta=1.0, weight_decay=0.01),
        dict(q=0.3, xi=0.0, eta=0.5, weight_decay=0.0),
        dict(q=0.7, xi=1e-3, eta=2.0, weight_decay=0.0),
        dict(q=0.0, xi=0.5, eta=1.0, weight_decay=0.0),
    ],
)
def test_rame_matches_paper(hp):
    hp = dict(lr=1e-2, beta=0.9, **hp)
    against_transcription(lambda ps, **k: optimizers.RAME(ps, **hp, **k), reference.RAMEPaper, hp)


@pytest.mark.parametrize(
    "hp", [dict(decay=0.999, weight_decay=0.0), dict(decay=0.5, weight_decay=0.01), dict(decay=0.0, weight_decay=0.0)]
)
def test_adarem_matches_paper(hp):
    hp = dict(lr=0.05, beta=0.9, eps=1e-8, **hp)
    against_transcription(lambda ps, **k: optimizers.AdaRem(ps, **hp, **k), reference.AdaRemPaper, hp, epochs=True)


@pytest.mark.parametrize(
    "hp",
    [dict(weight_decay=0.0, radius=None), dict(weight_decay=0.05, radius=None), dict(weight_decay=0.01, radius=3.0)],
)
def test_adarems_matches_algorithm_2(hp):
    hp = dict(lr=0.05, beta=0.9, eps=1e-8, decay=0.5, **hp)
    shapes = ((6, 5), (3, 2, 3, 3))  # ndim >= 2: spherical by default
    against_transcription(
        lambda ps, **k: optimizers.AdaRemS(ps, **hp, **k), reference.AdaRemSPaper, hp, epochs=True, shapes=shapes
    )


def test_adarems_non_spherical_tensors_follow_adarem():
    shapes = ((6,), (), (4, 3))
    hp = dict(lr=0.05, decay=0.5, weight_decay=0.01)
    against_transcription(
        lambda ps, **k: optimizers.AdaRemS(ps, spherical=False, **hp, **k),
        reference.AdaRemPaper,
        dict(beta=0.9, eps=1e-8, **hp),
        epochs=True,
        shapes=shapes,
    )


@pytest.mark.parametrize("hp", [dict(weight_decay=0.0), dict(weight_decay=0.1)])
def test_adal_matches_paper(hp):
    hp = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, **hp)
    against_transcription(lambda ps, **k: optimizers.AdaL(ps, **hp, **k), reference.AdaLPaper, hp)


@pytest.mark.parametrize(
    "hp",
    [
        dict(gamma=0.1, lr_decay=False, weight_decay=0.0),
        dict(gamma=0.0, lr_decay=True, weight_decay=1e-2),
        dict(gamma=2.0, lr_decay=False, weight_decay=0.0),
    ],
)
def test_nosadam_matches_official_code(hp):
    hp = dict(lr=1e-2, beta1=0.9, eps=1e-8, **hp)
    against_transcription(lambda ps, **k: optimizers.NosAdam(ps, **hp, **k), reference.NosAdamOfficial, hp)
