"""Convergence smoke tests: every optimizer solves a quadratic and the Rosenbrock valley.

Learning rates are per problem (like a tuned grid point); the bars are loose enough for
any correct implementation and far below what a wrong sign, a wrong scale or a stalled
state would reach.
"""

from __future__ import annotations

import pytest
import torch

import optimizers as O

# name: (class, kwargs for the quadratic, kwargs for Rosenbrock, Rosenbrock steps)
SETUPS = {
    "rame": (O.RAME, dict(lr=1e-2), dict(lr=3e-4), 2000),
    "rame-q0.125": (O.RAME, dict(lr=1e-2, q=0.125), dict(lr=1e-3, q=0.125), 2000),
    "padam": (O.Padam, dict(lr=0.1), dict(lr=0.05), 2000),
    "adamomentum": (O.AdaMomentum, dict(lr=0.1), dict(lr=0.03), 2000),
    "adarem": (O.AdaRem, dict(lr=0.05), dict(lr=1e-3), 3000),
    "adarems": (O.AdaRemS, dict(lr=0.05, spherical=False), dict(lr=1e-3), 3000),
    "adal": (O.AdaL, dict(lr=0.5, betas=(0.9, 0.99)), dict(lr=0.5, betas=(0.9, 0.99)), 2000),
    "yogi": (O.Yogi, dict(lr=0.1), dict(lr=0.1), 2000),
    "adabound": (O.AdaBound, dict(lr=0.1, final_lr=0.01), dict(lr=0.1, final_lr=0.01), 2000),
    "amsbound": (O.AdaBound, *[dict(lr=0.1, final_lr=0.01, amsbound=True)] * 2, 2000),
    "adabelief": (O.AdaBelief, dict(lr=0.1), dict(lr=0.01, betas=(0.9, 0.99)), 3000),
    "nosadam": (O.NosAdam, dict(lr=0.1), dict(lr=0.1), 2000),
}


def minimise(opt: torch.optim.Optimizer, loss_fn, steps: int, steps_per_epoch: int = 100) -> float:
    for t in range(steps):
        if hasattr(opt, "set_epoch"):
            opt.set_epoch(t // steps_per_epoch)
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
    with torch.no_grad():
        return loss_fn().item()


@pytest.mark.parametrize("name", list(SETUPS))
def test_quadratic(name):
    cls, kwargs, _, _ = SETUPS[name]
    generator = torch.Generator().manual_seed(0)
    curvature = torch.linspace(1, 10, 25).reshape(5, 5)
    target = torch.randn(5, 5, generator=generator)
    bias_curvature, bias_target = torch.linspace(1, 10, 5), torch.randn(5, generator=generator)
    x, b = torch.nn.Parameter(torch.zeros(5, 5)), torch.nn.Parameter(torch.zeros(5))

    def loss():
        return 0.5 * (curvature * (x - target) ** 2).sum() + 0.5 * (bias_curvature * (b - bias_target) ** 2).sum()

    start = loss().item()
    final = minimise(cls([x, b], **kwargs), loss, steps=300, steps_per_epoch=30)
    assert final < 1e-4 * start


@pytest.mark.parametrize("name", list(SETUPS))
def test_rosenbrock(name):
    cls, _, kwargs, steps = SETUPS[name]
    w = torch.nn.Parameter(torch.tensor([-1.5, 2.0]))

    def loss():
        return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2

    assert loss().item() == pytest.approx(12.5)
    final = minimise(cls([w], **kwargs), loss, steps=steps)
    assert final < 1e-2
    assert torch.dist(w.detach(), torch.ones(2)) < 0.25


def test_adarems_on_the_sphere_finds_the_target_direction():
    """A scale-invariant loss (the case AdaRem-S is for): the spherical weight turns to the target."""
    generator = torch.Generator().manual_seed(1)
    w = torch.nn.Parameter(torch.randn(4, 6, generator=generator))
    target = torch.randn(4, 6, generator=generator)
    target /= target.norm()

    def loss():
        return 0.5 * ((w / w.norm() - target) ** 2).sum()

    start = loss().item()
    radius = w.detach().norm()
    final = minimise(O.AdaRemS([w], lr=0.5, weight_decay=5e-4), loss, steps=300, steps_per_epoch=30)
    assert final < 1e-4 * start
    torch.testing.assert_close(w.detach().norm(), radius, rtol=1e-5, atol=0)
