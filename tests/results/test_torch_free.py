"""results/ reads records and draws every figure without torch or Lightning installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.record import write_record
from tests.results.conftest import make_record

# Make `import torch` (and Lightning) fail in the child, as on a machine without them.
BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "pytorch_lightning", "lightning", "torchvision", "lightning_fabric"):
            raise ImportError(f"{name} is blocked in this test")
        return None
sys.meta_path.insert(0, Block())
from results.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def test_tables_report_and_trajectories_need_no_torch(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    recs = [make_record(optimizer=o, lr=lr, seed=s, val=(0.5, 0.7 + lr)) for o in ("adam", "sgd")
            for lr in (0.1, 0.01) for s in (0, 1)]
    recs.append(make_record(experiment="toy", optimizer="adam", model="point", dataset="beale", metric="dist",
                            mode="min", val=(2.0, 1.0)))
    recs[-1]["extras"] = {"trajectory": [[1.0, 1.5], [2.0, 1.0], [2.9, 0.5]], "minimum": [3.0, 0.5],
                          "bounds": [[-1, 4.5], [-1.5, 2.5]]}
    for rec in recs:
        write_record(runs / rec["experiment"] / rec["cell_id"], rec)
    for argv in (["table", "exp"], ["report", "--out", str(tmp_path / "report")], ["trajectories", "toy"]):
        proc = subprocess.run([sys.executable, "-c", BLOCK, *argv, "--runs", str(runs)], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert (runs / "exp" / "_results" / "table.md").exists()
    assert any((tmp_path / "report").rglob("*.png"))
    assert list((runs / "toy" / "_results").glob("trajectories_beale*.png"))
