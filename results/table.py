"""Tables from records: the paper's layout with the published numbers beside ours, or a
generic optimizer grid for experiments that reproduce no table (the quickstart).

Every cell of a layout is shown: ``—`` where no record exists, or the status
(``diverged``, ``failed``, ``running``) where no learning rate gave a usable run. Records
outside the layout are listed in an "also run" table, never dropped.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from results.compare import ci_text, compare_cells, lookup, outside_ci, vs_base_text
from results.layouts import COORDINATES, Layout, get_layout
from results.load import metric_info
from results.profile import TARGET_FRACTION, speed_frame
from results.published import published_table
from results.select import AT_CHOICES, aggregate, select_best_lr
from results.units import printed_unit, std_to_unit, to_unit

MISSING = "—"


class Table(NamedTuple):
    markdown: str
    frame: pd.DataFrame  # long format, one row per cell (written as CSV)


def _unit_text(metric: str, unit: str) -> str:
    """`` (%)`` after a column name; nothing where the unit is the metric's own name (ppl, FID)."""
    return f" ({unit})" if unit and unit.lower() != metric.lower() else ""


def _fmt(value: float, unit: str, std: float = math.nan) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    spec = ".2f" if unit else ".4g"
    text = f"{value:{spec}}"
    return f"{text} ± {std:{spec}}" if std is not None and math.isfinite(std) else text


def _fmt_delta(delta: float, highlight: bool = False) -> str:
    text = f"{delta:+.2f}" if math.isfinite(delta) else ""
    return f"**{text}**" if text and highlight else text


def _marks(s: dict | None) -> str:
    """``*``: differs from the baseline (Holm, 0.05); ``†``: fewer seeds than the recipe asked."""
    if not s:
        return ""
    return ("*" if s["significant"] else "") + ("†" if s["under_seeded"] else "")


def _stat_columns(s: dict | None) -> dict:
    keys = ("ci_low", "ci_high", "ci_method", "seeds_asked", "under_seeded", "baseline", "vs_base", "vs_base_low",
            "vs_base_high", "p", "p_holm", "significant")
    return {k: (s[k] if s else (math.nan if k not in ("ci_method", "baseline") else "")) for k in keys}


STATS_LEGEND = ("Statistics: 0.95 confidence interval of our mean over seeds (Student t; bootstrap for n >= 10) with n "
                "(`†`: fewer seeds than the recipe asks, `n=got/asked`); then ours − baseline ({baseline}) with its "
                "0.95 Welch interval and Welch t-test p; `*` marks a difference significant at 0.05 after Holm "
                "correction across the table. A **bold** Δ: the published value lies outside our interval.")


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    def esc(cell: str) -> str:
        return str(cell).replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _ours(stats: pd.DataFrame, coords: dict[str, str], unit: str, info: dict) -> dict:
    """Our number for one cell in the printed unit, or the reason there is none."""
    hit = stats[(stats["optimizer"] == coords["optimizer"]) & (stats["model"] == coords["model"])
                & (stats["dataset"] == coords["dataset"])]
    if hit.empty:
        return {"status": "not run", "lr": math.nan, "n_seeds": 0, "ours": math.nan, "ours_std": math.nan,
                "text": MISSING, "unusable": ""}
    row = hit.iloc[0]
    base = {"status": row["status"], "lr": row["lr"], "n_seeds": int(row["n_seeds"]), "unusable": row["unusable"]}
    if row["status"] != "ok":
        return {**base, "ours": math.nan, "ours_std": math.nan, "text": row["status"]}
    if not math.isfinite(row["mean"]):
        return {**base, "status": "not logged", "ours": math.nan, "ours_std": math.nan, "text": "not logged"}
    value = to_unit(row["mean"], info, unit)
    std = std_to_unit(row["std"], info, unit)
    return {**base, "ours": value, "ours_std": std, "text": _fmt(value, unit, std)}


