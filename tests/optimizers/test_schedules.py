"""PiecewiseConstantLR: the factor table, its validation, and resume through state_dict."""

from __future__ import annotations

import pytest
import torch

from optimizers.schedules import PiecewiseConstantLR


def _lrs(sched: PiecewiseConstantLR, opt: torch.optim.Optimizer, epochs: int) -> list[float]:
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def _make(lr: float = 1e-3) -> tuple[torch.optim.Optimizer, PiecewiseConstantLR]:
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    return opt, PiecewiseConstantLR(opt, milestones=[2, 4, 5], factors=[0.1, 0.01, 0.005])


def test_factors_apply_from_their_milestone_on() -> None:
    opt, sched = _make()
    got = _lrs(sched, opt, 7)
    want = [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 5e-6, 5e-6]
    assert got == pytest.approx(want, rel=1e-12)


def test_resume_from_state_dict_continues_the_same_lrs() -> None:
    opt, sched = _make()
    _lrs(sched, opt, 3)
    opt2, sched2 = _make()
    sched2.load_state_dict(sched.state_dict())
    opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
    assert _lrs(sched2, opt2, 4) == pytest.approx(_lrs(sched, opt, 4), rel=1e-12)


@pytest.mark.parametrize("milestones, factors, match", [
    ([2, 4], [0.1], "same length"),
    ([4, 2], [0.1, 0.01], "strictly increasing"),
    ([0, 2], [0.1, 0.01], "strictly increasing"),
    ([2, 4], [0.1, 0.0], "factors must be > 0"),
])
def test_bad_tables_are_rejected(milestones, factors, match) -> None:
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match=match):
        PiecewiseConstantLR(opt, milestones, factors)


def test_inverse_sqrt_warmup_then_decay_and_resume() -> None:
    from optimizers.schedules import InverseSqrtLR

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.5e-3)
    sched = InverseSqrtLR(opt, warmup_updates=8000, warmup_init_lr=1e-7)
    assert opt.param_groups[0]["lr"] == 1e-7  # update 0 runs at the initial lr, as fairseq
    hand = {4000: 1e-7 + 4000 * (1.5e-3 - 1e-7) / 8000, 8000: 1.5e-3, 32000: 1.5e-3 * 0.5}
    for step, lr in hand.items():
        assert abs(sched.lr_at(1.5e-3, step) - lr) < 1e-15
    for _ in range(10):
        opt.step()
        sched.step()
    other_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.5e-3)
    other = InverseSqrtLR(other_opt, warmup_updates=8000, warmup_init_lr=1e-7)
    other.load_state_dict(sched.state_dict())
    other_opt.step()
    other.step()
    opt.step()
    sched.step()
    assert other_opt.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == sched.lr_at(1.5e-3, 11)
    with pytest.raises(ValueError, match="warmup_updates"):
        InverseSqrtLR(opt, warmup_updates=-1)
