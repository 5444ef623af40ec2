"""Probes: opt-in training diagnostics a cell config lists (``probes: [oscillation, grad_norm]``,
or ``probes: [{name: oscillation, every_n_steps: 100}]``). Each is a Lightning ``Callback`` that
only reads parameters and gradients; its rows land in the record under ``extras.probes.<name>``
(``bench.callbacks.History`` collects ``record_extras()`` of every probe each epoch).
Generic: a probe knows no workload family.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bench.probes.base import Probe
from bench.probes.grad_norm import GradNormProbe
from bench.probes.oscillation import OscillationProbe

PROBES: dict[str, type[Probe]] = {"oscillation": OscillationProbe, "grad_norm": GradNormProbe}


def build_probes(names: Iterable[str | Mapping[str, Any]] | None) -> list[Probe]:
    """Instantiate the listed probes; a bad name or option is a one-line ``ValueError``."""
    probes: list[Probe] = []
    for entry in names or []:
        options = dict(entry) if isinstance(entry, Mapping) else {"name": entry}
        name = options.pop("name", None)
        if name not in PROBES:
            raise ValueError(f"probes: unknown probe {name!r}; allowed: {', '.join(sorted(PROBES))}")
        if any(p.name == name for p in probes):
            raise ValueError(f"probes: {name!r} listed twice")
        try:
            probes.append(PROBES[name](**options))
        except TypeError as exc:
            raise ValueError(f"probes.{name}: {exc}") from None
    return probes


__all__ = ["PROBES", "Probe", "build_probes", "GradNormProbe", "OscillationProbe"]
