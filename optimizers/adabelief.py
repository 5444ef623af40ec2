"""AdaBelief (Zhuang et al., NeurIPS 2020).

Reproduces the maths of ``adabelief-pytorch`` 0.2.x (github.com/juntang-zhuang/Adabelief-Optimizer,
file ``pypi_packages/adabelief_pytorch0.2.1/adabelief_pytorch/AdaBelief.py``) with all of
its flags and their 0.2.x defaults. Reimplemented rather than wrapped: the package has no
multi-tensor path, prints banners, mutates ``p.grad`` in place for L2 weight decay and
casts float16 parameters through ``p.data`` replacement.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ._base import (
    BaseOptimizer,
    Params,
    check_adam_common,
    check_bool,
    foreach_adam_denom,
    foreach_with_l2,
    zeros_like,
)


class AdaBelief(BaseOptimizer):
    r"""AdaBelief: Adam with the second moment of the "belief" residual ``g - m``.

    Per parameter, step ``t`` (as adabelief-pytorch 0.2.1)::

        x <- x * (1 - lr*wd)   if weight_decouple and not fixed_decay
        x <- x * (1 - wd)      if weight_decouple and fixed_decay
        g <- g + wd * x        otherwise (L2; the package also writes this into p.grad, we do not)
        m <- beta1 * m + (1 - beta1) * g
        s <- beta2 * s + (1 - beta2) * (g - m)**2
        s <- s + eps                                   # stored: eps accumulates in the state
        s_max <- max(s_max, s)                         # amsgrad only
        not rectify:
            x <- x - lr/(1 - beta1**t) * m / (sqrt(s_max or s)/sqrt(1 - beta2**t) + eps)
        rectify (RAdam rule, rho_inf = 2/(1-beta2) - 1, rho_t = rho_inf - 2 t beta2**t/(1-beta2**t)):
            rho_t >= 5:  x <- x - lr * r_t * m / (sqrt(s) + eps),
                         r_t = sqrt((1-beta2**t) (rho_t-4)(rho_t-2) rho_inf
                                    / ((rho_inf-4)(rho_inf-2) rho_t)) / (1-beta1**t)
            else if degenerated_to_sgd:  x <- x - lr/(1 - beta1**t) * m
            else: no update

    As in the package, the rectified branch uses ``s`` (not ``s_max``) even with
    ``amsgrad=True``.

    Args:
        lr: learning rate.
        betas: ``(beta1, beta2)``, each in [0, 1).
        eps: added inside (to ``s``, every step) and outside the square root (default 1e-16).
        weight_decay: decay coefficient, ``>= 0``.
        amsgrad: keep the running max of ``s``.
        weight_decouple: AdamW-style decay (default True).
        fixed_decay: with ``weight_decouple``, decay by ``wd`` instead of ``lr*wd``.
        rectify: RAdam-style rectification (default True).
        degenerated_to_sgd: SGD-with-momentum step while the variance is not tractable.
        foreach: ``None`` (default): per-tensor path on CPU, multi-tensor (``torch._foreach_*``)
            path on CUDA; ``True``/``False`` force the multi-tensor/per-tensor path.
        compile: ``True`` runs the step as one ``torch.compile``d graph per param group
            (see :class:`~optimizers._base.BaseOptimizer`); ``foreach`` must then stay ``None``.

    State: ``exp_avg``, ``exp_avg_var`` and, with ``amsgrad``, ``max_exp_avg_var``.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-16,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        weight_decouple: bool = True,
        fixed_decay: bool = False,
        rectify: bool = True,
        degenerated_to_sgd: bool = True,
        *,
        foreach: bool | None = None,
        compile: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            weight_decouple=weight_decouple,
            fixed_decay=fixed_decay,
            rectify=rectify,
            degenerated_to_sgd=degenerated_to_sgd,
            foreach=foreach, compile=compile,
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_adam_common(group)
        for flag in ("amsgrad", "weight_decouple", "fixed_decay", "rectify", "degenerated_to_sgd"):
            group[flag] = check_bool(flag, group[flag])

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = {"exp_avg": zeros_like(p), "exp_avg_var": zeros_like(p)}
        if group["amsgrad"]:
            state["max_exp_avg_var"] = zeros_like(p)
        return state

    @staticmethod
    def _plan(group: dict[str, Any], step: int) -> tuple[str, float, float]:
        """Return ``(kind, scale, eps_factor)``; kind in adam | rectified | sgd | none.

        ``scale`` multiplies ``m/denom`` (or ``m`` for sgd), ``denom = sqrt(s) + eps * eps_factor``.
        The adam kind folds the bias correction ``c2 = sqrt(1 - beta2**t)`` into ``scale`` and
        ``eps`` (``m/(sqrt(s)/c2 + eps) = c2*m/(sqrt(s) + c2*eps)``, one tensor pass fewer);
        the others compute the package's scalars as it does.
        """
        beta1, beta2 = group["betas"]
        lr = group["lr"]
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        if not group["rectify"]:
            c2 = math.sqrt(bias_correction2)
            return "adam", lr * c2 / bias_correction1, c2
        beta2_t = beta2**step
        n_sma_max = 2 / (1 - beta2) - 1
        n_sma = n_sma_max - 2 * step * beta2_t / (1 - beta2_t)
        if n_sma >= 5:
            step_size = math.sqrt(
                (1 - beta2_t) * (n_sma - 4) / (n_sma_max - 4) * (n_sma - 2) / n_sma * n_sma_max / (n_sma_max - 2)
            ) / (1 - beta1**step)
            return "rectified", step_size * lr, 1.0
        if group["degenerated_to_sgd"]:
            return "sgd", 1.0 / (1 - beta1**step) * lr, 1.0
        return "none", 0.0, 1.0

    def _single_tensor_update(self, group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        if group["weight_decouple"]:
            if wd != 0:
                p.mul_(1.0 - (wd if group["fixed_decay"] else lr * wd))
        else:
            grad = self._with_l2(p, grad, wd)
        exp_avg, exp_avg_var = state["exp_avg"], state["exp_avg_var"]
        exp_avg.lerp_(grad, 1 - beta1)
        residual = torch.sub(grad, exp_avg, out=self._scratch(p))
        exp_avg_var.mul_(beta2).addcmul_(residual, residual, value=1 - beta2).add_(eps)
        second = exp_avg_var
        if group["amsgrad"]:
            torch.maximum(state["max_exp_avg_var"], exp_avg_var, out=state["max_exp_avg_var"])
            second = state["max_exp_avg_var"]
        kind, scale, eps_factor = self._plan(group, state["step"])
        if kind == "adam":
            p.addcdiv_(exp_avg, self._adam_denom(p, second, eps * eps_factor), value=-scale)
        elif kind == "rectified":  # denominators reuse residual's buffer
            p.addcdiv_(exp_avg, self._adam_denom(p, exp_avg_var, eps), value=-scale)
        elif kind == "sgd":
            p.add_(exp_avg, alpha=-scale)

    def _multi_tensor_update(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        step: int,
    ) -> None:
        beta1, beta2 = group["betas"]
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        exp_avgs = [s["exp_avg"] for s in states]
        exp_avg_vars = [s["exp_avg_var"] for s in states]
        if group["weight_decouple"]:
            if wd != 0:
                torch._foreach_mul_(params, 1.0 - (wd if group["fixed_decay"] else lr * wd))
        else:
            grads = foreach_with_l2(params, grads, wd)
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        residual = torch._foreach_sub(grads, exp_avgs)
        torch._foreach_mul_(exp_avg_vars, beta2)
        torch._foreach_addcmul_(exp_avg_vars, residual, residual, 1 - beta2)
        torch._foreach_add_(exp_avg_vars, eps)
        del residual
        seconds = exp_avg_vars
        if group["amsgrad"]:
            seconds = [s["max_exp_avg_var"] for s in states]
            torch._foreach_maximum_(seconds, exp_avg_vars)
        kind, scale, eps_factor = self._plan(group, step)
        if kind == "adam":
            denom = foreach_adam_denom(seconds, eps * eps_factor)
            torch._foreach_addcdiv_(params, exp_avgs, denom, -scale)
        elif kind == "rectified":
            denom = foreach_adam_denom(exp_avg_vars, eps)
            torch._foreach_addcdiv_(params, exp_avgs, denom, -scale)
        elif kind == "sgd":
            torch._foreach_add_(params, exp_avgs, alpha=-scale)

    # --- compiled path (see BaseOptimizer) ---------------------------------------------
    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_var") + (("max_exp_avg_var",) if group["amsgrad"] else ())

    def _compiled_flags(self, group: dict[str, Any]) -> tuple[Any, ...]:
        return (group["amsgrad"], group["rectify"])

    def _compiled_inputs(self, group: dict[str, Any], states: list[dict[str, Any]], step: int) -> tuple:
        beta1, beta2 = group["betas"]
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        shrink, l2 = 1.0, 0.0
        if not group["weight_decouple"]:
            l2 = wd
        elif wd != 0:
            shrink = 1.0 - (wd if group["fixed_decay"] else lr * wd)
        kind, scale, eps_factor = self._plan(group, step)
        # x -= a * m / (sqrt(s) + eps_den) + b * m: one formula for the four kinds of step
        a = scale if kind in ("adam", "rectified") else 0.0
        b = scale if kind == "sgd" else 0.0
        eps_den = eps * eps_factor if kind == "adam" else eps
        return [shrink, l2, 1 - beta1, beta2, 1 - beta2, eps, a, eps_den, b], None, None

    @staticmethod
    def _kernel(p: Tensor, g: Tensor, st: list[Tensor], s: Tensor, row: Any, flags: tuple, kind: Any) -> None:
        amsgrad, rectify = flags
        exp_avg, exp_avg_var = st[0], st[1]
        p.mul_(s[0])
        g = g + s[1] * p
        exp_avg.lerp_(g, s[2].to(exp_avg.dtype))
        residual = g - exp_avg
        exp_avg_var.mul_(s[3]).add_(s[4] * residual * residual).add_(s[5])
        second = exp_avg_var
        if amsgrad:
            st[2].copy_(torch.maximum(st[2], exp_avg_var))
            second = st[2]
        denom = (exp_avg_var if rectify else second).sqrt() + s[7]
        p.sub_(s[6] * exp_avg / denom).sub_(s[8] * exp_avg)
        return None
