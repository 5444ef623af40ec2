"""Shared test helpers: small parameter sets, seeded gradient streams, optimizer cases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

import optimizers

# A weight matrix, a bias, a conv kernel and a scalar: small, but the shapes a model has.
SHAPES: tuple[tuple[int, ...], ...] = ((6, 5), (6,), (3, 2, 3, 3), ())


def make_params(
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    shapes: tuple[tuple[int, ...], ...] = SHAPES,
) -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.nn.Parameter(torch.randn(shape, generator=generator, dtype=torch.float64).to(device=device, dtype=dtype))
        for shape in shapes
    ]


def clone_params(params: list[torch.Tensor]) -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(p.detach().clone()) for p in params]


def grad_stream(
    params: list[torch.Tensor],
    seed: int = 1,
    scale: float = 0.5,
    dtype: torch.dtype | None = None,
    zero_first: bool = True,
) -> Iterator[list[torch.Tensor]]:
    """Endless seeded gradients shaped like ``params``; with ``zero_first`` element 0 of the first
    tensor is always 0 (so moments stay exactly zero there: the m = 0 / 0-division corner)."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        grads = []
        for p in params:
            g = scale * torch.randn(p.shape, generator=generator, dtype=torch.float64)
            grads.append(g.to(device=p.device, dtype=dtype or p.dtype))
        if zero_first:
            grads[0].view(-1)[0] = 0.0
        yield grads


def set_grads(params: list[torch.Tensor], grads: list[torch.Tensor]) -> None:
    for p, g in zip(params, grads):
        p.grad = g.clone()


@dataclass
class Case:
    """One optimizer configuration exercised by the generic tests."""

    id: str
    cls: type[torch.optim.Optimizer]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def make(self, params: Any, **extra: Any) -> torch.optim.Optimizer:
        return self.cls(params, **{**self.kwargs, **extra})


CASES: list[Case] = [
    Case("rame", optimizers.RAME),
    Case("rame-q0.5-xi-wd", optimizers.RAME, dict(q=0.5, xi=0.1, weight_decay=0.01)),
    Case("rame-q0.3-pow", optimizers.RAME, dict(q=0.3, eta=0.5)),
    Case("rame-q0-heavyball", optimizers.RAME, dict(q=0.0)),
    Case("padam", optimizers.Padam, dict(lr=0.05)),
    Case("padam-noams-p0.25-wd", optimizers.Padam, dict(lr=0.05, partial=0.25, amsgrad=False, weight_decay=5e-3)),
    Case("padam-p0.2-pow", optimizers.Padam, dict(lr=0.05, partial=0.2)),
    Case("adamomentum", optimizers.AdaMomentum, dict(lr=1e-2)),
    Case("adamomentum-l2", optimizers.AdaMomentum, dict(lr=1e-2, weight_decay=1e-2)),
    Case("adamomentum-decoupled", optimizers.AdaMomentum, dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)),
    Case("adarem", optimizers.AdaRem, dict(lr=0.05)),
    Case("adarem-wd", optimizers.AdaRem, dict(lr=0.05, weight_decay=1e-2, decay=0.5)),
    Case("adarems", optimizers.AdaRemS, dict(lr=0.05, weight_decay=1e-2)),
    Case("adarems-radius", optimizers.AdaRemS, dict(lr=0.05, radius=2.0)),
    Case("adal", optimizers.AdaL, dict(lr=1e-2)),
    Case("adal-wd", optimizers.AdaL, dict(lr=1e-2, weight_decay=0.1)),
    Case("yogi", optimizers.Yogi, dict(lr=1e-2)),
    Case("yogi-wd", optimizers.Yogi, dict(lr=1e-2, weight_decay=0.1, initial_accumulator=0.0)),
    Case("adabound", optimizers.AdaBound, dict(lr=1e-2)),
    Case("amsbound-wd", optimizers.AdaBound, dict(lr=1e-2, amsbound=True, weight_decay=1e-2, gamma=0.1)),
    Case("adabelief", optimizers.AdaBelief, dict(lr=1e-2)),
    Case("adabelief-plain-ams", optimizers.AdaBelief, dict(lr=1e-2, rectify=False, amsgrad=True, eps=1e-8)),
    Case(
        "adabelief-l2-nosgd",
        optimizers.AdaBelief,
        dict(lr=1e-2, weight_decouple=False, weight_decay=0.1, degenerated_to_sgd=False),
    ),
    Case("nosadam", optimizers.NosAdam, dict(lr=1e-2)),
    Case("nosadam-decay-wd", optimizers.NosAdam, dict(lr=1e-2, gamma=0.0, lr_decay=True, weight_decay=1e-2)),
    Case("shb-wd", optimizers.SHB, dict(lr=0.05, weight_decay=1e-2)),
]
CASE_IDS = [c.id for c in CASES]


def run_case(
    case: Case,
    steps: int = 8,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
    seed: int = 0,
    **extra: Any,
) -> tuple[list[torch.nn.Parameter], torch.optim.Optimizer]:
    """Run ``steps`` steps on :data:`SHAPES`; AdaRem-family epochs advance every 3 steps."""
    params = make_params(seed, dtype, device)
    opt = case.make(params, **extra)
    grads = grad_stream(params, seed + 1)
    for t in range(steps):
        advance_epoch(opt, t)
        set_grads(params, next(grads))
        opt.step()
    return params, opt


def advance_epoch(opt: torch.optim.Optimizer, t: int, steps_per_epoch: int = 3) -> None:
    set_epoch: Callable[[int], None] | None = getattr(opt, "set_epoch", None)
    if set_epoch is not None:
        set_epoch(t // steps_per_epoch)


def state_tensors(opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [v for s in opt.state.values() for v in s.values() if isinstance(v, torch.Tensor)]


def run_mixed_dtypes(case: Any, **kwargs: Any) -> list[torch.nn.Parameter]:
    """Six steps of ``case.make(params, **kwargs)`` on float32 params plus a bfloat16 one, with
    the bias missing its gradient every other step (buckets by device, dtype and step)."""
    params = make_params(seed=5)
    params.append(torch.nn.Parameter(torch.randn(4, 3, generator=torch.Generator().manual_seed(9)).bfloat16()))
    opt = case.make(params, **kwargs)
    grads = grad_stream(params, seed=6)
    for t in range(6):
        advance_epoch(opt, t)
        set_grads(params, next(grads))
        if t % 2 == 0:
            params[1].grad = None  # the bias misses every other step
        opt.step()
    return params
