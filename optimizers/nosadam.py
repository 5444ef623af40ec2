"""NosAdam (Huang, Wang & Dong, "Nostalgic Adam: Weighting More of the Past Gradients When
Designing the Adaptive Learning Rate", IJCAI 2019), hyper-harmonic variant NosAdam-HH.

Reproduces the authors' ``NosAdam.py`` (github.com/andrehuang/NostalgicAdam-NosAdam, file
``WideResNet28.code/NosAdam.py``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ._base import (
    BaseOptimizer,
    Params,
    adam_moments_,
    adam_state,
    check_bool,
    check_common,
    check_real,
    foreach_adam_denom,
    foreach_adam_moments_,
    foreach_with_l2,
)


class NosAdam(BaseOptimizer):
    r"""NosAdam-HH: Adam whose second-moment weight ``beta2`` is time varying and puts more
    weight on the past.

    Per parameter, step ``t``, with ``b_k = k**-gamma`` and ``B_t = sum_{k<=t} b_k`` (``B_0 = 0``)::

        g      <- g + weight_decay * x
        beta2  <- B_{t-1} / B_t                    # 0 at t = 1, so v_1 = g_1**2
        m      <- beta1 * m + (1 - beta1) * g
        v      <- beta2 * v + (1 - beta2) * g**2   # = weighted mean of g_k**2 with weights b_k
        x      <- x - lr/(1 - beta1**t) [/ sqrt(t) if lr_decay] * m / (sqrt(v) + eps)

    ``v`` needs no bias correction (the weights sum to one). ``gamma = 0`` gives the
    arithmetic mean of all past squared gradients. As the official code, ``B_t`` is kept
    as a running sum in the state (key ``B``), and ``lr_decay=True`` applies the
    ``alpha/sqrt(t)`` schedule of the paper's analysis.

    Args:
        lr: learning rate.
        beta1: first-moment coefficient in [0, 1).
        gamma: hyper-harmonic exponent, ``gamma >= 0`` (the authors' CIFAR notebooks use 0.1).
        eps: added to ``sqrt(v)``.
        weight_decay: L2 coefficient added to the gradient.
        lr_decay: divide the step by ``sqrt(t)``.
        foreach: ``None`` (default): per-tensor path on CPU, multi-tensor (``torch._foreach_*``)
            path on CUDA; ``True``/``False`` force the multi-tensor/per-tensor path.
        compile: ``True`` runs the step as one ``torch.compile``d graph per param group
            (see :class:`~optimizers._base.BaseOptimizer`); ``foreach`` must then stay ``None``.

    State: ``exp_avg``, ``exp_avg_sq`` (tensors) and ``B`` (float).
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        beta1: float = 0.9,
        gamma: float = 0.1,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        lr_decay: bool = False,
        *,
        foreach: bool | None = None,
        compile: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr, beta1=beta1, gamma=gamma, eps=eps, weight_decay=weight_decay, lr_decay=lr_decay, foreach=foreach, compile=compile
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_common(group)
        group["beta1"] = check_real("beta1", group["beta1"], low=0.0, high=1.0)
        group["gamma"] = check_real("gamma", group["gamma"], low=0.0)
        group["eps"] = check_real("eps", group["eps"], low=0.0)
        group["lr_decay"] = check_bool("lr_decay", group["lr_decay"])

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {**adam_state(p), "B": 0.0}

    @staticmethod
    def _advance(group: dict[str, Any], state: dict[str, Any]) -> float:
        """Update ``B`` to ``B_t`` and return ``beta2_t = B_{t-1} / B_t``."""
        previous = state["B"]
        state["B"] = previous + math.pow(state["step"], -group["gamma"])
        return previous / state["B"]

    @staticmethod
    def _step_size(group: dict[str, Any], step: int) -> float:
        step_size = group["lr"] / (1 - group["beta1"] ** step)
        if group["lr_decay"]:
            step_size = step_size / math.sqrt(step)
        return step_size

    def _single_tensor_update(self, group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        beta2 = self._advance(group, state)
        grad = self._with_l2(p, grad, group["weight_decay"])
        exp_avg, exp_avg_sq = adam_moments_(state, grad, group["beta1"], beta2)
        denom = self._adam_denom(p, exp_avg_sq, group["eps"])
        p.addcdiv_(exp_avg, denom, value=-self._step_size(group, state["step"]))

    def _multi_tensor_update(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        step: int,
    ) -> None:
        beta2s = [self._advance(group, s) for s in states]
        grads = foreach_with_l2(params, grads, group["weight_decay"])
        exp_avgs, exp_avg_sqs = foreach_adam_moments_(states, grads, group["beta1"], beta2s)
        denom = foreach_adam_denom(exp_avg_sqs, group["eps"])
        torch._foreach_addcdiv_(params, exp_avgs, denom, -self._step_size(group, step))

    # --- compiled path (see BaseOptimizer) ---------------------------------------------
    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq")

    def _compiled_inputs(self, group: dict[str, Any], states: list[dict[str, Any]], step: int) -> tuple:
        beta2s = [self._advance(group, s) for s in states]
        scalars = [group["weight_decay"], 1 - group["beta1"], group["eps"], self._step_size(group, step)]
        return scalars, [[b, 1 - b] for b in beta2s], None

    @staticmethod
    def _kernel(p: Tensor, g: Tensor, st: list[Tensor], s: Tensor, row: Any, flags: tuple, kind: Any) -> None:
        exp_avg, exp_avg_sq = st
        g = g + s[0] * p
        exp_avg.lerp_(g, s[1].to(exp_avg.dtype))
        exp_avg_sq.mul_(row[0]).add_(row[1] * g * g)
        p.sub_(s[3] * exp_avg / (exp_avg_sq.sqrt() + s[2]))
        return None
