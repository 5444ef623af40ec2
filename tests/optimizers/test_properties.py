"""Limits where an optimizer equals a known one, and invariants the papers state."""

from __future__ import annotations


import pytest
import torch

import optimizers

from . import reference
from .helpers import clone_params, grad_stream, make_params, set_grads

F64 = torch.float64
TOL = dict(rtol=1e-9, atol=1e-12)
PATHS = pytest.mark.parametrize("foreach", [False, True], ids=["per-tensor", "foreach"])


def lockstep(ours, theirs, params, their_params, steps, seed=21, zero_first=True, their_grads=None, check=None):
    """Step two optimizers on the same gradients (``their_grads`` maps them for the second)."""
    grads = grad_stream(params, seed=seed, zero_first=zero_first)
    for t in range(steps):
        g = next(grads)
        set_grads(params, g)
        set_grads(their_params, their_grads(g) if their_grads else g)
        ours.step()
        if isinstance(theirs, reference.Reference):
            theirs.step(their_grads(g) if their_grads else g)
        else:
            theirs.step()
        if check:
            check(t)


# ----------------------------------------------------------------------------- Padam


@PATHS
def test_padam_half_is_the_authors_amsgrad(foreach):
    params = make_params(dtype=F64)
    ref_params = [p.detach().clone() for p in params]
    ours = optimizers.Padam(params, lr=0.01, partial=0.5, weight_decay=1e-3, foreach=foreach)
    theirs = reference.AdamOfficial(ref_params, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-3, amsgrad=True)
    lockstep(ours, theirs, params, ref_params, steps=10)
    for a, b in zip(params, ref_params):
        torch.testing.assert_close(a.detach(), b, **TOL)


@PATHS
def test_padam_half_without_eps_is_torch_amsgrad(foreach):
    """With eps = 0 the official bias-correction placement and torch's coincide."""
    params = make_params(dtype=F64)
    torch_params = clone_params(params)
    ours = optimizers.Padam(params, lr=0.01, partial=0.5, eps=0.0, foreach=foreach)
    theirs = torch.optim.Adam(torch_params, lr=0.01, amsgrad=True, eps=0.0, foreach=foreach)
    lockstep(ours, theirs, params, torch_params, steps=10, zero_first=False)
    for a, b in zip(params, torch_params):
        torch.testing.assert_close(a, b, **TOL)


# ----------------------------------------------------------------------------- RAME


@PATHS
def test_rame_q0_is_heavy_ball(foreach):
    params = make_params(dtype=F64)
    ref_params = [p.detach().clone() for p in params]
    ours = optimizers.RAME(params, lr=0.03, beta=0.8, q=0.0, xi=0.0, eta=1.0, foreach=foreach)
    theirs = reference.HeavyBall(ref_params, lr=0.03, beta=0.8)
    lockstep(ours, theirs, params, ref_params, steps=10)
    for a, b in zip(params, ref_params):
        torch.testing.assert_close(a.detach(), b, **TOL)


@PATHS
def test_rame_q0_is_torch_sgd_momentum_at_constant_lr(foreach):
    params = make_params(dtype=F64)
    torch_params = clone_params(params)
    ours = optimizers.RAME(params, lr=0.03, beta=0.8, q=0.0, foreach=foreach)
    theirs = torch.optim.SGD(torch_params, lr=0.03, momentum=0.8, foreach=foreach)
    lockstep(ours, theirs, params, torch_params, steps=10)
    for a, b in zip(params, torch_params):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("q", [0.5, 0.25, 0.125])
@PATHS
def test_rame_sqrt_fast_path_matches_the_pow_formula_in_float32(q, foreach):
    """The repeated-sqrt evaluation of m/|m|^q against sign(m)|m|^(1-q), including m = 0 and
    tiny (but normal) moments."""
    params = make_params(dtype=torch.float32)
    with torch.no_grad():
        params[1].mul_(1e-30)
    ref_params = [p.detach().clone() for p in params]
    ours = optimizers.RAME(params, lr=1e-2, q=q, foreach=foreach)
    theirs = reference.RAMEPaper(ref_params, lr=1e-2, beta=0.9, q=q, eta=1.0, xi=0.0, weight_decay=0.0)

    def tiny_bias_grads(g):
        return [g[0], g[1] * 1e-30, g[2], g[3]]

    grads = grad_stream(params, seed=3)
    for _ in range(6):
        g = tiny_bias_grads(next(grads))
        set_grads(params, g)
        ours.step()
        theirs.step(g)
    for a, b in zip(params, ref_params):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a.detach(), b, rtol=1e-5, atol=1e-6)
    assert params[0].view(-1)[0] == ref_params[0].view(-1)[0]  # m == 0 there: no step, no NaN


# ----------------------------------------------------------------------------- AdaRem


