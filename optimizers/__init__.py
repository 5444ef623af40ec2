"""Optimizers that torch.optim lacks, for the optbench harness and standalone use.

    from optimizers import Padam
    opt = Padam(model.parameters(), lr=0.1, partial=0.125)

Every class takes ``foreach=None`` (default: per-tensor path on CPU, multi-tensor path on
CUDA; ``True``/``False`` force one) and ``compile=False`` (``True``: one ``torch.compile``d
graph per param group, see ``optimizers._base.BaseOptimizer``).

``REGISTRY`` maps lowercase names to classes. Optimizers that torch.optim already has
(SGD with momentum, whose lr sits outside the momentum; RAME's heavy ball is ``SHB``; Adam, AMSGrad = ``Adam(amsgrad=True)``, AdamW, RMSprop, NAdam, RAdam)
are used from torch through config, not reimplemented here. AMSBound is
``AdaBound(amsbound=True)``.
"""

from __future__ import annotations

import torch

from .adabelief import AdaBelief
from .adabound import AdaBound
from .adal import AdaL
from .adamomentum import AdaMomentum
from .adarem import AdaRem, AdaRemS
from .nosadam import NosAdam
from .padam import Padam
from .rame import RAME
from .shb import SHB
from .yogi import Yogi

REGISTRY: dict[str, type[torch.optim.Optimizer]] = {
    "rame": RAME,
    "padam": Padam,
    "adamomentum": AdaMomentum,
    "adarem": AdaRem,
    "adarems": AdaRemS,
    "adal": AdaL,
    "yogi": Yogi,
    "adabound": AdaBound,
    "adabelief": AdaBelief,
    "nosadam": NosAdam,
    "shb": SHB,
}

__all__ = [
    "REGISTRY",
    "RAME",
    "Padam",
    "AdaMomentum",
    "AdaRem",
    "AdaRemS",
    "AdaL",
    "Yogi",
    "AdaBound",
    "AdaBelief",
    "NosAdam",
    "SHB",
]
