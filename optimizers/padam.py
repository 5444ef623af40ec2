"""Padam: partially adaptive momentum estimation (Chen & Gu; Chen et al., IJCAI 2020).

Paper: ``shared/papers/padam.txt``, Algorithm 1. Official code: github.com/uclaml/Padam,
file ``Padam.py`` (commit 26212ab); this class reproduces that file's maths.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._base import (
    compiled_adam_moments_,
    root,
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
    foreach_root_,
    foreach_with_l2,
    root_,
)


class Padam(BaseOptimizer):
    r"""Partially adaptive momentum estimation, as in the authors' ``Padam.py``.

    Per parameter, step ``t`` (1-based)::

        g      <- g + weight_decay * x                  # L2, as the official code
        m      <- beta1 * m + (1 - beta1) * g
        v      <- beta2 * v + (1 - beta2) * g**2
        v_hat  <- max(v_hat, v)      if amsgrad else v
        denom  <- (sqrt(v_hat) + eps) ** (2 * partial)
        step   <- lr * sqrt(1 - beta2**t) / (1 - beta1**t)
        x      <- x - step * m / denom

    Where the official code differs from the paper (Algorithm 1 has
    ``x <- x - lr * m / v_hat**p`` with no ``eps`` and no bias correction), we follow the
    code: ``eps`` is added to ``sqrt(v_hat)`` *before* the power, and the step carries the
    Adam bias correction ``sqrt(1 - beta2**t) / (1 - beta1**t)`` whatever ``partial`` is.
    ``partial = 1/2`` is then exactly the authors' AMSGrad (their ``Adam.py``), and
    ``partial -> 0`` tends to SGD with momentum (with a factor ``1 - beta1``).
    The class default of the official file is ``partial=1/4``; its experiments and README
    use ``1/8``, the default here.

    ``(.)**(2*partial)`` is computed with repeated ``sqrt`` when ``2*partial`` is 1/2, 1/4
    or 1/8 (``partial`` 0.25, 0.125, 0.0625), ``pow`` otherwise.

    Args:
        lr: base learning rate (paper: 0.1 for CIFAR, like SGD).
        betas: ``(beta1, beta2)``, each in [0, 1).
        partial: the partially adaptive parameter ``p``, ``0 < partial <= 1/2``.
        eps: added to ``sqrt(v_hat)``, ``eps >= 0``.
        weight_decay: L2 coefficient added to the gradient.
        amsgrad: keep ``max`` of the second moments (official default True).
        foreach: ``None`` (default): per-tensor path on CPU, multi-tensor (``torch._foreach_*``)
            path on CUDA; ``True``/``False`` force the multi-tensor/per-tensor path.
        compile: ``True`` runs the step as one ``torch.compile``d graph per param group
            (see :class:`~optimizers._base.BaseOptimizer`); ``foreach`` must then stay ``None``.

    State: ``exp_avg``, ``exp_avg_sq`` and, with ``amsgrad``, ``max_exp_avg_sq``.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.1,
        betas: tuple[float, float] = (0.9, 0.999),
        partial: float = 0.125,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = True,
        *,
        foreach: bool | None = None,
        compile: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr, betas=betas, partial=partial, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, foreach=foreach, compile=compile
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_adam_common(group)
        group["partial"] = check_real(
            "partial", group["partial"], low=0.0, low_inclusive=False, high=0.5, high_inclusive=True
        )
        group["amsgrad"] = check_bool("amsgrad", group["amsgrad"])

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return adam_state(p, group["amsgrad"])

    def _single_tensor_update(self, group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        grad = self._with_l2(p, grad, group["weight_decay"])
        exp_avg, second = adam_moments_(state, grad, *group["betas"], amsgrad=group["amsgrad"])
        denom = root_(self._adam_denom(p, second, group["eps"]), 2 * group["partial"])
        p.addcdiv_(exp_avg, denom, value=-adam_step_size(group, state["step"]))

    def _multi_tensor_update(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        step: int,
    ) -> None:
        grads = foreach_with_l2(params, grads, group["weight_decay"])
        exp_avgs, seconds = foreach_adam_moments_(states, grads, *group["betas"], amsgrad=group["amsgrad"])
        denom = foreach_adam_denom(seconds, group["eps"])
        foreach_root_(denom, 2 * group["partial"])
        torch._foreach_addcdiv_(params, exp_avgs, denom, -adam_step_size(group, step))

    # --- compiled path (see BaseOptimizer) ---------------------------------------------
    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def _compiled_flags(self, group: dict[str, Any]) -> tuple[Any, ...]:
        return (group["amsgrad"], 2 * group["partial"])

    def _compiled_inputs(self, group: dict[str, Any], states: list[dict[str, Any]], step: int) -> tuple:
        beta1, beta2 = group["betas"]
        scalars = [group["weight_decay"], 1 - beta1, beta2, 1 - beta2, group["eps"], adam_step_size(group, step)]
        return scalars, None, None

    @staticmethod
    def _kernel(p: Tensor, g: Tensor, st: list[Tensor], s: Tensor, row: Any, flags: tuple, kind: Any) -> None:
        amsgrad, exponent = flags
        exp_avg, second = compiled_adam_moments_(p, g, st, s, amsgrad)
        p.sub_(s[5] * exp_avg / root(second.sqrt() + s[4], exponent))
        return None
