"""Stochastic heavy ball in RAME's form: the learning rate inside the momentum.

Paper: ``shared/papers/rame.txt`` (Zhang, Niwa & Kleijn), the SHB baseline of Sec. II /
Sec. VI: ``m_t = beta * m_{t-1} + alpha_t * g_t``, ``x_t = x_{t-1} - m_t``. ``torch.optim.SGD``
keeps ``alpha`` outside (``b = beta * b + g``, ``x -= alpha * b``); the two agree while the
learning rate is constant and differ after every drop of a step/piecewise schedule, where
SHB's momentum still carries the old step sizes and decays them away geometrically.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._base import BaseOptimizer, Params, check_common, check_real, foreach_with_l2, zeros_like


class SHB(BaseOptimizer):
    r"""Heavy ball with the learning rate inside the momentum buffer.

    Per parameter::

        g <- g + weight_decay * x            # L2 (Keras l2 regularisers enter the loss)
        m <- momentum * m + lr * g           # m_0 = 0
        x <- x - m

    Args:
        lr: the step size ``alpha`` (scheduled by the runner's lr scheduler).
        momentum: ``beta``, ``0 <= momentum < 1`` (RAME: 0.9).
        weight_decay: L2 coefficient added to the gradient.
        foreach: ``None`` (default): per-tensor path on CPU, multi-tensor (``torch._foreach_*``)
            path on CUDA; ``True``/``False`` force the multi-tensor/per-tensor path.
        compile: ``True`` runs the step as one ``torch.compile``d graph per param group
            (see :class:`~optimizers._base.BaseOptimizer`); ``foreach`` must then stay ``None``.

    State: ``momentum_buffer`` (the displacement ``m`` of the last step).
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        compile: bool = False,
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, foreach=foreach, compile=compile)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_common(group)
        group["momentum"] = check_real("momentum", group["momentum"], low=0.0, high=1.0)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"momentum_buffer": zeros_like(p)}

    def _single_tensor_update(self, group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        grad = self._with_l2(p, grad, group["weight_decay"])
        buf = state["momentum_buffer"]
        buf.mul_(group["momentum"]).add_(grad, alpha=group["lr"])
        p.sub_(buf)

    def _multi_tensor_update(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        step: int,
    ) -> None:
        grads = foreach_with_l2(params, grads, group["weight_decay"])
        bufs = [s["momentum_buffer"] for s in states]
        torch._foreach_mul_(bufs, group["momentum"])
        torch._foreach_add_(bufs, grads, alpha=group["lr"])
        torch._foreach_sub_(params, bufs)

    # --- compiled path (see BaseOptimizer) ---------------------------------------------
    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",)

    def _compiled_inputs(self, group: dict[str, Any], states: list[dict[str, Any]], step: int) -> tuple:
        return [group["weight_decay"], group["momentum"], group["lr"]], None, None

    @staticmethod
    def _kernel(p: Tensor, g: Tensor, st: list[Tensor], s: Tensor, row: Any, flags: tuple, kind: Any) -> None:
        (buf,) = st
        g = g + s[0] * p
        buf.mul_(s[1]).add_(s[2] * g)
        p.sub_(buf)
        return None


__all__ = ["SHB"]
