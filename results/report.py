"""Everything for one experiment (table, curves, LR sensitivity, toy trajectories), and the
``report/`` folder: every experiment with records, with an ``index.md`` linking it all."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from results.curves import plot_curves
from results.load import experiments_with_records, load_records, record_paths
from results.sensitivity import plot_sensitivity
from results.table import Table, write_table


def plot_trajectories_if_any(records: pd.DataFrame, runs_dir: Path, out_dir: Path) -> list[Path]:
    """Toy-function trajectory plots when the experiment's records carry trajectories."""
    if not records["has_trajectory"].any():
        return []
    from results.trajectories import plot_trajectories

    return plot_trajectories(runs_dir, records["experiment"].iloc[0], out_dir)


def experiment_outputs(runs_dir: Path, experiment: str, out_dir: Path,
                       at: str = "paper") -> tuple[pd.DataFrame, Table, list[Path]]:
    """Load one experiment and write its table (md + csv), curves and sensitivity into ``out_dir``."""
    records = load_records(runs_dir, experiment)
    table, files = write_table(records, out_dir, at)
    files += plot_curves(records, out_dir)
    files += plot_sensitivity(records, out_dir)
    files.append(out_dir / "sensitivity.csv")
    files += plot_trajectories_if_any(records, runs_dir, out_dir)
    return records, table, files


def build_report(runs_dir: Path, out_dir: Path, at: str = "paper") -> tuple[Path, list[str]]:
    """Write ``out_dir/<experiment>/...`` for every experiment and ``out_dir/index.md``.

    Returns the index path and notes (superseded records) worth telling the user.
    """
    runs_dir, out_dir = Path(runs_dir), Path(out_dir)
    record_paths(runs_dir)  # raises a clear error for a missing or empty runs directory
    experiments = experiments_with_records(runs_dir)
    sections, notes = [], []
    for experiment in experiments:
        exp_dir = out_dir / experiment
        records, table, files = experiment_outputs(runs_dir, experiment, exp_dir, at)
        superseded = records.attrs.get("superseded", [])
        if superseded:
            notes.append(f"{experiment}: {len(superseded)} older record(s) replaced by a newer run of the same cell "
                         f"(e.g. {superseded[0]})")
        links = " · ".join(f"[{p.name}]({experiment}/{p.name})" for p in files if p.suffix in (".md", ".csv"))
        images = [f"![{p.stem}]({experiment}/{p.name})\n" for p in files if p.suffix == ".png"]
        status = records["status"].value_counts()
        counts = ", ".join(f"{n} {s}" for s, n in sorted(status.items()))
        sections.append("\n".join([f"## {experiment}", "", f"{len(records)} record(s): {counts}.", "",
                                   _demote(table.markdown), f"Files: {links}", "", *images, ""]))
    contents = [f"- [{e}](#{e.lower()})" for e in experiments]
    index = "\n".join([
        "# optbench report", "",
        f"Regenerated from the records under `{runs_dir}` (reads `record.json` files only). "
        "Learning rates are chosen on the validation split; test numbers are reported beside the "
        "published ones where the experiment reproduces a paper table.", "",
        *contents, "", *sections])
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.md"
    path.write_text(index)
    return path, notes


def _demote(markdown: str) -> str:
    """Table headings one level down inside the index (### -> ####)."""
    return "\n".join("#" + line if line.startswith("### ") else line for line in markdown.splitlines()) + "\n"
