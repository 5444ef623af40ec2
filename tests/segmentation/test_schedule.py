"""Keras' optimizer ``decay`` as ``InverseTimeLR`` (the cited code's 1e-4 per update)."""

from __future__ import annotations

import pytest
import torch

from optimizers.schedules import InverseTimeLR


def test_lr_after_t_steps_is_base_over_one_plus_decay_t() -> None:
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = InverseTimeLR(opt, decay=1e-4)
    for _ in range(2500):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 / 1.25, rel=1e-12)
    state = sched.state_dict()
    opt2 = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched2 = InverseTimeLR(opt2, decay=1e-4)
    sched2.load_state_dict(state)
    opt2.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.1 / (1 + 1e-4 * 2501), rel=1e-12)
    with pytest.raises(ValueError, match="decay must be >= 0"):
        InverseTimeLR(opt, decay=-1.0)
