"""AdaRem and AdaRem-S ("Adaptive Gradient Method with Resilience and Momentum",
anonymous ICLR submission).

Paper: ``shared/papers/adarem.txt``, eqs. (1)-(2), Algorithm 1 (AdaRem), Algorithm 2 and
Sec. 3.4 (AdaRem-S). No official code was published; this follows the paper.

Epoch hook: the decay factor ``decay ** e`` uses ``e`` = number of completed epochs
("multiplying lambda once per epoch is enough", Sec. 4.1.1). The training loop must call
``optimizer.set_epoch(completed_epochs)`` at the start of every epoch (0 first); the value
is stored in each param group as ``group["epoch"]`` and so survives ``state_dict`` round
trips. Calling it again with the same value is harmless (idempotent). Without calls the
epoch stays 0 (full adaptation).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch
from torch import Tensor

from ._base import (
    BaseOptimizer,
    Params,
    abs_max,
    check_common,
    check_real,
    chunks,
    foreach_abs_max,
    l2_norm,
    scale_add_,
    zeros_like,
)


class AdaRem(BaseOptimizer):
    r"""AdaRem: SGD whose per-element learning rate grows when the gradient agrees with the
    momentum's sign and shrinks when it disagrees.

    Per parameter tensor, ``e`` = completed epochs (see :meth:`set_epoch`)::

        b_i   = g_i * m_i / (|g_i| * max_j |m_j| + eps)       # eq. (1), max over the tensor
        eta_i = lr * (1 + decay**e * b_i)                      # eq. (2), in [lr(1-decay**e), lr(1+decay**e)]
        x    <- x - eta * g - lr * weight_decay * x            # Algorithm 1 (feasible set = R^d)
        m    <- beta * m + (1 - beta) * g                      # momentum updated *after* use

    On the first step ``m = 0`` so ``b = 0`` and the step is plain SGD; with ``decay = 0``
    every step after the first epoch is plain SGD (``0**0 = 1`` keeps epoch 0 adaptive).

    Args:
        lr: base learning rate (paper: SGD's, 0.4 at batch 1024 on ImageNet; 0.1 at 256).
        beta: momentum EMA coefficient, ``0 <= beta < 1``.
        decay: the paper's :math:`\lambda`, ``0 <= decay <= 1`` (paper: 0.999, per epoch).
        eps: denominator offset, ``eps > 0``.
        weight_decay: the paper's :math:`\gamma`, applied as ``lr * weight_decay * x``.
        foreach: ``None`` (default): per-tensor path on CPU, multi-tensor (``torch._foreach_*``)
            path on CUDA; ``True``/``False`` force the multi-tensor/per-tensor path.
        compile: ``True`` runs the step as one ``torch.compile``d graph per param group
            (see :class:`~optimizers._base.BaseOptimizer`); ``foreach`` must then stay ``None``.

    State: ``momentum_buffer`` (one tensor per parameter). Group key ``epoch``.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.1,
        beta: float = 0.9,
        decay: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        compile: bool = False,
    ) -> None:
        defaults = dict(lr=lr, beta=beta, decay=decay, eps=eps, weight_decay=weight_decay, epoch=0, foreach=foreach, compile=compile)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_common(group)
        group["beta"] = check_real("beta", group["beta"], low=0.0, high=1.0)
        group["decay"] = check_real("decay", group["decay"], low=0.0, high=1.0, high_inclusive=True)
        group["eps"] = check_real("eps", group["eps"], low=0.0, low_inclusive=False)
        group["epoch"] = _check_epoch(group["epoch"])

    def set_epoch(self, completed_epochs: int) -> None:
        """Tell the optimizer how many epochs are complete (0 at the start of training)."""
        epoch = _check_epoch(completed_epochs)
        for group in self.param_groups:
            group["epoch"] = epoch

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"momentum_buffer": zeros_like(p)}

    @staticmethod
    def _adaptation(group: dict[str, Any]) -> float:
        return group["decay"] ** group["epoch"]

    # --- shared pieces, also used by AdaRemS -------------------------------------------
    # The step x -= s*(g + c*b*g) is evaluated as x -= s * g*(den + c*m*g) / den with
    # den = |g| max|m| + eps (b*g = g*m*g/den): one addcdiv into x instead of two updates.
    def _adaptive_step_(
        self, group: dict[str, Any], p: Tensor, grad: Tensor, m: Tensor, c: float, scale: float, shrink: float = 1.0
    ) -> None:
        """``p <- shrink * p - scale * (1 + c*b) * g``, then ``m <- lerp(m, g, 1 - beta)``.

        ``max |m|`` is taken first over the whole tensor; the rest runs slice by slice
        (:func:`chunks`) in two scratch buffers. ``c = 0`` skips the adaptive part (plain SGD).
        """
        eps, weight = group["eps"], 1 - group["beta"]
        top = abs_max(m) if c != 0 else None
        if top is not None and top.device.type == "cpu":
            top = top.item()  # on CPU a float (no sync to pay): den in one fused pass (scale_add_)
        for pc, gc, mc in chunks(p, grad, m):
            if shrink != 1.0:
                pc.mul_(shrink)
            if top is None:
                pc.add_(gc, alpha=-scale)
            else:
                den = scale_add_(torch.abs(gc, out=self._scratch(pc)), top, eps)
                num = torch.addcmul(den, mc, gc, value=c, out=self._scratch(pc, 1)).mul_(gc)
                pc.addcdiv_(num, den, value=-scale)
            mc.lerp_(gc, weight)

    @staticmethod
    def _foreach_adaptive_step_(
        params: list[Tensor], grads: list[Tensor], ms: list[Tensor], eps: float, c: float, scale: float | list[float]
    ) -> None:
        """Multi-tensor :meth:`_adaptive_step_` (same kernels in the same order)."""
        den = torch._foreach_abs(grads)
        if den[0].device.type == "cpu":  # the per-tensor path's fused pass, so both paths give the same bits
            for d, top in zip(den, foreach_abs_max(ms)):
                scale_add_(d, top.item(), eps)
        else:  # no host read of the maxima on an accelerator
            torch._foreach_mul_(den, foreach_abs_max(ms))
            torch._foreach_add_(den, eps)
        num = torch._foreach_addcmul(den, ms, grads, c)
        torch._foreach_mul_(num, grads)
        torch._foreach_addcdiv_(params, num, den, [-s for s in scale] if isinstance(scale, list) else -scale)

    def _single_tensor_update(self, group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        lr, wd, c = group["lr"], group["weight_decay"], self._adaptation(group)
        if state["step"] == 1:  # m == 0 on step 1, so b == 0: plain SGD
            c = 0.0
        self._adaptive_step_(group, p, grad, state["momentum_buffer"], c, lr, 1 - lr * wd)

    def _multi_tensor_update(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        step: int,
    ) -> None:
        lr, wd, c = group["lr"], group["weight_decay"], self._adaptation(group)
        ms = [s["momentum_buffer"] for s in states]
        if wd != 0:
            torch._foreach_mul_(params, 1 - lr * wd)
        if c != 0 and step > 1:
            self._foreach_adaptive_step_(params, grads, ms, group["eps"], c, lr)
        else:
            torch._foreach_add_(params, grads, alpha=-lr)
        torch._foreach_lerp_(ms, grads, 1 - group["beta"])


    # --- compiled path (see BaseOptimizer); AdaRemS shares the kernel ---------------------
    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",)

    def _compiled_inputs(self, group: dict[str, Any], states: list[dict[str, Any]], step: int) -> tuple:
        lr, wd = group["lr"], group["weight_decay"]
        c = self._adaptation(group) if step > 1 else 0.0  # m == 0 on step 1 anyway
        return [group["eps"], c, 1 - group["beta"]], [[lr, 1 - lr * wd, 1.0]] * len(states), None

    @staticmethod
    def _kernel(p: Tensor, g: Tensor, st: list[Tensor], s: Tensor, row: Tensor, flags: tuple, kind: Any) -> None:
        """``x <- shrink*x - scale*(1 + c*b)*g`` with ``row = (scale, shrink, radius)``
        (AdaRem-S projects its spherical tensors afterwards, in :meth:`AdaRemS._post_kernel`)."""
        (m,) = st
        p.mul_(row[1])
        den = g.abs() * m.abs().amax() + s[0]
        num = (den + s[1] * m * g) * g
        p.sub_(row[0] * num / den)
        m.lerp_(g, s[2].to(m.dtype))
        return None


def _check_epoch(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"Invalid completed_epochs (epoch): {value!r}; allowed: an integer >= 0")
    return int(value)


class AdaRemS(AdaRem):
    r"""AdaRem-S: AdaRem with scale-invariant weights kept on a fixed-radius sphere (Alg. 2).

    Spherical tensors (``spherical`` group option; default ``None`` = every tensor with
    ``ndim >= 2``, i.e. conv/linear weights, which precede BatchNorm in the paper's CNNs;
    pass a param group with ``spherical=False`` to exclude e.g. a final classifier) use::

        R       = radius or ||x_0||                 # sphere radius, per tensor
        alpha_0 = ||x_0|| / R                       # x_0 is projected: x <- x_0 * R/||x_0||
        a       = 1 + decay**e * b                  # AdaRem's per-element factor, eq. (1)-(2)
        eta_hat = lr / alpha**2                     # the sphere learning rate (SLR, Sec. 3.4.1)
        x'      = x - eta_hat * a * g - eta_hat * weight_decay * x   # Alg. 2
        alpha  <- alpha * ||x'|| / R                # SLR (Sec. 3.4.1): scale of the Euclidean twin
        x      <- x' * R / ||x'||                   # projection back onto the sphere
        m      <- beta * m + (1 - beta) * g

    ``alpha`` is the length ratio :math:`\alpha_t = \|OB\|/\|OA\|` between the unconstrained
    network ``B`` and its image ``A`` on the sphere; the sphere learning rate is
    ``eta_hat = lr / alpha**2`` (Sec. 3.4.1, :math:`\eta_t = \eta'_t/\alpha_t^2`) and ``alpha`` is
    updated "by the similar triangle theorem": for an exactly scale-invariant loss
    ``B_{t+1} = alpha_t * x'_t``, so the sphere iterate points where Euclidean AdaRem with
    weight decay ``weight_decay / alpha_t**2`` goes whenever both see the same ``b`` (tests
    check this with ``beta = 0``). The momentum is accumulated from sphere gradients, which
    is the point of the method: its scale no longer drifts with ``||x||``.

    Weight decay follows Algorithm 2, ``theta_{t+1} = Pi(theta_hat_t - eta_t * g_t -
    eta_hat_t * gamma * theta_hat_t)``: the decay uses the same base rate ``eta_hat_t`` that
    the element-wise rate ``eta_t = a * eta_hat_t`` is built from, and on the sphere that base
    rate is the SLR ``lr / alpha**2``. (Decaying with the plain ``lr`` instead would make the
    Euclidean twin AdaRem with a constant ``weight_decay``, but it is not what the paper writes.)

    Other tensors (and spherical ones whose initial norm is 0) follow plain AdaRem.
    With an explicit ``radius`` the projection of ``x_0`` happens at the tensor's first
    step, so that one step uses the gradient taken at the unprojected point.

    Extra args: ``radius`` (``None`` or > 0), ``spherical`` (``None``/``True``/``False``),
    both settable per param group. Extra state per spherical tensor: ``radius`` and
    ``alpha`` (Python floats). The norms are brought to the host once per step (one
    device sync per step on CUDA). With ``compile=True`` a param group with spherical
    tensors runs two graphs per step, the update and then the projection (see
    ``BaseOptimizer._post_kernel``).
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.1,
        beta: float = 0.9,
        decay: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        radius: float | None = None,
        spherical: bool | None = None,
        *,
        foreach: bool | None = None,
        compile: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            beta=beta,
            decay=decay,
            eps=eps,
            weight_decay=weight_decay,
            epoch=0,
            radius=radius,
            spherical=spherical,
            foreach=foreach, compile=compile,
        )
        BaseOptimizer.__init__(self, params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        if group["radius"] is not None:
            group["radius"] = check_real("radius", group["radius"], low=0.0, low_inclusive=False)
        if group["spherical"] is not None and not isinstance(group["spherical"], bool):
            raise ValueError(f"Invalid spherical: {group['spherical']!r}; allowed: None (ndim >= 2), True or False")

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = {"momentum_buffer": zeros_like(p)}
        spherical = group["spherical"] if group["spherical"] is not None else p.dim() >= 2
        if spherical:
            norm = l2_norm(p).item()
            if norm > 0 and math.isfinite(norm):
                radius = group["radius"] if group["radius"] is not None else norm
                state["radius"] = radius
                state["alpha"] = norm / radius
                if radius != norm:
                    p.mul_(radius / norm)
        return state

    def _single_tensor_update(self, group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        if "radius" not in state:
            super()._single_tensor_update(group, p, grad, state)
            return
        lr, wd, c = group["lr"], group["weight_decay"], self._adaptation(group)
        alpha, radius = state["alpha"], state["radius"]
        scale = lr / alpha**2  # the sphere learning rate eta_hat (Sec. 3.4.1)
        if state["step"] == 1:
            c = 0.0
        # Alg. 2: theta_hat - eta * g - eta_hat * gamma * theta_hat
        self._adaptive_step_(group, p, grad, state["momentum_buffer"], c, scale, 1 - scale * wd)
        norm = l2_norm(p).item()
        state["alpha"] = alpha * norm / radius
        p.mul_(radius / norm)

    def _multi_tensor_update(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        step: int,
    ) -> None:
        flat = [i for i, s in enumerate(states) if "radius" not in s]
        sphere = [i for i, s in enumerate(states) if "radius" in s]
        if flat:
            super()._multi_tensor_update(
                group, [params[i] for i in flat], [grads[i] for i in flat], [states[i] for i in flat], step
            )
        if not sphere:
            return
        params = [params[i] for i in sphere]
        grads = [grads[i] for i in sphere]
        states = [states[i] for i in sphere]
        lr, wd, c = group["lr"], group["weight_decay"], self._adaptation(group)
        ms = [s["momentum_buffer"] for s in states]
        scales = [lr / s["alpha"] ** 2 for s in states]
        if wd != 0:
            torch._foreach_mul_(params, [1 - s * wd for s in scales])
        if c != 0 and step > 1:
            self._foreach_adaptive_step_(params, grads, ms, group["eps"], c, scales)
        else:
            for p, g, s in zip(params, grads, scales):  # foreach add has no per-tensor alpha
                p.add_(g, alpha=-s)
        norms = torch.stack([l2_norm(p) for p in params]).tolist()  # one host read; same norms as the per-tensor path
        for s, n in zip(states, norms):
            s["alpha"] = s["alpha"] * n / s["radius"]
        torch._foreach_mul_(params, [s["radius"] / n for s, n in zip(states, norms)])
        torch._foreach_lerp_(ms, grads, 1 - group["beta"])

    # --- compiled path: AdaRem's kernel with per-tensor sphere rates -----------------------
    def _compiled_inputs(self, group: dict[str, Any], states: list[dict[str, Any]], step: int) -> tuple:
        lr, wd = group["lr"], group["weight_decay"]
        c = self._adaptation(group) if step > 1 else 0.0
        rows, kinds = [], []
        for state in states:
            sphere = "radius" in state
            scale = lr / state["alpha"] ** 2 if sphere else lr  # Alg. 2 decays with the same rate
            rows.append([scale, 1 - scale * wd, state["radius"] if sphere else 1.0])
            kinds.append(sphere)
        return [group["eps"], c, 1 - group["beta"]], rows, tuple(kinds)

    @staticmethod
    def _post_kernel(p: Tensor, g: Tensor, st: list[Tensor], s: Tensor, row: Tensor, flags: tuple, kind: Any) -> Any:
        """A spherical tensor (``kind``) is projected to ``radius = row[2]``; its norm before is returned."""
        if not kind:
            return None
        norm = torch.linalg.vector_norm(p)
        p.mul_(row[2] / norm)
        return norm

    def _compiled_finish(self, group: dict[str, Any], states: list[dict[str, Any]], outs: list[Tensor]) -> None:
        if not outs:
            return
        norms = torch.stack(outs).tolist()  # one host sync per step, as the eager paths
        for state, norm in zip((s for s in states if "radius" in s), norms):
            state["alpha"] = state["alpha"] * norm / state["radius"]
