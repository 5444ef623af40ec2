"""Everything for one experiment (table, curves, LR sensitivity, toy trajectories), and the
``report/`` folder: every experiment with records, with an ``index.md`` linking it all."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from results.curves import plot_curves
from results.load import NoRecordsOfKind, experiments_with_records, load_records, record_paths
from results.segmentation import plot_segmentation
from results.probes import plot_probes
from results.profile import plot_profile
from results.sensitivity import plot_sensitivity
from results.tuning import plot_tuning
from results.table import Table, write_table


def plot_trajectories_if_any(records: pd.DataFrame, runs_dir: Path, out_dir: Path) -> list[Path]:
    """Toy-function trajectory plots when the experiment's records carry trajectories."""
    if not records["has_trajectory"].any():
        return []
    from results.trajectories import plot_trajectories

    return plot_trajectories(runs_dir, records["experiment"].iloc[0], out_dir)


def experiment_outputs(runs_dir: Path, experiment: str, out_dir: Path,
                       at: str = "paper", smoke: bool = False) -> tuple[pd.DataFrame, Table, list[Path]]:
    """Load one experiment and write its table (md + csv), curves and sensitivity into ``out_dir``."""
    records = load_records(runs_dir, experiment, smoke=smoke)
    table, files = write_table(records, out_dir, at)
    files += plot_curves(records, out_dir)
    files += plot_sensitivity(records, out_dir)
    files += plot_segmentation(records, out_dir)
    files.append(out_dir / "sensitivity.csv")
    files += plot_tuning(records, out_dir)
    files += plot_profile(records, out_dir)
    files += plot_probes(records, out_dir)
    files += plot_trajectories_if_any(records, runs_dir, out_dir)
    return records, table, files


def build_report(runs_dir: Path, out_dir: Path, at: str = "paper", smoke: bool = False) -> tuple[Path, list[str]]:
    """Write ``out_dir/<experiment>/...`` for every experiment and ``out_dir/index.md``.

    Returns the index path and notes (superseded records) worth telling the user.
    """
    runs_dir, out_dir = Path(runs_dir), Path(out_dir)
    record_paths(runs_dir)  # raises a clear error for a missing or empty runs directory
    experiments = experiments_with_records(runs_dir)
    sections, notes, loaded = [], [], []
    for experiment in list(experiments):
        exp_dir = out_dir / experiment
        try:
            records, table, files = experiment_outputs(runs_dir, experiment, exp_dir, at, smoke)
        except NoRecordsOfKind as exc:  # only smoke records (or, with --smoke, none)
            notes.append(str(exc))
            experiments.remove(experiment)
            continue
        loaded.append(records)
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
    overall = plot_profile(pd.concat(loaded, ignore_index=True), out_dir) if loaded else []
    profile_section = [] if not overall else ["## Performance profile (all workloads)", "",
                       "Each optimizer's fraction of the workloads (experiment × model × dataset) it was run on that "
                       "it brings to the target within τ × the fastest optimizer's time there.", "",
                       " · ".join(f"[{p.name}]({p.name})" for p in overall if p.suffix == ".csv"), "",
                       *[f"![{p.stem}]({p.name})\n" for p in overall if p.suffix == ".png"], ""]
    contents = [f"- [{e}](#{e.lower()})" for e in experiments]
    contents += ["- [Performance profile](#performance-profile-all-workloads)"] if profile_section else []
    index = "\n".join([
        "# optbench report", "",
        f"Regenerated from the records under `{runs_dir}` (reads `record.json` files only). "
        "Learning rates are chosen on the validation split; test numbers are reported beside the "
        "published ones where the experiment reproduces a paper table.", "",
        *contents, "", *sections, *profile_section])
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.md"
    path.write_text(index)
    return path, notes


def _demote(markdown: str) -> str:
    """Table headings one level down inside the index (### -> ####)."""
    return "\n".join("#" + line if line.startswith("### ") else line for line in markdown.splitlines()) + "\n"
