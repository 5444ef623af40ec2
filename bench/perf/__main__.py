"""``python -m bench.perf {runner,optimizers,data} [options]``: benchmarks printed as ratios."""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS = ("runner", "optimizers", "data")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUBCOMMANDS:
        print(f"usage: python -m bench.perf {{{','.join(SUBCOMMANDS)}}} [options]", file=sys.stderr)
        return 2
    importlib.import_module(f"bench.perf.{argv[0]}").main(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
