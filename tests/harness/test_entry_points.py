"""``bench.environment.scan_entry_points_once``: Lightning reads the installed packages' entry
points once per process, and every ``Trainer()`` still gets fresh callbacks from each factory.

Runs in a fresh interpreter with a package installed only on its ``sys.path`` (a ``.dist-info``
with an ``entry_points.txt`` in the real on-disk format), so the cached lookup cannot have
been made before the package existed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

PROBE = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import pytorch_lightning as pl
    from lightning_fabric.utilities import registry
    from bench import environment
    import countcb

    installed = environment.scan_entry_points_once()
    again = environment.scan_entry_points_once.__wrapped__()  # a second install must not stack caches
    trainers = [pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False) for _ in range(3)]
    found = [[cb for cb in t.callbacks if isinstance(cb, countcb.Counted)] for t in trainers]
    info = registry.entry_points.cache_info()
    print(json.dumps({
        "installed": installed, "again": again, "per_trainer": [len(f) for f in found],
        "distinct": len({id(f[0]) for f in found}), "made": countcb.MADE,
        "misses": info.misses, "hits": info.hits,
    }))
""")


def test_trainers_get_fresh_callbacks_from_one_scan(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "countcb-1.0.dist-info").mkdir(parents=True)
    (site / "countcb-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: countcb\nVersion: 1.0\n")
    (site / "countcb-1.0.dist-info" / "entry_points.txt").write_text(
        "[pytorch_lightning.callbacks_factory]\ncounted = countcb:factory\n")
    (site / "countcb.py").write_text(textwrap.dedent("""
        import pytorch_lightning as pl
        MADE = 0
        class Counted(pl.Callback):
            pass
        def factory():
            global MADE
            MADE += 1
            return [Counted()]
    """))
    out = subprocess.run([sys.executable, "-c", PROBE, str(site)], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["installed"] is True and got["again"] is False
    assert got["per_trainer"] == [1, 1, 1]  # the factory's callback reaches every Trainer
    assert got["distinct"] == 3 and got["made"] == 3  # called at each Trainer(), not cached
    assert (got["misses"], got["hits"]) == (1, 2)  # the metadata was scanned once
