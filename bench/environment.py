"""Facts about where a cell ran: package versions, git commit, device."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import warnings
from functools import lru_cache
from pathlib import Path

import torch

PACKAGES = (
    "torch", "torchvision", "pytorch-lightning", "hydra-core", "omegaconf", "timm",
    "torchmetrics", "numpy", "pandas", "scikit-learn", "wandb", "optbench",
)
REPO = Path(__file__).resolve().parents[1]


def versions() -> dict[str, str | None]:
    """Installed versions of the packages that can change a result."""
    return dict(_versions())


@lru_cache(maxsize=1)
def _versions() -> dict[str, str | None]:  # once per process: the imported packages do not change under it
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


@lru_cache(maxsize=1)
def drop_nvml_check_without_nvml() -> bool:
    """Unset ``PYTORCH_NVML_BASED_CUDA_CHECK`` where NVML cannot answer; True if it was unset.

    Lightning sets it at import, so that ``torch.cuda.is_available()`` asks NVML, which does
    not initialise CUDA (fork-safe). Where NVML fails (no NVIDIA driver), torch falls back to
    the CUDA runtime's own check on every call anyway, after a failed ``dlopen`` of ~37 us;
    torch's Adam-family steps call it several times a step (a plain digits Adam loop: 117 ms
    with the variable, 94 ms without).
    Without the variable torch makes that same runtime check directly, so nothing but the
    failed load changes. Decided once per process.
    """
    if os.environ.get(NVML_CHECK) != "1" or not torch.cuda._is_compiled():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Can't initialize NVML": the answer is what matters here
        try:
            failed = torch.cuda._device_count_nvml() < 0
        except Exception:  # noqa: BLE001 - torch moved it: keep Lightning's choice
            return False
    if failed:
        del os.environ[NVML_CHECK]
    return failed


@lru_cache(maxsize=1)
def scan_entry_points_once() -> bool:
    """Have Lightning read the installed packages' entry points once per process, not at every
    ``Trainer()``; True if this call installed the cache.

    ``Trainer()`` looks up callback factories (group ``pytorch_lightning.callbacks_factory``)
    with ``importlib.metadata.entry_points``, which parses every installed distribution's
    metadata each time: ~3.5-7.5 ms a cell here, a tenth of a digits cell. The lookup's answer
    (an immutable ``EntryPoints``) is kept per group; Lightning still loads and calls every
    factory at each ``Trainer()``, so each Trainer gets fresh callbacks. A package installed
    while the process runs is seen by the next process.
    """
    try:
        from lightning_fabric.utilities import registry
    except ImportError:  # pragma: no cover - Lightning moved it: keep its own lookup
        return False
    lookup = getattr(registry, "entry_points", None)
    if lookup is not importlib.metadata.entry_points:
        return False  # not the lookup this was written against (or already cached)
    registry.entry_points = lru_cache(maxsize=None)(lookup)
    return True


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """Commit of the source tree (suffixed ``+dirty`` with uncommitted changes), or None.

    Asked once per process (two ``git`` calls, ~15 ms): the code a process runs is what it
    imported, so a worker that runs many cells reports the same commit for each."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def describe_device(device: torch.device) -> str:
    """``'cpu (x86_64, 2 threads)'`` or the CUDA device name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({platform.machine()}, {torch.get_num_threads()} threads)"
