"""A PTB cell on two gloo processes (trainer=ddp_cpu) equals the one-process cell (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import records, run_bench
from tests.lm.conftest import VOCAB, write_ptb
from tests.scale.helpers import start_bench


@pytest.mark.slow
def test_ddp_cpu_ptb_cell_equals_one_process(tmp_path: Path) -> None:
    """Each rank trains on its 10 of the 20 columns and evaluates its block of the validation
    columns (the test split's single column on rank 0, a weight-0 copy on rank 1): the weights
    and every recorded perplexity match the single-process run."""
    data = tmp_path / "data"
    write_ptb(data / "ptb")
    cell = ("experiment=ptb_small", "optimizer=sgd", "lr=1.0", "epochs=2", f"paths.data={data}",
            f"dataset.num_classes={VOCAB}", "dataset.train_tokens=null", "dataset.variable_bptt=true",
            "dataset.bptt=12")
    log = tmp_path / "ddp.log"
    proc = start_bench(*cell, "trainer=ddp_cpu", f"paths.runs={tmp_path / 'ddp'}", log=log)
    assert run_bench(*cell, f"paths.runs={tmp_path / 'one'}") == 0
    assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
    [ddp], [one] = records(tmp_path / "ddp", "ptb_small"), records(tmp_path / "one", "ptb_small")
    assert ddp["status"] == "ok" and ddp["world_size"] == 2 and ddp["per_device_batch_size"] == 10
    for got, want in zip(ddp["history"], one["history"], strict=True):
        assert got["step"] == want["step"]  # the same variable-length windows on both ranks
        for key in ("train_ppl", "val_ppl", "test_ppl"):
            assert got[key] == pytest.approx(want[key], rel=1e-4), key
    ckpt = lambda runs, rec: torch.load(runs / "ptb_small" / rec["cell_id"] / "last.ckpt", weights_only=False)  # noqa: E731
    a, b = ckpt(tmp_path / "ddp", ddp)["state_dict"], ckpt(tmp_path / "one", one)["state_dict"]
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5, msg=name)
