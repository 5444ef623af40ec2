"""The compiled path (``compile=True``): one graph per param group (plus one for a post-step
pass, AdaRem-S's projection), no recompiles, same numbers.

Fast tests trace the step with dynamo's ``eager`` backend: graph capture (``fullgraph``), guards
and recompiles are dynamo's business and do not depend on the backend, and the traced kernels
run as plain torch ops, so their maths is checked against the eager paths in seconds. The slow
test compiles every optimizer with inductor (the real path; a C++ compiler builds the kernels)
and checks the numbers again.

Tolerances, after 8-9 steps on ``SHAPES``: float64 ``rtol=1e-9, atol=1e-12`` and float32
``rtol=1e-5, atol=1e-6``. The compiled kernels evaluate the same formulas as the eager paths
but fuse them (no rounding of intermediates to the state dtype in between) and, where the
eager path special-cases a step (AdaRem's plain-SGD first step, AdaBelief's SGD warm-up), use
the general formula with a zero coefficient, so they agree to rounding, not bit for bit.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters

import optimizers
from optimizers._base import BaseOptimizer

from .helpers import (CASE_IDS, CASES, advance_epoch, clone_params, grad_stream, make_params, run_case, run_mixed_dtypes,
                      set_grads)

TOL = {torch.float64: dict(rtol=1e-9, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-6)}


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()  # dynamo keeps at most recompile_limit graphs per optimizer class
    counters.clear()
    yield
    torch._dynamo.reset()


@pytest.fixture
def traced(monkeypatch):
    """Trace the compiled path with dynamo's ``eager`` backend (no C++ build)."""
    monkeypatch.setattr(BaseOptimizer, "_compile_backend", "eager")


def graphs() -> int:
    return counters["stats"]["unique_graphs"]


def test_compile_flag_is_validated():
    with pytest.raises(ValueError, match="compile"):
        optimizers.Yogi(make_params(), compile="yes")
    with pytest.raises(ValueError, match="foreach"):
        optimizers.Yogi(make_params(), compile=True, foreach=True)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_traced_step_matches_eager(case, dtype, traced):
    compiled, opt = run_case(case, steps=9, dtype=dtype, compile=True)
    eager, _ = run_case(case, steps=9, dtype=dtype)
    for a, b in zip(compiled, eager):
        torch.testing.assert_close(a, b, **TOL[dtype])


@pytest.mark.parametrize("cls", sorted(set(optimizers.REGISTRY.values()), key=lambda c: c.__name__), ids=lambda c: c.__name__)
def test_one_graph_per_group_no_recompile_and_eager_numbers(cls, traced):
    """Two groups: two graphs at step 1, then none through steps, an LR schedule, new epochs
    and a state_dict round trip into a fresh optimizer over fresh tensors; all along the
    parameters follow the eager per-tensor path run in lockstep (float64). A class with a
    post-step pass (AdaRem-S: both groups hold spherical tensors) has a second graph per group."""
    per_group = 1 if cls._post_kernel is None else 2

    def build(ps, **kw):
        opt = cls([{"params": ps[:2]}, {"params": ps[2:], "lr": 3e-3}], lr=1e-2, **kw)
        return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    params = make_params(dtype=torch.float64)
    eager_params = clone_params(params)
    (opt, schedule), (eager, eager_schedule) = build(params, compile=True), build(eager_params)
    grads = grad_stream(params)

    def step(t, pairs):
        g = next(grads)
        for o, ps, sched in pairs:
            advance_epoch(o, t, steps_per_epoch=2)
            set_grads(ps, g)
            o.step()
            if sched is not None:
                sched.step()

    step(0, [(opt, params, schedule), (eager, eager_params, eager_schedule)])
    assert graphs() == 2 * per_group
    with torch._dynamo.config.patch(error_on_recompile=True):
        for t in range(1, 6):
            step(t, [(opt, params, schedule), (eager, eager_params, eager_schedule)])
        twin_params = clone_params(params)
        twin, _ = build(twin_params, compile=True)
        twin.load_state_dict(copy.deepcopy(opt.state_dict()))
        step(6, [(opt, params, None), (twin, twin_params, None), (eager, eager_params, None)])
    assert graphs() == 2 * per_group
    assert opt.param_groups[0]["lr"] < 1e-2  # the schedule did act
    for a, b, c in zip(params, twin_params, eager_params):
        assert torch.equal(a, b)
        torch.testing.assert_close(a, c, **TOL[torch.float64])
    assert not getattr(opt, "_scratch_buffers", None)  # the compiled path has no shared scratch buffer


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if c.id in ("yogi", "nosadam", "adarems")], ids=lambda c: c.id)
def test_mixed_dtypes_and_step_counts_match_eager(case, traced):
    for a, b in zip(run_mixed_dtypes(case, compile=True), run_mixed_dtypes(case, compile=False)):
        tol = TOL[torch.float32] if a.dtype == torch.float32 else dict(atol=4e-3, rtol=1e-2)
        torch.testing.assert_close(a, b, **tol)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_inductor_step_matches_eager_without_recompiles(case):
    """The real compiled path (inductor): float64 and float32 against the eager per-tensor path,
    and no recompile after the first step of each dtype (8 steps, epochs advancing)."""
    for dtype in (torch.float64, torch.float32):
        params = make_params(0, dtype)
        opt = case.make(params, compile=True)
        grads = grad_stream(params, 1)
        for t in range(8):
            advance_epoch(opt, t)
            set_grads(params, next(grads))
            with torch._dynamo.config.patch(error_on_recompile=t > 0):
                opt.step()
        eager, _ = run_case(case, steps=8, dtype=dtype)
        for a, b in zip(params, eager):
            torch.testing.assert_close(a, b, **TOL[dtype])


def test_path_switches_survive_loading_a_checkpoint(traced):
    """A checkpoint keeps the hyperparameters, not the path: an eager run's state (even one
    saved before ``compile`` existed) resumes on the compiled path of the loading optimizer."""
    params = make_params(dtype=torch.float64)
    eager = optimizers.Yogi(params, lr=1e-2)
    grads = grad_stream(params)
    set_grads(params, next(grads))
    eager.step()
    saved = copy.deepcopy(eager.state_dict())
    for group in saved["param_groups"]:
        del group["compile"]  # as written by the previous version
    twin_params = clone_params(params)
    twin = optimizers.Yogi(twin_params, lr=1e-2, compile=True)
    twin.load_state_dict(saved)
    assert twin.param_groups[0]["compile"] is True
    g = next(grads)
    for o, ps in ((eager, params), (twin, twin_params)):
        set_grads(ps, g)
        o.step()
    assert graphs() == 1  # the loaded optimizer did run compiled
    for a, b in zip(params, twin_params):
        torch.testing.assert_close(a, b, **TOL[torch.float64])
