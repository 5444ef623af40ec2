"""SHB (RAME's heavy ball, lr inside the momentum): hand computation, the difference to
torch.optim.SGD after an lr drop, both code paths, validation and state_dict round trip."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from optimizers import REGISTRY, SHB

from .helpers import grad_stream, make_params, set_grads


def test_registered():
    assert REGISTRY["shb"] is SHB


def test_hand_computed_steps_with_l2():
    x = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = SHB([x], lr=0.5, momentum=0.9, weight_decay=0.1, foreach=False)
    x.grad = torch.tensor([2.0, 4.0])
    opt.step()
    # g' = g + 0.1 x = [2.1, 3.8]; m = 0.5 g' = [1.05, 1.9]; x = [-0.05, -3.9]
    assert torch.allclose(x, torch.tensor([-0.05, -3.9]))
    opt.param_groups[0]["lr"] = 0.05  # an lr drop
    x.grad = torch.tensor([1.0, 0.0])
    opt.step()
    # g' = [1 - 0.005, -0.39]; m = 0.9 [1.05, 1.9] + 0.05 g' = [0.99475, 1.6905]
    m = torch.tensor([0.9 * 1.05 + 0.05 * 0.995, 0.9 * 1.9 + 0.05 * (-0.39)])
    assert torch.allclose(opt.state[x]["momentum_buffer"], m)
    assert torch.allclose(x, torch.tensor([-0.05, -3.9]) - m)


def _run(make, lrs):
    params = make_params(dtype=torch.float64)
    opt = make(params)
    grads = grad_stream(params, seed=3)
    for lr in lrs:
        for group in opt.param_groups:
            group["lr"] = lr
        set_grads(params, next(grads))
        opt.step()
    return params


def test_equals_torch_sgd_at_constant_lr_and_differs_after_a_drop():
    constant = [0.1] * 6
    ours = _run(lambda p: SHB(p, lr=0.1, momentum=0.9), constant)
    sgd = _run(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), constant)
    for a, b in zip(ours, sgd):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    dropped = [0.1] * 3 + [0.01] * 3
    ours = _run(lambda p: SHB(p, lr=0.1, momentum=0.9), dropped)
    sgd = _run(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), dropped)
    # torch rescales the whole buffer by the new lr at the drop; SHB keeps the old steps: it moves further
    gap = max(float((a - b).abs().max()) for a, b in zip(ours, sgd))
    assert gap > 1e-3


def test_step_after_drop_is_the_decayed_old_momentum_plus_new_step():
    x = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    shb = SHB([x], lr=1.0, momentum=0.5)
    x.grad = torch.ones(1, dtype=torch.float64)
    shb.step()  # m = 1
    shb.param_groups[0]["lr"] = 0.1
    shb.step()  # m = 0.5 + 0.1 = 0.6 (torch SGD would step 0.1 * (0.5 + 1) = 0.15)
    assert math.isclose(float(x), -1.6)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_foreach_matches_per_tensor(weight_decay):
    lrs = [0.1, 0.1, 0.05, 0.05, 0.01]
    a = _run(lambda p: SHB(p, lr=0.1, weight_decay=weight_decay, foreach=True), lrs)
    b = _run(lambda p: SHB(p, lr=0.1, weight_decay=weight_decay, foreach=False), lrs)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-14)


@pytest.mark.parametrize("key,value", [("lr", -1.0), ("momentum", 1.0), ("momentum", -0.1),
                                       ("weight_decay", -1.0), ("foreach", "yes")])
def test_validation_names_the_key(key, value):
    with pytest.raises(ValueError, match=f"Invalid {key}"):
        SHB(make_params(), **{key: value})


def test_state_dict_round_trip_continues_identically():
    params = make_params(dtype=torch.float64)
    opt = SHB(params, lr=0.1)
    grads = grad_stream(params, seed=5)
    for _ in range(3):
        set_grads(params, next(grads))
        opt.step()
    clone = [torch.nn.Parameter(p.detach().clone()) for p in params]
    opt2 = SHB(clone, lr=0.1)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))  # load_state_dict may share tensors
    for _ in range(2):
        g = next(grads)
        set_grads(params, g)
        set_grads(clone, g)
        opt.step()
        opt2.step()
    for a, b in zip(params, clone):
        assert torch.equal(a, b)
