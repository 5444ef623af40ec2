"""The multi-tensor (torch._foreach_*) and per-tensor paths agree; the default picks by device."""

from __future__ import annotations

import pytest
import torch

import optimizers

from .helpers import CASE_IDS, CASES, grad_stream, make_params, run_case, run_mixed_dtypes, set_grads


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_foreach_matches_per_tensor(case):
    fast, _ = run_case(case, steps=9, foreach=True)
    plain, _ = run_case(case, steps=9, foreach=False)
    for a, b in zip(fast, plain):
        # Both paths run the same kernels in the same order on CPU, so they agree exactly.
        assert torch.equal(a, b)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_mixed_dtypes_and_step_counts_in_one_group(case):
    """Buckets by (device, dtype, step): a bfloat16 tensor and a tensor that skipped steps."""

    for a, b in zip(run_mixed_dtypes(case, foreach=True), run_mixed_dtypes(case, foreach=False)):
        assert a.dtype == b.dtype
        if a.dtype == torch.float32:
            assert torch.equal(a, b)
        else:  # bfloat16: CPU foreach add(alpha) rounds differently from Tensor.add_ (1 ulp of m),
            # which AdaRem-S's projection (a float32 norm) carries into x: within 2 ulps (2**-6) there
            rtol = 2**-6 if issubclass(case.cls, optimizers.AdaRemS) else 1e-2
            torch.testing.assert_close(a, b, atol=4e-3, rtol=rtol)


def test_default_is_per_tensor_on_cpu(monkeypatch):
    opt = optimizers.Padam(make_params())
    assert opt.param_groups[0]["foreach"] is None

    def forbidden(*args, **kwargs):
        raise AssertionError("multi-tensor path used on CPU by default")

    monkeypatch.setattr(opt, "_multi_tensor_update", forbidden)
    grads = grad_stream(opt.param_groups[0]["params"])
    set_grads(opt.param_groups[0]["params"], next(grads))
    opt.step()
    # ...and foreach=True does take the multi-tensor path
    forced = optimizers.Padam(make_params(), foreach=True)
    monkeypatch.setattr(forced, "_multi_tensor_update", forbidden)
    set_grads(forced.param_groups[0]["params"], next(grads))
    with pytest.raises(AssertionError, match="multi-tensor"):
        forced.step()


@pytest.mark.parametrize("case", [c for c in CASES if c.id.startswith(("adarem", "adal"))], ids=lambda c: c.id)
def test_cache_blocked_slices_match_whole_tensor_ops(case, monkeypatch):
    """The per-tensor path runs element-wise work in slices of ``CHUNK`` elements; slicing
    must not change a single bit (the reductions are taken over the whole tensor)."""
    from optimizers import _base

    whole, _ = run_case(case, steps=7, foreach=False)
    monkeypatch.setattr(_base, "CHUNK", 7)  # every tensor of SHAPES but the bias and scalar is sliced
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)  # slicing is for one intra-op thread
    sliced, _ = run_case(case, steps=7, foreach=False)
    for a, b in zip(whole, sliced):
        assert torch.equal(a, b)