def _resolve_at(at: str, layout: Layout | None) -> str:
    if at == "paper":
        return layout.at if layout else "final"
    if at not in AT_CHOICES:
        raise ValueError(f"at must be paper, final or best, got {at!r}")
    return at


def _at_text(at: str) -> str:
    return ("test value at the final epoch" if at == "final"
            else "test value at the validation-best epoch")


def paper_table(records: pd.DataFrame, layout: Layout, at: str = "paper") -> Table:
    """The paper's table: same rows, columns, metric and unit; each cell ours / published (Δ)."""
    at = _resolve_at(at, layout)
    selection = select_best_lr(records)
    published = published_table(layout.paper, layout.table)
    metrics = sorted({coords["metric"] for _, _, coords in layout.cells()})
    stats = {m: aggregate(records, f"test_{m}", at, selection) for m in metrics}
    compared = {m: compare_cells(records, f"test_{m}", at, selection,
                                 lambda v, m=m: to_unit(v, metric_info(records, m), layout.unit)) for m in metrics}
    long_rows, grid, lr_grid, stat_grid = [], [], [], []
    for row in layout.rows:
        cells, lr_cells, stat_cells = [], [], []
        for col in layout.cols:
            coords = layout.cell(row, col)
            ours = _ours(stats[coords["metric"]], coords, layout.unit, metric_info(records, coords["metric"]))
            st = lookup(compared[coords["metric"]], None, coords["optimizer"], coords["model"], coords["dataset"])
            pub = published.loc[(row.label, col.label)]
            delta = ours["ours"] - pub["value"]
            pub_text = _fmt(pub["value"], layout.unit, pub["std"])
            suffix = f" ({_fmt_delta(delta, outside_ci(st, pub['value']))})" if math.isfinite(delta) else ""
            cells.append(f"{ours['text']}{_marks(st)} / {pub_text}{suffix}")
            stat_cells.append("; ".join(t for t in (ci_text(st, layout.unit), vs_base_text(st, layout.unit)) if t)
                              or MISSING)
            lr_cells.append(f"{ours['lr']:g} (n={ours['n_seeds']})" if ours["status"] in ("ok", "not logged")
                            else ours["text"])
            long_rows.append({"paper": layout.paper, "table": layout.table, "row": row.label, "col": col.label,
                              **{k: coords[k] for k in COORDINATES}, "unit": layout.unit, "at": at,
                              "status": ours["status"], "lr": ours["lr"],
                              "n_seeds": ours["n_seeds"], "ours": ours["ours"], "ours_std": ours["ours_std"],
                              "published": pub["value"], "published_std": pub["std"], "delta": delta,
                              "delta_outside_ci": outside_ci(st, pub["value"]), **_stat_columns(st),
                              "unusable_lrs": ours["unusable"]})
        grid.append([row.label, *cells])
        lr_grid.append([row.label, *lr_cells])
        stat_grid.append([row.label, *stat_cells])
    header = [layout.row_header, *(c.label for c in layout.cols)]
    frame = pd.DataFrame(long_rows)
    metric_name = records["metric"].iloc[0] if len(records) else "metric"
    parts = [
        f"### {layout.title}: {layout.caption}",
        "",
        f"Each cell: ours / published (Δ = ours − published). Ours: mean ± std over seeds at the learning rate "
        f"with the best mean validation {metric_name} (validation-best epoch of each run); {_at_text(at)}. "
        f"`{MISSING}`: not run; `diverged`/`failed`/`running`: no learning rate gave a usable run.",
    ]
    if layout.note:
        parts += ["", f"Note: {layout.note}"]
    baseline = next((c["baseline"].iloc[0] for c in compared.values() if len(c) and c["baseline"].iloc[0]), None)
    parts += ["", _markdown(header, grid), "", "Selected learning rate (seeds):", "", _markdown(header, lr_grid)]
    unusable = [f"- {r.optimizer} {r.model}/{r.dataset}: {r.unusable}" for r in selection.itertuples() if r.unusable]
    if unusable:
        parts += ["", "Learning rates left out (any seed diverged, failed or still running):", "", *unusable]
    in_layout = {(c["optimizer"], c["model"], c["dataset"]) for _, _, c in layout.cells()}
    extra = records[[(o, m, d) not in in_layout for o, m, d in
                     zip(records["optimizer"], records["model"], records["dataset"])]]
    if len(extra):
        parts += ["", "Also run (not in the paper's table):", "", generic_table(extra, at, heading=False).markdown]
    parts += ["", STATS_LEGEND.format(baseline=baseline or "none"), "", _markdown(header, stat_grid)]
    return Table("\n".join(parts) + "\n", frame)