@PATHS
@pytest.mark.parametrize("epoch", [0, 4])
def test_adarem_first_step_is_plain_sgd(foreach, epoch):
    params = make_params()
    sgd_params = clone_params(params)
    ours = optimizers.AdaRem(params, lr=0.1, decay=0.9, foreach=foreach)
    ours.set_epoch(epoch)
    sgd = torch.optim.SGD(sgd_params, lr=0.1, foreach=foreach)
    lockstep(ours, sgd, params, sgd_params, steps=1)
    for a, b in zip(params, sgd_params):
        assert torch.equal(a, b)


@PATHS
def test_adarem_decay_zero_is_plain_sgd_after_first_epoch(foreach):
    params = make_params()
    ours = optimizers.AdaRem(params, lr=0.1, decay=0.0, foreach=foreach)
    grads = grad_stream(params, seed=5)
    # epoch 0: 0**0 = 1, fully adaptive, so it must differ from SGD there
    start = clone_params(params)
    sgd = torch.optim.SGD(start, lr=0.1, foreach=foreach)
    for _ in range(3):
        g = next(grads)
        set_grads(params, g)
        set_grads(start, g)
        ours.step()
        sgd.step()
    assert not all(torch.equal(a, b) for a, b in zip(params, start))
    # from epoch 1 on: exactly SGD from wherever epoch 0 ended
    ours.set_epoch(1)
    sgd_params = clone_params(params)
    sgd = torch.optim.SGD(sgd_params, lr=0.1, foreach=foreach)
    for _ in range(5):
        g = next(grads)
        set_grads(params, g)
        set_grads(sgd_params, g)
        ours.step()
        sgd.step()
        for a, b in zip(params, sgd_params):
            assert torch.equal(a, b)


def test_adarem_decay_zero_with_weight_decay_is_sgd_with_weight_decay():
    params = make_params(dtype=F64)
    ours = optimizers.AdaRem(params, lr=0.1, decay=0.0, weight_decay=0.01)
    ours.set_epoch(2)
    sgd_params = clone_params(params)
    sgd = torch.optim.SGD(sgd_params, lr=0.1, weight_decay=0.01)
    lockstep(ours, sgd, params, sgd_params, steps=6)
    for a, b in zip(params, sgd_params):
        torch.testing.assert_close(a, b, **TOL)


def test_adarem_learning_rates_stay_in_the_papers_band():
    """eta_i in [lr(1 - decay^e), lr(1 + decay^e)]: the step per element is within that band times |g|."""
    params = make_params(dtype=F64)
    opt = optimizers.AdaRem(params, lr=0.1, decay=0.8)
    opt.set_epoch(1)
    grads = grad_stream(params, seed=9)
    for _ in range(6):
        g = next(grads)
        before = [p.detach().clone() for p in params]
        set_grads(params, g)
        opt.step()
        for p, b, gr in zip(params, before, g):
            step = (b - p.detach()).abs()
            assert (step <= 0.1 * 1.8 * gr.abs() + 1e-15).all()
            assert (step >= 0.1 * 0.2 * gr.abs() - 1e-15).all()


# ----------------------------------------------------------------------------- AdaRem-S


