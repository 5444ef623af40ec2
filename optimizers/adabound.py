"""AdaBound / AMSBound (Luo et al., "Adaptive Gradient Methods with Dynamic Bound of
Learning Rate", ICLR 2019).

Reproduces the maths of the authors' package ``adabound`` 0.0.5 (github.com/Luolc/AdaBound,
file ``adabound/adabound.py``). Reimplemented rather than wrapped: the package uses the
removed ``add_(scalar, tensor)`` overload, has no multi-tensor path, and silently skips
param groups added after construction.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ._base import (
    compiled_adam_moments_,
    BaseOptimizer,
    Params,
    adam_moments_,
    adam_state,
    adam_step_size,
    check_adam_common,
    check_bool,
    check_real,
    foreach_adam_denom,
    foreach_adam_moments_,
    foreach_with_l2,
)


class AdaBound(BaseOptimizer):
    r"""AdaBound: Adam whose per-element step size is clipped into bounds that converge to
    ``final_lr`` (SGD); ``amsbound=True`` is AMSBound (AMSGrad inside the bounds).

    Per parameter, step ``t``::

        g     <- g + weight_decay * x
        m     <- beta1 * m + (1 - beta1) * g
        v     <- beta2 * v + (1 - beta2) * g**2
        v_hat <- max(v_hat, v) if amsbound else v
        s     <- lr * sqrt(1 - beta2**t) / (1 - beta1**t)
        f     <- final_lr * lr / base_lr            # follows LR schedules; base_lr = lr at construction
        lower <- f * (1 - 1/(gamma*t + 1));  upper <- f * (1 + 1/(gamma*t))
        x     <- x - clip(s / (sqrt(v_hat) + eps), lower, upper) * m

    ``base_lr`` is stored in each param group (key ``base_lr``), so it survives
    ``state_dict`` round trips. ``gamma = 0`` gives bounds ``[0, inf)`` (plain Adam step).

    Implementation: ``clip(s/d, lo, hi) * m`` is evaluated as ``s * m / clip(d, s/hi, s/lo)``
    (same number up to rounding, one tensor pass fewer).

    Args:
        lr: Adam learning rate, ``> 0`` (needed to scale ``final_lr``).
        betas: ``(beta1, beta2)``, each in [0, 1).
        final_lr: the SGD learning rate the bounds converge to, ``>= 0``.
        gamma: convergence speed of the bounds, ``0 <= gamma < 1``.
        eps: added to ``sqrt(v_hat)``.
        weight_decay: L2 coefficient added to the gradient.
        amsbound: use the running max of ``v`` (AMSBound).
        foreach: ``None`` (default): per-tensor path on CPU, multi-tensor (``torch._foreach_*``)
            path on CUDA; ``True``/``False`` force the multi-tensor/per-tensor path.
        compile: ``True`` runs the step as one ``torch.compile``d graph per param group
            (see :class:`~optimizers._base.BaseOptimizer`); ``foreach`` must then stay ``None``.

    State: ``exp_avg``, ``exp_avg_sq`` and, with ``amsbound``, ``max_exp_avg_sq``.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsbound: bool = False,
        *,
        foreach: bool | None = None,
        compile: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            final_lr=final_lr,
            gamma=gamma,
            eps=eps,
            weight_decay=weight_decay,
            amsbound=amsbound,
            foreach=foreach, compile=compile,
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_adam_common(group)
        group["lr"] = check_real("lr", group["lr"], low=0.0, low_inclusive=False)
        group["final_lr"] = check_real("final_lr", group["final_lr"], low=0.0)
        group["gamma"] = check_real("gamma", group["gamma"], low=0.0, high=1.0)
        group["amsbound"] = check_bool("amsbound", group["amsbound"])
        group.setdefault("base_lr", group["lr"])

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return adam_state(p, group["amsbound"])

    @staticmethod
    def _bounds(group: dict[str, Any], step: int) -> tuple[float, float, float] | None:
        """``(s, d_low, d_high)``: step size and the clip range of the denominator; None = no update."""
        lr, gamma = group["lr"], group["gamma"]
        final_lr = group["final_lr"] * lr / group["base_lr"]
        if lr == 0 or final_lr == 0:
            return None
        s = adam_step_size(group, step)
        lower = final_lr * (1 - 1 / (gamma * step + 1))
        upper = final_lr * (1 + 1 / (gamma * step)) if gamma > 0 else math.inf
        return s, s / upper, (s / lower if lower > 0 else math.inf)

    def _single_tensor_update(self, group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        grad = self._with_l2(p, grad, group["weight_decay"])
        exp_avg, second = adam_moments_(state, grad, *group["betas"], amsgrad=group["amsbound"])
        bounds = self._bounds(group, state["step"])
        if bounds is None:
            return
        s, d_low, d_high = bounds
        denom = self._adam_denom(p, second, group["eps"]).clamp_(d_low, d_high)
        p.addcdiv_(exp_avg, denom, value=-s)

    def _multi_tensor_update(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        step: int,
    ) -> None:
        grads = foreach_with_l2(params, grads, group["weight_decay"])
        exp_avgs, seconds = foreach_adam_moments_(states, grads, *group["betas"], amsgrad=group["amsbound"])
        bounds = self._bounds(group, step)
        if bounds is None:
            return
        s, d_low, d_high = bounds
        denom = foreach_adam_denom(seconds, group["eps"])
        torch._foreach_clamp_min_(denom, d_low)
        if d_high != math.inf:
            torch._foreach_clamp_max_(denom, d_high)
        torch._foreach_addcdiv_(params, exp_avgs, denom, -s)

    # --- compiled path (see BaseOptimizer) ---------------------------------------------
    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsbound"] else ())

    def _compiled_flags(self, group: dict[str, Any]) -> tuple[Any, ...]:
        return (group["amsbound"],)

    def _compiled_inputs(self, group: dict[str, Any], states: list[dict[str, Any]], step: int) -> tuple:
        beta1, beta2 = group["betas"]
        bounds = self._bounds(group, step)
        s, d_low, d_high = (0.0, 1.0, 1.0) if bounds is None else bounds  # no update: a zero step
        return [group["weight_decay"], 1 - beta1, beta2, 1 - beta2, group["eps"], s, d_low, d_high], None, None

    @staticmethod
    def _kernel(p: Tensor, g: Tensor, st: list[Tensor], s: Tensor, row: Any, flags: tuple, kind: Any) -> None:
        exp_avg, second = compiled_adam_moments_(p, g, st, s, flags[0])
        denom = second.sqrt() + s[4]
        denom = torch.minimum(torch.maximum(denom, s[6].to(denom.dtype)), s[7].to(denom.dtype))
        p.sub_(s[5] * exp_avg / denom)
        return None
