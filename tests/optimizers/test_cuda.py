"""CUDA: GPU-only tests, marked ``gpu``. ``make test`` deselects them (CI has no GPU);
``make test-gpu`` runs them on a machine with CUDA and fails there if CUDA is missing."""

from __future__ import annotations

import io

import pytest
import torch

import optimizers

from .helpers import CASES, advance_epoch, clone_params, grad_stream, make_params, run_case, set_grads, state_tensors


@pytest.mark.gpu
def test_cuda_matches_cpu_for_every_optimizer_path_and_dtype():
    for case in CASES:
        cpu, _ = run_case(case, steps=8, foreach=False)
        for foreach in (None, True, False):  # None = default = multi-tensor on CUDA
            gpu, opt = run_case(case, steps=8, device="cuda", foreach=foreach)
            for a, b in zip(gpu, cpu):
                assert a.is_cuda
                torch.testing.assert_close(a.cpu(), b, rtol=1e-4, atol=1e-5, msg=f"{case.id} foreach={foreach}")
            assert all(t.is_cuda for t in state_tensors(opt))
        low, opt = run_case(case, steps=4, device="cuda", dtype=torch.bfloat16)
        assert all(p.dtype == torch.bfloat16 and torch.isfinite(p).all() for p in low), case.id
        assert all(t.dtype == torch.bfloat16 for t in state_tensors(opt)), case.id

        # state_dict round trip on the GPU
        params = make_params(device="cuda")
        opt = case.make(params)
        grads = grad_stream(params)
        for t in range(4):
            advance_epoch(opt, t)
            set_grads(params, next(grads))
            opt.step()
        buffer = io.BytesIO()
        torch.save(opt.state_dict(), buffer)
        buffer.seek(0)
        twin_params = clone_params(params)
        twin = case.make(twin_params)
        twin.load_state_dict(torch.load(buffer, weights_only=False))
        for t in range(4, 7):
            g = next(grads)
            for o, ps in ((opt, params), (twin, twin_params)):
                advance_epoch(o, t)
                set_grads(ps, g)
                o.step()
        for a, b in zip(params, twin_params):
            assert torch.equal(a, b), case.id

    # AdaL is Adam on ||g||_1 g on CUDA too (the L1 norm uses the fused multi-tensor kernel there)
    params = make_params(device="cuda")
    adam_params = clone_params(params)
    ours, adam = optimizers.AdaL(params, lr=1e-2), torch.optim.Adam(adam_params, lr=1e-2, foreach=True)
    grads = grad_stream(params)
    for _ in range(5):
        g = next(grads)
        set_grads(params, g)
        set_grads(adam_params, [x * x.abs().sum() for x in g])
        ours.step()
        adam.step()
    for a, b in zip(params, adam_params):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
