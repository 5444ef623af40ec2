"""python -m results: tables, curves and LR sensitivity from run records (never trains).

    python -m results table <experiment>         paper-layout table (markdown to stdout; .md/.csv files)
    python -m results curves <experiment>        train loss / test metric vs epoch PNGs
    python -m results sensitivity <experiment>   final validation metric vs lr PNGs
    python -m results trajectories <experiment>  toy-function paths (experiments with trajectories)
    python -m results report                     all of it for every experiment, into report/
    python -m results <experiment>               table + curves + sensitivity of one experiment

Options: ``--runs DIR`` (default ``$OPTBENCH_RUNS`` or ``runs``); ``--at {paper,final,best}``:
which epoch's test value a table shows (``paper``: the table's own convention; generic tables
use ``final``); ``--out DIR`` for ``report`` (default ``report``). Per-experiment outputs go to
``<runs>/<experiment>/_results/``. Errors: one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from results.load import ResultsError, default_runs_dir

COMMANDS = ("table", "curves", "sensitivity", "trajectories", "report", "all")
RESULTS_DIR = "_results"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2
        print(f"results: {message} (see python -m results --help)", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m results", description=__doc__.split("\n\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, help_text in [("table", "the paper's table (or a generic one) with published numbers beside ours"),
                            ("curves", "train loss and test metric vs epoch, one PNG per model x dataset"),
                            ("sensitivity", "final validation metric vs learning rate, per optimizer"),
                            ("trajectories", "toy-function trajectory plots"),
                            ("all", "table, curves, sensitivity (and trajectories) of one experiment")]:
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("experiment")
        _common(cmd)
    report = sub.add_parser("report", help="everything, for every experiment with records, into one folder")
    _common(report)
    report.add_argument("--out", type=Path, default=Path("report"), help="output folder (default: report)")
    return parser


def _common(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--runs", type=Path, default=None, help="runs directory (default: $OPTBENCH_RUNS or runs)")
    cmd.add_argument("--at", choices=("paper", "final", "best"), default="paper",
                     help="test value at the final epoch, at the validation-best epoch, or per the paper (default)")
    cmd.add_argument("--smoke", action="store_true",
                     help="tabulate the smoke-run records (+smoke=true) instead of the full runs, which they never replace")


def _run(args: argparse.Namespace) -> None:
    runs = args.runs or default_runs_dir()
    if args.command == "report":
        from results.report import build_report

        index, notes = build_report(runs, args.out, args.at, smoke=args.smoke)
        for note in notes:
            print(f"results: note: {note}", file=sys.stderr)
        print(f"results: wrote {index}", file=sys.stderr)
        return
    from results.load import load_records

    out_dir = runs / args.experiment / RESULTS_DIR
    if args.command == "trajectories":
        from results.trajectories import plot_trajectories  # a missing experiment: ResultsError

        try:
            files = plot_trajectories(runs, args.experiment, out_dir)
        except FileNotFoundError as exc:
            raise ResultsError(str(exc)) from None
        _written(files)
        return
    if args.command == "all":
        from results.report import experiment_outputs

        records, table, files = experiment_outputs(runs, args.experiment, out_dir, args.at, smoke=args.smoke)
        print(table.markdown)
        _superseded(records)
        _written(files)
        return
    records = load_records(runs, args.experiment, smoke=args.smoke)
    _superseded(records)
    if args.command == "table":
        from results.table import write_table

        table, files = write_table(records, out_dir, args.at)
        print(table.markdown)
    elif args.command == "curves":
        from results.curves import plot_curves

        files = plot_curves(records, out_dir)
    else:
        from results.sensitivity import plot_sensitivity

        files = plot_sensitivity(records, out_dir) + [out_dir / "sensitivity.csv"]
    _written(files)


def _superseded(records) -> None:
    old = records.attrs.get("superseded", [])
    if old:
        print(f"results: note: {len(old)} older record(s) replaced by a newer run of the same cell "
              f"(e.g. {old[0]})", file=sys.stderr)


def _written(files: list[Path]) -> None:
    for path in files:
        print(f"results: wrote {path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        argv = ["all", *argv]  # `python -m results quickstart`
    args = _parser().parse_args(argv)
    try:
        _run(args)
    except ResultsError as exc:
        print(f"results: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