def _scale_invariant_loss(theta: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((theta / theta.norm() - target) ** 2).sum()


@PATHS
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_adarems_follows_euclidean_adarem_direction_on_scale_invariant_loss(foreach, weight_decay):
    """Sec. 3.4.1: with the sphere learning rate lr/alpha^2 the sphere iterate points where
    Euclidean AdaRem goes, and alpha = ||x_euclid|| / R. Alg. 2 decays with the sphere rate
    too, so the Euclidean twin's weight decay is weight_decay / alpha_t^2 (set each step).
    (beta = 0 and a negligible eps make b identical for both, so the equivalence is exact.)"""
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(4, 5, generator=generator, dtype=F64)
    target = torch.randn(4, 5, generator=generator, dtype=F64)
    target /= target.norm()
    sphere, flat = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    kw = dict(lr=0.3, beta=0.0, decay=0.7, eps=1e-30, weight_decay=weight_decay, foreach=foreach)
    ours = optimizers.AdaRemS([sphere], **kw)
    euclid = optimizers.AdaRem([flat], **kw)
    radius = start.norm()
    for _ in range(15):
        alpha = flat.norm().item() / radius.item()
        euclid.param_groups[0]["weight_decay"] = weight_decay / alpha**2
        for p, opt in ((sphere, ours), (flat, euclid)):
            opt.zero_grad()
            _scale_invariant_loss(p, target).backward()
            opt.step()
        state = ours.state[sphere]
        torch.testing.assert_close(sphere.norm(), radius, rtol=1e-12, atol=0)
        torch.testing.assert_close(sphere / radius, flat / flat.norm(), rtol=1e-9, atol=1e-12)
        assert state["alpha"] == pytest.approx(flat.norm().item() / radius.item(), rel=1e-9)
    assert abs(flat.norm().item() / radius.item() - 1) > 1e-3  # the Euclidean norm did move


@PATHS
def test_adarems_weight_decay_uses_the_sphere_learning_rate(foreach):
    """Alg. 2: theta' = theta_hat - eta_t * g - eta_hat * gamma * theta_hat with eta_hat the
    sphere rate lr / alpha^2, not lr. With radius 2 and ||x_0|| = 5, alpha_0 = 2.5, and on the
    first step (m = 0, so eta_t = eta_hat) the step is known in closed form."""
    x0 = torch.tensor([[3.0, 0.0], [0.0, 4.0]], dtype=F64)  # ||x0|| = 5
    g = torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=F64)
    lr, wd, radius = 0.1, 0.2, 2.0
    p = torch.nn.Parameter(x0.clone())
    opt = optimizers.AdaRemS([p], lr=lr, weight_decay=wd, radius=radius, foreach=foreach)
    p.grad = g.clone()
    opt.step()
    alpha = 5.0 / radius
    x = x0 * radius / 5.0  # projected onto the sphere before the first step
    eta_hat = lr / alpha**2
    expected = x - eta_hat * g - eta_hat * wd * x
    torch.testing.assert_close(p.detach(), expected / expected.norm() * radius, rtol=1e-12, atol=1e-14)
    assert opt.state[p]["alpha"] == pytest.approx(alpha * expected.norm().item() / radius, rel=1e-12)
    plain_lr_decay = x - eta_hat * g - lr * wd * x  # the rule this class used before
    assert not torch.allclose(p.detach(), plain_lr_decay / plain_lr_decay.norm() * radius, rtol=1e-6, atol=0)


def test_adarems_auto_spherical_is_ndim_at_least_two():
    params = make_params()
    opt = optimizers.AdaRemS(params, lr=0.1, weight_decay=0.1)
    norms = [p.detach().norm() for p in params]
    grads = grad_stream(params)
    for _ in range(4):
        set_grads(params, next(grads))
        opt.step()
    for p, n0 in zip(params, norms):
        if p.dim() >= 2:
            torch.testing.assert_close(p.detach().norm(), n0, rtol=1e-6, atol=0)
            assert "alpha" in opt.state[p]
        else:
            assert "alpha" not in opt.state[p]


