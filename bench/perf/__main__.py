"""``python -m bench.perf {runner,optimizers,data,threads,contention,gpu,<family>} [options]``: benchmarks printed as ratios.

A workload family adds its own benchmark as ``tasks/<family>/perf.py`` with
``main(argv: list[str]) -> int``; it is found here by name, so ``bench`` lists no family.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys

SUBCOMMANDS = ("runner", "optimizers", "data", "threads", "contention", "gpu")


def task_benchmarks() -> list[str]:
    """Families under ``tasks/`` that ship a ``perf.py``."""
    import tasks

    return sorted(info.name for info in pkgutil.iter_modules(tasks.__path__)
                  if info.ispkg and importlib.util.find_spec(f"tasks.{info.name}.perf") is not None)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    families = task_benchmarks()
    if not argv or argv[0] not in (*SUBCOMMANDS, *families):
        print(f"usage: python -m bench.perf {{{','.join((*SUBCOMMANDS, *families))}}} [options]", file=sys.stderr)
        return 2
    module = f"bench.perf.{argv[0]}" if argv[0] in SUBCOMMANDS else f"tasks.{argv[0]}.perf"
    code = importlib.import_module(module).main(argv[1:])
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
