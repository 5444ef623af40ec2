"""RAME: Rapidly Adapting Moment Estimation (Zhang, Niwa & Kleijn).

Paper: ``shared/papers/rame.txt``, Algorithm 1 and eqs. (7)-(10). No official code was
published (the paper's experiments used Keras); this follows the paper.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._base import (
    root,
    BaseOptimizer,
    Params,
    check_common,
    check_real,
    foreach_root_,
    foreach_with_l2,
    nonzero_floor,
    root_,
    zeros_like,
)


class RAME(BaseOptimizer):
    r"""Rapidly adapting moment estimation.

    Per parameter, with gradient :math:`g` (plus ``weight_decay * x`` if set, L2 style)::

        m <- beta * m + lr * g                      # eq. (7); lr is the paper's alpha_t
        x <- x - eta * m / (|m|**q + xi)            # eqs. (8)-(9)

    With ``xi == 0`` the update is computed as ``sign(m) * |m|**(1 - q)`` (eq. 10), so
    ``m == 0`` gives a zero step instead of NaN. ``q = 0, xi = 0, eta = 1`` is the
    heavy-ball method ``x <- x - m``.

    Implementation: ``sign(m) * |m|**(1-q)`` is evaluated as ``m / max(|m|, tiny)**q``
    (equal for every normal float; ``tiny`` is the dtype's smallest normal, so only
    subnormal moments differ, and ``m = 0`` gives exactly 0). For ``q`` a power of two
    (0.5, 0.25, 0.125) the root uses repeated ``sqrt`` instead of ``pow``, which is ~10x
    cheaper on CPU; tests check both against the literal formula.

    Args:
        lr: the paper's :math:`\alpha` (the value swept; paper grid 1e-1 ... 1e-5).
        beta: momentum coefficient, ``0 <= beta < 1`` (paper: 0.9).
        q: nonlinearity exponent, ``0 <= q < 1`` (paper: 0.125 and 0.25).
        eta: the paper's :math:`\eta`, ``eta > 0`` (paper: 1).
        xi: denominator offset, ``xi >= 0`` (paper: 0).
        weight_decay: L2 coefficient added to the gradient (not in the paper).
        foreach: ``None`` (default): per-tensor path on CPU, multi-tensor (``torch._foreach_*``)
            path on CUDA; ``True``/``False`` force the multi-tensor/per-tensor path.
        compile: ``True`` runs the step as one ``torch.compile``d graph per param group
            (see :class:`~optimizers._base.BaseOptimizer`); ``foreach`` must then stay ``None``.

    State: ``momentum_buffer`` (one tensor per parameter).
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        beta: float = 0.9,
        q: float = 0.25,
        eta: float = 1.0,
        xi: float = 0.0,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        compile: bool = False,
    ) -> None:
        defaults = dict(lr=lr, beta=beta, q=q, eta=eta, xi=xi, weight_decay=weight_decay, foreach=foreach, compile=compile)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_common(group)
        group["beta"] = check_real("beta", group["beta"], low=0.0, high=1.0)
        group["q"] = check_real("q", group["q"], low=0.0, high=1.0)
        group["eta"] = check_real("eta", group["eta"], low=0.0, low_inclusive=False)
        group["xi"] = check_real("xi", group["xi"], low=0.0)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"momentum_buffer": zeros_like(p)}

    def _single_tensor_update(self, group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        lr, beta, q, eta, xi, wd = (group[k] for k in ("lr", "beta", "q", "eta", "xi", "weight_decay"))
        m = state["momentum_buffer"]
        grad = self._with_l2(p, grad, wd)
        m.mul_(beta).add_(grad, alpha=lr)
        if q == 0.0:
            p.add_(m, alpha=-eta / (1.0 + xi))
            return
        denom = torch.abs(m, out=self._scratch(p))
        if xi == 0.0:
            denom.clamp_min_(nonzero_floor(p.dtype))
            root_(denom, q)
        else:
            root_(denom, q).add_(xi)
        p.addcdiv_(m, denom, value=-eta)

    def _multi_tensor_update(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        step: int,
    ) -> None:
        lr, beta, q, eta, xi, wd = (group[k] for k in ("lr", "beta", "q", "eta", "xi", "weight_decay"))
        ms = [s["momentum_buffer"] for s in states]
        grads = foreach_with_l2(params, grads, wd)
        torch._foreach_mul_(ms, beta)
        torch._foreach_add_(ms, grads, alpha=lr)
        if q == 0.0:
            torch._foreach_add_(params, ms, alpha=-eta / (1.0 + xi))
            return
        denom = torch._foreach_abs(ms)
        if xi == 0.0:
            torch._foreach_clamp_min_(denom, nonzero_floor(params[0].dtype))
            foreach_root_(denom, q)
        else:
            foreach_root_(denom, q)
            torch._foreach_add_(denom, xi)
        torch._foreach_addcdiv_(params, ms, denom, -eta)

    # --- compiled path (see BaseOptimizer) ---------------------------------------------
    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",)

    def _compiled_flags(self, group: dict[str, Any]) -> tuple[Any, ...]:
        return (group["q"], group["xi"] == 0.0)

    def _compiled_inputs(self, group: dict[str, Any], states: list[dict[str, Any]], step: int) -> tuple:
        lr, beta, eta, xi, wd = (group[k] for k in ("lr", "beta", "eta", "xi", "weight_decay"))
        dtype = states[0]["momentum_buffer"].dtype
        return [wd, beta, lr, eta, xi, nonzero_floor(dtype), eta / (1.0 + xi)], None, None

    @staticmethod
    def _kernel(p: Tensor, g: Tensor, st: list[Tensor], s: Tensor, row: Any, flags: tuple, kind: Any) -> None:
        (m,) = st
        q, exact = flags
        g = g + s[0] * p
        m.mul_(s[1]).add_(s[2] * g)
        if q == 0.0:
            p.sub_(s[6] * m)
            return None
        if exact:
            denom = root(torch.maximum(m.abs(), s[5].to(m.dtype)), q)
        else:
            denom = root(m.abs(), q) + s[4]
        p.sub_(s[3] * m / denom)
        return None