def generic_table(records: pd.DataFrame, at: str = "final", heading: bool = True) -> Table:
    """Rows model / dataset, columns optimizer; cells best-LR test mean ± std and the lr."""
    at = _resolve_at(at, None)
    metric = records["metric"].iloc[0]
    info = metric_info(records, metric)
    unit = printed_unit(info)
    selection = select_best_lr(records)
    stats = aggregate(records, f"test_{metric}", at, selection)
    compared = compare_cells(records, f"test_{metric}", at, selection, lambda v: to_unit(v, info, unit))
    optimizers = sorted(stats["optimizer"].unique())
    grid, long_rows, stat_grid = [], [], []
    for (model, dataset), _ in stats.groupby(["model", "dataset"], sort=True):
        cells, stat_cells = [], []
        for opt in optimizers:
            ours = _ours(stats, {"optimizer": opt, "model": model, "dataset": dataset, "metric": metric}, unit, info)
            st = lookup(compared, None, opt, model, dataset)
            lr_text = f"lr {ours['lr']:g}" + (f", n={ours['n_seeds']}" if ours["n_seeds"] > 1 else "")
            cells.append(f"{ours['text']}{_marks(st)} ({lr_text})" if ours["status"] == "ok" else ours["text"])
            stat_cells.append("; ".join(t for t in (ci_text(st, unit), vs_base_text(st, unit)) if t) or MISSING)
            long_rows.append({"experiment": records["experiment"].iloc[0], "optimizer": opt, "model": model,
                              "dataset": dataset, "metric": metric, "unit": unit, "at": at, "status": ours["status"],
                              "lr": ours["lr"], "n_seeds": ours["n_seeds"], "ours": ours["ours"],
                              "ours_std": ours["ours_std"], **_stat_columns(st), "unusable_lrs": ours["unusable"]})
        grid.append([f"{model} / {dataset}", *cells])
        stat_grid.append([f"{model} / {dataset}", *stat_cells])
    unit_text = _unit_text(metric, unit)
    parts = []
    if heading:
        parts += [f"### {records['experiment'].iloc[0]}: test {metric}{unit_text} at the best learning rate", "",
                  f"Mean ± std over seeds at the learning rate with the best mean validation {metric} "
                  f"(validation-best epoch of each run); {_at_text(at)}.", ""]
    parts.append(_markdown(["model / dataset", *optimizers], grid))
    baseline = compared["baseline"].iloc[0] if len(compared) else None
    parts += ["", STATS_LEGEND.format(baseline=baseline or "none"), "",
              _markdown(["model / dataset", *optimizers], stat_grid)]
    return Table("\n".join(parts) + "\n", pd.DataFrame(long_rows))


