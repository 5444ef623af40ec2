"""Straight-line transcriptions of the official code or the paper equations, kept apart from
the implementation under test (nothing here imports ``optimizers``).

Each reference updates plain tensors in place from explicitly passed gradients, one tensor
at a time, in the same statement order as its source. The reference *packages*
(torch_optimizer.Yogi, adabound, adabelief_pytorch) work on torch 2.14 and are used directly
by the tests instead of transcriptions.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor


class Reference:
    def __init__(self, params: list[Tensor], **hp: Any) -> None:
        self.params = params
        self.hp = hp
        self.state: list[dict[str, Any]] = [{} for _ in params]
        self.epoch = 0

    @torch.no_grad()
    def step(self, grads: list[Tensor]) -> None:
        for p, g, st in zip(self.params, grads, self.state):
            self.update(p, g.clone(), st)

    def update(self, p: Tensor, g: Tensor, st: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError


class PadamOfficial(Reference):
    """github.com/uclaml/Padam ``Padam.py`` (old add_/addcmul_ overloads rewritten with keywords)."""

    def update(self, p, g, st):
        lr, (beta1, beta2), eps, wd = self.hp["lr"], self.hp["betas"], self.hp["eps"], self.hp["weight_decay"]
        amsgrad, partial = self.hp["amsgrad"], self.hp["partial"]
        if not st:
            st["step"] = 0
            st["exp_avg"] = torch.zeros_like(p)
            st["exp_avg_sq"] = torch.zeros_like(p)
            if amsgrad:
                st["max_exp_avg_sq"] = torch.zeros_like(p)
        exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
        st["step"] += 1
        if wd != 0:
            g = g.add(p, alpha=wd)
        exp_avg.mul_(beta1).add_(g, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        if amsgrad:
            torch.max(st["max_exp_avg_sq"], exp_avg_sq, out=st["max_exp_avg_sq"])
            denom = st["max_exp_avg_sq"].sqrt().add_(eps)
        else:
            denom = exp_avg_sq.sqrt().add_(eps)
        bias_correction1 = 1 - beta1 ** st["step"]
        bias_correction2 = 1 - beta2 ** st["step"]
        step_size = lr * math.sqrt(bias_correction2) / bias_correction1
        p.addcdiv_(exp_avg, denom ** (partial * 2), value=-step_size)


class AdamOfficial(PadamOfficial):
    """github.com/uclaml/Padam ``Adam.py`` (the authors' AMSGrad): Padam.py without the power."""

    def __init__(self, params, **hp):
        super().__init__(params, partial=0.5, **hp)


class AdaMomentumOfficial(Reference):
    """The authors' AdaBelief-derived AdaMomentum step, non-rectified, non-AMSGrad branch."""

    def update(self, p, g, st):
        lr, (beta1, beta2), eps, wd = self.hp["lr"], self.hp["betas"], self.hp["eps"], self.hp["weight_decay"]
        if not st:
            st["step"] = 0
            st["exp_avg"] = torch.zeros_like(p)
            st["exp_avg_var"] = torch.zeros_like(p)
        if self.hp["decoupled_weight_decay"]:
            p.mul_(1.0 - lr * wd)
        elif wd != 0:
            g.add_(p, alpha=wd)
        exp_avg, exp_avg_var = st["exp_avg"], st["exp_avg_var"]
        st["step"] += 1
        bias_correction1 = 1 - beta1 ** st["step"]
        bias_correction2 = 1 - beta2 ** st["step"]
        exp_avg.mul_(beta1).add_(g, alpha=1 - beta1)
        exp_avg_var.mul_(beta2).addcmul_(exp_avg, exp_avg, value=1 - beta2)
        denom = exp_avg_var.add_(eps).sqrt() / math.sqrt(bias_correction2)
        p.addcdiv_(exp_avg, denom, value=-lr / bias_correction1)


class RAMEPaper(Reference):
    """RAME paper, eqs. (7)-(10): the literal formulas, pow and sign included."""

    def update(self, p, g, st):
        lr, beta, q, eta, xi, wd = (self.hp[k] for k in ("lr", "beta", "q", "eta", "xi", "weight_decay"))
        if not st:
            st["m"] = torch.zeros_like(p)
        if wd != 0:
            g = g + wd * p
        st["m"] = beta * st["m"] + lr * g
        m = st["m"]
        if xi == 0:
            p -= eta * torch.sign(m) * m.abs() ** (1 - q)
        else:
            p -= eta * m / (m.abs() ** q + xi)


class HeavyBall(Reference):
    """Polyak heavy ball as RAME writes it, eqs. (1)-(2) with eta = 1."""

    def update(self, p, g, st):
        st.setdefault("m", torch.zeros_like(p))
        st["m"] = self.hp["beta"] * st["m"] + self.hp["lr"] * g
        p -= st["m"]


class AdaRemPaper(Reference):
    """AdaRem paper, eqs. (1)-(2) and Algorithm 1 (set ``self.epoch`` for lambda^e)."""

    def update(self, p, g, st):
        lr, beta, decay, eps, wd = (self.hp[k] for k in ("lr", "beta", "decay", "eps", "weight_decay"))
        if not st:
            st["m"] = torch.zeros_like(p)
        m = st["m"]
        b = g * m / (g.abs() * m.abs().max() + eps)
        eta = lr * (1 + decay**self.epoch * b)
        p.copy_(p - eta * g - lr * wd * p)
        st["m"] = beta * m + (1 - beta) * g


class AdaRemSPaper(Reference):
    """AdaRem-S, Algorithm 2 with the sphere learning rate eta_hat = lr / alpha^2 (Sec. 3.4.1)
    in both the gradient step and the weight decay, alpha tracked by the similar-triangle
    rule; every tensor here is spherical."""

    def update(self, p, g, st):
        lr, beta, decay, eps, wd = (self.hp[k] for k in ("lr", "beta", "decay", "eps", "weight_decay"))
        if not st:
            st["m"] = torch.zeros_like(p)
            norm = p.norm().item()
            st["R"] = self.hp.get("radius") or norm
            st["alpha"] = norm / st["R"]
            p.mul_(st["R"] / norm)
        m = st["m"]
        b = g * m / (g.abs() * m.abs().max() + eps)
        eta_hat = lr / st["alpha"] ** 2  # the sphere learning rate, also the decay's rate (Alg. 2)
        eta = eta_hat * (1 + decay**self.epoch * b)
        new = p - eta * g - eta_hat * wd * p
        st["alpha"] = st["alpha"] * new.norm().item() / st["R"]
        p.copy_(new / new.norm() * st["R"])
        st["m"] = beta * m + (1 - beta) * g


class AdaLPaper(Reference):
    """AdaL Algorithm 1 (eps outside the root, constant lr) with torch.norm(grad, p=1) as in Sec. 2.3."""

    def update(self, p, g, st):
        lr, (beta1, beta2), eps, wd = self.hp["lr"], self.hp["betas"], self.hp["eps"], self.hp["weight_decay"]
        if not st:
            st.update(t=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
        st["t"] += 1
        g_hat = torch.norm(g, p=1) * g
        if wd != 0:
            g_hat = g_hat + wd * p
        st["m"] = beta1 * st["m"] + (1 - beta1) * g_hat
        st["v"] = beta2 * st["v"] + (1 - beta2) * g_hat**2
        m_hat = st["m"] / (1 - beta1 ** st["t"])
        v_hat = st["v"] / (1 - beta2 ** st["t"])
        p -= lr * m_hat / (v_hat.sqrt() + eps)


class NosAdamOfficial(Reference):
    """github.com/andrehuang/NostalgicAdam-NosAdam ``WideResNet28.code/NosAdam.py``."""

    def update(self, p, g, st):
        lr, beta1, gamma, eps, wd = (self.hp[k] for k in ("lr", "beta1", "gamma", "eps", "weight_decay"))
        if not st:
            st["step"] = 0
            st["exp_avg"] = torch.zeros_like(p)
            st["exp_avg_sq"] = torch.zeros_like(p)
            st["B_old"] = 0
            st["B_new"] = 1
        exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
        beta2 = st["B_old"] / st["B_new"]
        st["step"] += 1
        step = st["step"]
        st["B_old"] += math.pow(step, -gamma)
        st["B_new"] += math.pow(step + 1, -gamma)
        if wd != 0:
            g = g.add(p, alpha=wd)
        exp_avg.mul_(beta1).add_(g, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        denom = exp_avg_sq.sqrt().add_(eps)
        bias_correction1 = 1 - beta1 ** st["step"]
        step_size = lr / bias_correction1
        if self.hp["lr_decay"]:
            step_size = step_size / math.sqrt(st["step"])
        p.addcdiv_(exp_avg, denom, value=-step_size)
