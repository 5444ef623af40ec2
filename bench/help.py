"""``python -m bench --help``: optbench's own help (Hydra's page is ``--hydra-help``)."""

from __future__ import annotations

from pathlib import Path

from bench.plan import CONF_DIR, group_options

USAGE = """\
usage: python -m bench [OVERRIDE ...] [--dry-run]

Sweep optimizer x model x dataset x learning rate x seed; one record per cell.
With no overrides: SGD's lr grid on an MLP over scikit-learn's digits (CPU).

common overrides:
  optimizer=NAME              the optimizer; its lr_grid is swept unless lr=... pins one
  lr=0.01  seed=3             pin one learning rate / seed (default: the grid, seeds=[0])
  lr_grids.NAME=[0.1,0.01]    replace an optimizer's grid (no + needed)
  seeds=[0,1,2]  epochs=N     seeds of every cell; the epoch budget (or max_steps=N)
  -m optimizer=adam,padam     widen the sweep, Hydra-style (any group or key)
  experiment=PAPER_TABLE      a paper table's whole recipe (axes, epochs, schedule, lrs)
  +smoke=true                 a few-batch smoke run of each cell (own cell ids; tables skip it)
  paths.data=DIR              where data sets live (env OPTBENCH_DATA; default: data)
  paths.runs=DIR              where records go (env OPTBENCH_RUNS; default: runs)

flags:
  --dry-run                   list the cells, what is finished, GPU-hours; check data and
                              devices (as warnings); launch and write nothing
  --help, -h                  this help
  --hydra-help                Hydra's own help (its flags: --cfg job, --info, -sc, ...)

records: PATHS.RUNS/<experiment>/<cell-id>/record.json (+ metrics.csv, last.ckpt).
Relaunching skips finished cells and resumes interrupted ones; several launches of one
sweep share it (a cell another launch holds is reported as running elsewhere).
Tables: python -m results table EXPERIMENT   |   python -m results report
"""

HYDRA_GROUPS = ("hydra/launcher",)


def _hydra_options(group: str) -> list[str]:
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return list(GlobalHydra.instance().config_loader().get_group_options(group))
    finally:
        GlobalHydra.instance().clear()


def help_text(conf_dir: Path = CONF_DIR) -> str:
    """The help page, with the config groups and their options read from ``conf/``."""
    lines = [USAGE, "config groups (GROUP=OPTION):"]
    groups = sorted(p.name for p in conf_dir.iterdir() if p.is_dir() and p.name != "hydra")
    for group in groups:
        lines.append(_wrap(f"  {group:<16}", group_options(group)))
    for group in HYDRA_GROUPS:
        lines.append(_wrap(f"  {group:<16}", _hydra_options(group)))
    return "\n".join(lines) + "\n"


def _wrap(head: str, options: list[str], width: int = 96) -> str:
    out, line = [], head
    for i, option in enumerate(options):
        piece = option + ("," if i < len(options) - 1 else "")
        if len(line) + len(piece) + 1 > width and line.strip():
            out.append(line)
            line = " " * len(head)
        line += " " + piece
    out.append(line)
    return "\n".join(out)
