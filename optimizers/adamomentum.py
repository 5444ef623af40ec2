"""AdaMomentum (Wang et al., "Adapting Stepsizes by Momentumized Gradients Improves
Optimization and Generalization", arXiv 2106.11514).

Paper: ``shared/papers/adamomentum.txt``, Algorithm 1. The authors' code (linked from the
paper as anonymous.4open.science/r/AdaMomentum_experiments-6D9B) is AdaBelief-pytorch 0.2.x
with the belief residual ``g - m`` replaced by ``m``; public copies of that file
(e.g. lavish619/AdaMomentum-Optimizer-Experiments ``utils/optimizer.py``) show the
non-rectified update reproduced here.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._base import BaseOptimizer, Params, adam_state, adam_step_size, check_adam_common, check_bool, foreach_with_l2


class AdaMomentum(BaseOptimizer):
    r"""AdaMomentum, non-rectified, as the authors' code.

    Per parameter, step ``t``::

        x <- x * (1 - lr * weight_decay)        if decoupled_weight_decay
        g <- g + weight_decay * x               otherwise (L2)
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * m**2
        v <- v + eps                            # stored: eps accumulates in the state
        x <- x - (lr / (1 - beta1**t)) * m / (sqrt(v) / sqrt(1 - beta2**t))

    There is no ``eps`` outside the square root. Paper and code agree on the update
    (Algorithm 1 line 6 also adds eps inside the EMA every step). The code's optional
    rectification (RAdam-style) and AMSGrad branches are not implemented; the paper uses
    neither.

    Implementation: the ``sqrt(1 - beta2**t)`` factor is folded into the scalar step size
    (one tensor pass fewer); this changes rounding only.

    Args:
        lr: learning rate (paper: 1e-3 for CNNs).
        betas: ``(beta1, beta2)``, each in [0, 1).
        eps: added inside the second moment each step (paper: 1e-8 vision, 1e-16 others).
        weight_decay: weight decay coefficient, ``>= 0``.
        decoupled_weight_decay: AdamW-style decay ``x <- x (1 - lr wd)`` instead of L2.
        foreach: ``None`` (default): per-tensor path on CPU, multi-tensor (``torch._foreach_*``)
            path on CUDA; ``True``/``False`` force the multi-tensor/per-tensor path.
        compile: ``True`` runs the step as one ``torch.compile``d graph per param group
            (see :class:`~optimizers._base.BaseOptimizer`); ``foreach`` must then stay ``None``.

    State: ``exp_avg``, ``exp_avg_sq`` (two tensors per parameter).
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        compile: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            foreach=foreach, compile=compile,
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_adam_common(group)
        group["decoupled_weight_decay"] = check_bool("decoupled_weight_decay", group["decoupled_weight_decay"])

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return adam_state(p)

    def _single_tensor_update(self, group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        lr, wd = group["lr"], group["weight_decay"]
        if not group["decoupled_weight_decay"]:
            grad = self._with_l2(p, grad, wd)
        elif wd != 0:
            p.mul_(1 - lr * wd)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(exp_avg, exp_avg, value=1 - beta2).add_(group["eps"])
        denom = torch.sqrt(exp_avg_sq, out=self._scratch(p))
        p.addcdiv_(exp_avg, denom, value=-adam_step_size(group, state["step"]))

    def _multi_tensor_update(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        step: int,
    ) -> None:
        beta1, beta2 = group["betas"]
        lr, wd = group["lr"], group["weight_decay"]
        exp_avgs = [s["exp_avg"] for s in states]
        exp_avg_sqs = [s["exp_avg_sq"] for s in states]
        if not group["decoupled_weight_decay"]:
            grads = foreach_with_l2(params, grads, wd)
        elif wd != 0:
            torch._foreach_mul_(params, 1 - lr * wd)
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, exp_avgs, exp_avgs, 1 - beta2)
        torch._foreach_add_(exp_avg_sqs, group["eps"])
        denom = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_addcdiv_(params, exp_avgs, denom, -adam_step_size(group, step))

    # --- compiled path (see BaseOptimizer) ---------------------------------------------
    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq")

    def _compiled_flags(self, group: dict[str, Any]) -> tuple[Any, ...]:
        return (group["decoupled_weight_decay"],)

    def _compiled_inputs(self, group: dict[str, Any], states: list[dict[str, Any]], step: int) -> tuple:
        beta1, beta2 = group["betas"]
        lr, wd = group["lr"], group["weight_decay"]
        shrink = 1 - lr * wd if group["decoupled_weight_decay"] else 1.0
        l2 = 0.0 if group["decoupled_weight_decay"] else wd
        scalars = [shrink, l2, 1 - beta1, beta2, 1 - beta2, group["eps"], adam_step_size(group, step)]
        return scalars, None, None

    @staticmethod
    def _kernel(p: Tensor, g: Tensor, st: list[Tensor], s: Tensor, row: Any, flags: tuple, kind: Any) -> None:
        exp_avg, exp_avg_sq = st
        if flags[0]:
            p.mul_(s[0])
        else:
            g = g + s[1] * p
        exp_avg.lerp_(g, s[2].to(exp_avg.dtype))
        exp_avg_sq.mul_(s[3]).add_(s[4] * exp_avg * exp_avg).add_(s[5])
        p.sub_(s[6] * exp_avg / exp_avg_sq.sqrt())
        return None
