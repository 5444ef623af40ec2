"""Which weights are scale-invariant, for optimizers that treat those on a sphere (AdaRem-S).

A convolution or linear layer whose output goes straight into a BatchNorm (and nowhere else)
has a scale-invariant weight: ``BN(c W x + b) = BN(W x + b')`` for any ``c > 0``, so only its
direction matters — the premise of AdaRem's spherical variant (AdaRem Sec. 3.3, after
Cho & Lee 2017 / Arora et al. 2019). Everything else (the classifier, biases, BatchNorm's own
affine parameters, a conv followed by an activation before its BN) is Euclidean.

Detection traces the model with ``torch.fx`` (the conv/linear node's only user is a BatchNorm
module); a model fx cannot trace falls back to module order (a conv/linear immediately followed,
in registration order, by a BatchNorm over its output channels), and ``explicit`` names override
both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

LINEAR_KINDS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def _by_fx(model: nn.Module) -> set[str]:
    graph = torch.fx.symbolic_trace(model).graph
    modules = dict(model.named_modules())
    found = set()
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules.get(node.target), _BatchNorm):
            continue
        src = node.args[0] if node.args else None
        if (isinstance(src, torch.fx.Node) and src.op == "call_module"
                and isinstance(modules.get(src.target), LINEAR_KINDS) and len(src.users) == 1):
            found.add(f"{src.target}.weight")
    return found


def _by_module_order(model: nn.Module) -> set[str]:
    leaves = [(name, m) for name, m in model.named_modules() if not list(m.children())]
    found = set()
    for (name, m), (_, nxt) in zip(leaves, leaves[1:]):
        out = getattr(m, "out_channels", getattr(m, "out_features", None))
        if isinstance(m, LINEAR_KINDS) and isinstance(nxt, _BatchNorm) and nxt.num_features == out:
            found.add(f"{name}.weight")
    return found


def scale_invariant_weights(model: nn.Module, explicit: Iterable[str] | None = None) -> tuple[list[str], str]:
    """Names (as in ``model.named_parameters()``) of the scale-invariant weights, and the method
    that found them (``explicit``, ``fx`` or ``module order``)."""
    names = {n for n, _ in model.named_parameters()}
    if explicit is not None:
        chosen = list(explicit)
        unknown = [n for n in chosen if n not in names]
        if unknown:
            raise ValueError(f"spherical: {unknown[0]!r} is not a parameter of the model")
        return sorted(chosen), "explicit"
    try:
        found, method = _by_fx(model), "fx"
    except Exception:  # noqa: BLE001 - any tracing failure: data-dependent control flow etc.
        found, method = _by_module_order(model), "module order"
    return sorted(found & names), method


def spherical_param_groups(model: nn.Module, explicit: Iterable[str] | None = None
                           ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Two param groups (``spherical=True`` for the scale-invariant weights, ``False`` for the
    rest; an empty one is dropped) and what the record stores about the split."""
    spherical, method = scale_invariant_weights(model, explicit)
    chosen = set(spherical)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [{"params": [p for n, p in named if n in chosen], "spherical": True},
              {"params": [p for n, p in named if n not in chosen], "spherical": False}]
    info = {"method": method, "spherical": spherical,
            "euclidean": [n for n, _ in named if n not in chosen]}
    return [g for g in groups if g["params"]], info


def has_group_option(optimizer: torch.optim.Optimizer, option: str) -> bool:
    """True when the optimizer's param groups carry ``option`` (e.g. AdaRem-S's ``spherical``)."""
    return bool(optimizer.param_groups) and option in optimizer.param_groups[0]
