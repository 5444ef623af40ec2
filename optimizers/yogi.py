"""Yogi (Zaheer et al., "Adaptive Methods for Nonconvex Optimization", NeurIPS 2018).

Reproduces the maths of ``torch_optimizer.Yogi`` (pytorch-optimizer 0.3.0, file
``torch_optimizer/yogi.py``), which follows the TensorFlow Addons implementation
(moments initialised to ``initial_accumulator``, Adam-style bias correction).
Reimplemented rather than wrapped: the package has no multi-tensor path and is unmaintained.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._base import (
    BaseOptimizer,
    Params,
    adam_folded_scalars,
    check_adam_common,
    check_real,
    foreach_adam_denom,
    foreach_with_l2,
)


class Yogi(BaseOptimizer):
    r"""Yogi: Adam with an additive, sign-controlled second-moment update.

    Per parameter, step ``t``::

        g <- g + weight_decay * x
        m <- beta1 * m + (1 - beta1) * g
        v <- v - (1 - beta2) * sign(v - g**2) * g**2
        x <- x - lr/(1 - beta1**t) * m / (sqrt(v)/sqrt(1 - beta2**t) + eps)

    with ``m`` and ``v`` starting at ``initial_accumulator`` (not 0). Implementation: the
    ``sqrt(1 - beta2**t)`` division is folded into the scalar step size and ``eps`` (one tensor
    pass fewer; same number up to rounding).

    Args:
        lr: learning rate (torch_optimizer default 1e-2).
        betas: ``(beta1, beta2)``, each in [0, 1).
        eps: added to the denominator (Yogi paper: 1e-3).
        initial_accumulator: initial value of both moments, ``>= 0``.
        weight_decay: L2 coefficient added to the gradient.
        foreach: ``None`` (default): per-tensor path on CPU, multi-tensor (``torch._foreach_*``)
            path on CUDA; ``True``/``False`` force the multi-tensor/per-tensor path.
        compile: ``True`` runs the step as one ``torch.compile``d graph per param group
            (see :class:`~optimizers._base.BaseOptimizer`); ``foreach`` must then stay ``None``.

    State: ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-3,
        initial_accumulator: float = 1e-6,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        compile: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            initial_accumulator=initial_accumulator,
            weight_decay=weight_decay,
            foreach=foreach, compile=compile,
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_adam_common(group)
        group["initial_accumulator"] = check_real("initial_accumulator", group["initial_accumulator"], low=0.0)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        init = group["initial_accumulator"]
        return {
            "exp_avg": torch.full_like(p, init, memory_format=torch.preserve_format),
            "exp_avg_sq": torch.full_like(p, init, memory_format=torch.preserve_format),
        }

    def _single_tensor_update(self, group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        grad = self._with_l2(p, grad, group["weight_decay"])
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        # sign(v - g*g) * g*g, computed as (sign(v - g*g) * g) * g in one scratch buffer
        direction = torch.addcmul(exp_avg_sq, grad, grad, value=-1, out=self._scratch(p)).sign_().mul_(grad)
        exp_avg_sq.addcmul_(direction, grad, value=-(1 - beta2))
        step_size, eps = adam_folded_scalars(group, state["step"])
        denom = self._adam_denom(p, exp_avg_sq, eps)  # reuses direction's buffer
        p.addcdiv_(exp_avg, denom, value=-step_size)

    def _multi_tensor_update(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        step: int,
    ) -> None:
        beta1, beta2 = group["betas"]
        exp_avgs = [s["exp_avg"] for s in states]
        exp_avg_sqs = [s["exp_avg_sq"] for s in states]
        grads = foreach_with_l2(params, grads, group["weight_decay"])
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        direction = torch._foreach_addcmul(exp_avg_sqs, grads, grads, -1)
        torch._foreach_sign_(direction)
        torch._foreach_mul_(direction, grads)
        torch._foreach_addcmul_(exp_avg_sqs, direction, grads, -(1 - beta2))
        del direction
        step_size, eps = adam_folded_scalars(group, step)
        denom = foreach_adam_denom(exp_avg_sqs, eps)
        torch._foreach_addcdiv_(params, exp_avgs, denom, -step_size)

    # --- compiled path (see BaseOptimizer) ---------------------------------------------
    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq")

    def _compiled_inputs(self, group: dict[str, Any], states: list[dict[str, Any]], step: int) -> tuple:
        beta1, beta2 = group["betas"]
        step_size, eps = adam_folded_scalars(group, step)
        return [group["weight_decay"], 1 - beta1, 1 - beta2, eps, step_size], None, None

    @staticmethod
    def _kernel(p: Tensor, g: Tensor, st: list[Tensor], s: Tensor, row: Any, flags: tuple, kind: Any) -> None:
        exp_avg, exp_avg_sq = st
        g = g + s[0] * p
        exp_avg.lerp_(g, s[1].to(exp_avg.dtype))
        direction = (exp_avg_sq - g * g).sign() * g
        exp_avg_sq.sub_(s[2] * direction * g)
        p.sub_(s[4] * exp_avg / (exp_avg_sq.sqrt() + s[3]))
        return None
