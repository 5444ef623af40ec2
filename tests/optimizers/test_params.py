"""Param groups, parameters without grads, requires_grad=False, bfloat16, closures."""

from __future__ import annotations

import pytest
import torch

from .helpers import CASE_IDS, CASES, advance_epoch, clone_params, grad_stream, make_params, run_case, set_grads


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_params_without_grads_are_untouched_and_stateless(case):
    params = make_params()
    frozen = torch.nn.Parameter(torch.ones(3, 3), requires_grad=False)
    unused = torch.nn.Parameter(torch.full((4,), 2.0))
    frozen_before, unused_before = frozen.detach().clone(), unused.detach().clone()
    opt = case.make(params + [frozen, unused])
    grads = grad_stream(params)
    for t in range(4):
        advance_epoch(opt, t)
        set_grads(params, next(grads))
        opt.step()
    assert torch.equal(frozen, frozen_before)
    assert torch.equal(unused, unused_before)
    assert frozen not in opt.state and unused not in opt.state
    assert all(p in opt.state for p in params)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_param_groups_equal_separate_optimizers(case):
    """Two groups with their own lr behave like two optimizers, one per group."""
    params = make_params(seed=7)
    first, second = clone_params(params[:2]), clone_params(params[2:])
    lr = case.kwargs.get("lr", case.cls(make_params()).defaults["lr"])
    grouped = case.make([{"params": params[:2]}, {"params": params[2:], "lr": lr / 3}])
    separate = [case.make(first), case.make(second, lr=lr / 3)]
    grads = grad_stream(params, seed=8)
    for t in range(5):
        step_grads = next(grads)
        for opt in [grouped, *separate]:
            advance_epoch(opt, t)
        set_grads(params, step_grads)
        set_grads(first, step_grads[:2])
        set_grads(second, step_grads[2:])
        grouped.step()
        for opt in separate:
            opt.step()
    for a, b in zip(params, first + second):
        assert torch.equal(a, b)


@pytest.mark.parametrize("foreach", [False, True], ids=["per-tensor", "foreach"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_bfloat16_keeps_dtype_and_tracks_float32(case, foreach):
    low, opt = run_case(case, steps=4, dtype=torch.bfloat16, foreach=foreach)
    # float32 run from the same (bfloat16-representable) start and gradients
    high_params = [torch.nn.Parameter(p.detach().float()) for p in run_case(case, steps=0, dtype=torch.bfloat16)[0]]
    high = case.make(high_params, foreach=foreach)
    grads = grad_stream(high_params, seed=1, dtype=torch.bfloat16)
    for t in range(4):
        advance_epoch(high, t)
        set_grads(high_params, [g.float() for g in next(grads)])
        high.step()
    for p, q in zip(low, high_params):
        assert p.dtype == torch.bfloat16
        assert torch.isfinite(p).all()
        torch.testing.assert_close(p.float(), q, atol=0.05, rtol=0.02)
    for state in opt.state.values():
        for value in state.values():
            if isinstance(value, torch.Tensor):
                assert value.dtype == torch.bfloat16


def test_step_returns_closure_loss():
    from optimizers import AdaMomentum

    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = AdaMomentum([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == pytest.approx(5.0)
    assert w.grad is not None and (w.abs() < torch.tensor([1.0, 2.0])).all()
