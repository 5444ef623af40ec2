"""Facts about where a cell ran: package versions, git commit, device."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
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