@pytest.fixture
def threads(request):
    """Run the test at ``request.param`` intra-op threads (norm accuracy depends on the count)."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


@PATHS
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_adarems_projection_lands_on_the_sphere_for_a_large_tensor(foreach, threads):
    """With a given radius, a 2.4M-element weight (ResNet-18's largest) lands on that sphere to
    float32 precision at 1 and 2 threads: the projection's norm must be exact, and on CPU
    ``torch.linalg.vector_norm`` (float32 accumulated serially) is ~4e-5 short there, one
    whole-tensor ``torch.dot`` 1.5e-5 at 1 thread."""
    g = torch.Generator().manual_seed(3)
    w = torch.nn.Parameter(0.05 * torch.randn(512, 512, 3, 3, generator=g) + 0.01)
    radius = 2.0
    opt = optimizers.AdaRemS([w], lr=0.1, weight_decay=5e-4, radius=radius, foreach=foreach)
    for _ in range(3):
        w.grad = 0.01 * torch.randn(w.shape, generator=g)
        opt.step()
        assert w.detach().double().norm().item() == pytest.approx(radius, rel=5e-6)


def test_scale_add_is_x_times_scale_plus_value_for_float_and_tensor_scales():
    from optimizers._base import scale_add_

    x = torch.rand(1000, generator=torch.Generator().manual_seed(5))
    exact = x.double() * 0.37 + 1e-3
    fused = scale_add_(x.clone(), 0.37, 1e-3)  # CPU callers: one multiply-add pass
    two_ops = scale_add_(x.clone(), torch.tensor(0.37), 1e-3)  # tensor scale: mul_ then add_
    assert torch.equal(two_ops, x.clone().mul_(torch.tensor(0.37)).add_(1e-3))
    for out in (fused, two_ops):
        torch.testing.assert_close(out.double(), exact, rtol=2e-7, atol=0)
    bf = scale_add_(x.bfloat16(), 0.37, 1e-3)
    assert bf.dtype == torch.bfloat16


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_l2_norm_is_within_a_few_ulps_of_the_float64_norm(threads):
    from optimizers._base import NORM_CHUNK, l2_norm

    g = torch.Generator().manual_seed(3)
    for n in (1000, NORM_CHUNK, NORM_CHUNK + 7, 512 * 512 * 9):  # one dot; one slice; a short tail; ResNet-18's largest
        x = 0.05 * torch.randn(n, generator=g) + 0.01
        norm = l2_norm(x.view(-1, 1) if n % 2 else x)
        assert norm.dtype == torch.float32 and norm.dim() == 0
        assert norm.item() == pytest.approx(x.double().norm().item(), rel=1e-6), n


def test_l2_norm_is_float32_for_narrow_dtypes():
    from optimizers._base import l2_norm

    x = torch.randn(64, 33, generator=torch.Generator().manual_seed(4))
    for dtype in (torch.bfloat16, torch.float16):
        n = l2_norm(x.to(dtype))
        assert n.dtype == torch.float32
        assert n.item() == pytest.approx(x.to(dtype).double().norm().item(), rel=1e-6)


# ----------------------------------------------------------------------------- AdaL


@PATHS
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adal_is_torch_adam_fed_l1_scaled_gradient(foreach, weight_decay):
    params = make_params()
    adam_params = clone_params(params)
    groups = lambda ps: [{"params": ps[:2]}, {"params": ps[2:], "lr": 3e-3}]  # noqa: E731
    ours = optimizers.AdaL(groups(params), lr=1e-2, weight_decay=weight_decay, foreach=foreach)
    adam = torch.optim.Adam(groups(adam_params), lr=1e-2, weight_decay=weight_decay, foreach=foreach)
    lockstep(ours, adam, params, adam_params, steps=8, their_grads=lambda gs: [g * g.abs().sum() for g in gs])
    for a, b in zip(params, adam_params):
        # equal up to rounding: AdaL folds Adam's sqrt(1 - beta2**t) division into its scalars
        torch.testing.assert_close(a, b, rtol=2e-6, atol=1e-7)


# ----------------------------------------------------------------------------- NosAdam, AdaMomentum, AdaBound


def test_nosadam_gamma_zero_averages_all_squared_gradients():
    params = make_params(dtype=F64)
    opt = optimizers.NosAdam(params, gamma=0.0)
    grads = grad_stream(params, seed=2)
    seen = []
    for _ in range(7):
        g = next(grads)
        seen.append(g)
        set_grads(params, g)
        opt.step()
    for i, p in enumerate(params):
        mean_sq = torch.stack([g[i] ** 2 for g in seen]).mean(0)
        torch.testing.assert_close(opt.state[p]["exp_avg_sq"], mean_sq, **TOL)


def test_nosadam_gamma_weights_past_more():
    """beta2_t = B_{t-1}/B_t with B_t = sum k^-gamma: for gamma > 0 the weights b_k decrease."""
    params = make_params(dtype=F64)
    opt = optimizers.NosAdam(params, gamma=1.0)
    for _ in range(5):
        set_grads(params, [torch.ones_like(p) for p in params])
        opt.step()
    harmonic = sum(1 / k for k in range(1, 6))
    assert opt.state[params[0]]["B"] == pytest.approx(harmonic, rel=1e-15)


@PATHS
def test_adamomentum_eps_accumulates_in_the_state(foreach):
    p = torch.nn.Parameter(torch.zeros(3, dtype=F64))
    opt = optimizers.AdaMomentum([p], eps=1e-8, betas=(0.9, 0.99), foreach=foreach)
    for _ in range(5):
        p.grad = torch.zeros_like(p)
        opt.step()
    expected = 1e-8 * (1 - 0.99**5) / (1 - 0.99)
    torch.testing.assert_close(opt.state[p]["exp_avg_sq"], torch.full((3,), expected, dtype=F64), **TOL)


@PATHS
def test_adabound_gamma_zero_is_the_unbounded_adam_step(foreach):
    params = make_params(dtype=F64)
    ref_params = [p.detach().clone() for p in params]
    ours = optimizers.AdaBound(params, lr=1e-2, gamma=0.0, foreach=foreach)
    theirs = reference.AdamOfficial(ref_params, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False)
    lockstep(ours, theirs, params, ref_params, steps=8)
    for a, b in zip(params, ref_params):
        torch.testing.assert_close(a.detach(), b, **TOL)


def test_adabound_late_steps_are_sgd_at_final_lr():
    """Once the bounds have closed in, the step is final_lr * m (clip active on every element)."""
    p = torch.nn.Parameter(torch.tensor([1.0, -1.0, 0.5], dtype=F64))
    opt = optimizers.AdaBound([p], lr=1e-3, final_lr=0.1, gamma=0.9)
    g = torch.tensor([0.3, -0.2, 0.1], dtype=F64)
    for _ in range(20000):
        p.grad = g.clone()
        opt.step()
    before = p.detach().clone()
    p.grad = g.clone()
    opt.step()
    m = opt.state[p]["exp_avg"]
    torch.testing.assert_close(before - p.detach(), 0.1 * m, rtol=1e-3, atol=0)
