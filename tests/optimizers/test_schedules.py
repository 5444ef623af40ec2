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