def render_summary(records: pd.DataFrame, at: str = "final") -> str:
    """Markdown leaderboard: per model/dataset and optimizer the best lr (by validation), its
    validation and test metric, and the status counts over all its cells."""
    parts = []
    for experiment, exp_records in records.groupby("experiment", sort=True):
        metric = exp_records["metric"].iloc[0]
        info = metric_info(exp_records, metric)
        unit = printed_unit(info)
        stats = aggregate(exp_records, f"test_{metric}", at)
        descending = exp_records["mode"].iloc[0] == "max"
        stats = stats.assign(_key=stats["val_mean"] * (-1 if descending else 1))
        stats = stats.sort_values(["model", "dataset", "_key", "optimizer"], na_position="last", kind="stable")
        speed = speed_frame(exp_records).set_index(["model", "dataset", "optimizer"])
        unit_text = _unit_text(metric, unit)
        rows = []
        for r in stats.itertuples():
            hit = speed.loc[(r.model, r.dataset, r.optimizer)] if (r.model, r.dataset, r.optimizer) in speed.index else None
            ok = r.status == "ok"
            val = _fmt(to_unit(r.val_mean, info, unit), unit, std_to_unit(r.val_std, info, unit))
            test = _fmt(to_unit(r.mean, info, unit), unit, std_to_unit(r.std, info, unit))
            rows.append([f"{r.model} / {r.dataset}", r.optimizer, f"{r.lr:g}" if ok else MISSING,
                         val if ok else r.status, test if ok else r.status, *_speed_cells(hit), r.status_counts])
        header = ["model / dataset", "optimizer", "best lr", f"val {metric}{unit_text}", f"test {metric}{unit_text}",
                  "epochs to target", "time to target (s)", "cells"]
        parts += [f"### {experiment}: summary", "",
                  f"Best lr by mean validation {metric} (validation-best epoch); val: that mean; test: "
                  f"{_at_text(at).replace('test value ', '')}; mean ± std over seeds. Target: {TARGET_FRACTION} × "
                  f"the best final validation {metric} among the optimizers (÷ {TARGET_FRACTION} where lower is "
                  f"better); epochs trained and wall seconds until the seed-mean validation curve reaches it "
                  f"(`never`: not reached).", "", _markdown(header, rows), ""]
    return "\n".join(parts)


def _speed_cells(hit) -> list[str]:
    if hit is None:
        return [MISSING, MISSING]
    epochs, wall = float(hit["epochs_to_target"]), float(hit["time_to_target"])
    if not math.isfinite(epochs):
        return ["never", "never"]
    return [f"{epochs:g}", f"{wall:.4g}" if math.isfinite(wall) else MISSING]


def experiment_layout(records: pd.DataFrame) -> tuple[Layout | None, str]:
    """The paper table an experiment's records reproduce (``None`` if none) and a note."""
    pairs = records[["paper", "table"]].drop_duplicates()
    pairs = pairs[pairs["paper"].notna()]
    if pairs.empty:
        return None, ""
    if len(pairs) > 1:
        listing = ", ".join(f"{p} {t}" for p, t in pairs.itertuples(index=False))
        return None, f"records name several targets ({listing}); showing the generic table"
    paper, table = pairs.iloc[0]
    layout = get_layout(paper, table)
    if layout is None:
        return None, f"reproduces {paper} {table}: no published table (figure); see the curves"
    return layout, ""


def render_table(records: pd.DataFrame, at: str = "paper") -> Table:
    """The paper table if the experiment reproduces one, else the generic table + summary."""
    layout, note = experiment_layout(records)
    if layout is not None:
        return paper_table(records, layout, at)
    table = generic_table(records, at)
    text = table.markdown + ("\n" + f"Note: {note}\n" if note else "")
    return Table(text + "\n" + render_summary(records, _resolve_at(at, None)), table.frame)


def write_table(records: pd.DataFrame, out_dir: Path, at: str = "paper") -> tuple[Table, list[Path]]:
    """Render and write ``table.md`` and ``table.csv`` into ``out_dir``."""
    table = render_table(records, at)
    out_dir.mkdir(parents=True, exist_ok=True)
    md, csv = out_dir / "table.md", out_dir / "table.csv"
    md.write_text(table.markdown)
    table.frame.to_csv(csv, index=False)
    return table, [md, csv]

