"""state_dict()/load_state_dict(): stepping after a reload equals stepping without it, bit for bit."""

from __future__ import annotations

import io

import pytest
import torch

from .helpers import CASE_IDS, CASES, advance_epoch, clone_params, grad_stream, make_params, set_grads, state_tensors


@pytest.mark.parametrize("foreach", [False, True], ids=["per-tensor", "foreach"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_round_trip_is_bit_exact(case, foreach):
    params = make_params(seed=3)
    opt = case.make(params, foreach=foreach)
    grads = grad_stream(params, seed=4)
    for t in range(7):  # crosses AdaBelief's rectification switch and an AdaRem epoch
        advance_epoch(opt, t)
        set_grads(params, next(grads))
        opt.step()

    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    restored_params = clone_params(params)
    restored = case.make(restored_params, foreach=foreach)
    restored.load_state_dict(torch.load(buffer, weights_only=False))

    for t in range(7, 13):
        step_grads = next(grads)
        for opt_, params_ in ((opt, params), (restored, restored_params)):
            advance_epoch(opt_, t)
            set_grads(params_, step_grads)
            opt_.step()
    for a, b in zip(params, restored_params):
        assert torch.equal(a, b)
    for a, b in zip(state_tensors(opt), state_tensors(restored)):
        assert torch.equal(a, b)
    assert opt.param_groups[0].keys() == restored.param_groups[0].keys()


def test_epoch_survives_round_trip():
    from optimizers import AdaRem

    opt = AdaRem(make_params())
    opt.set_epoch(5)
    fresh = AdaRem(make_params())
    fresh.load_state_dict(opt.state_dict())
    assert fresh.param_groups[0]["epoch"] == 5
