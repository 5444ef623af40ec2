"""A tiny adamomentum_table6 cell through ``python -m bench`` and into ``python -m results table``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from results.__main__ import main as results_main
from tasks.translation.bleu import corpus_bleu, remove_bpe
from tasks.translation.data import Split, TokenBatches
from tasks.translation.models import Transformer
from tasks.translation.prepare import prepare
from tasks.translation.search import beam_search
from tasks.translation.vocab import PAD_ID, Dictionary
from tests.conftest import run_bench
from tests.translation.archive import write_archive

def _finite(value) -> bool:
    return isinstance(value, float) and math.isfinite(value)


TINY = ["model.embed_dim=16", "model.ffn_dim=32", "model.heads=2", "model.encoder_layers=1",
        "model.decoder_layers=1", "module.max_len_b=6", "schedule.warmup_updates=4"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("iwslt")
    prepare(write_archive(root / "2014-01.tgz"), root / "data" / "iwslt14.tokenized.de-en", log=lambda *_: None)
    return root / "data"


def test_tiny_cell_runs_records_bleu_and_fills_the_table(data: Path, tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    code = run_bench("experiment=adamomentum_table6", "+smoke=true", "optimizer=adamomentum", "seeds=[0]",
                     *TINY, "trainer=cpu", f"paths.data={data}", f"paths.runs={runs}")
    assert code == 0
    (cell,) = sorted((runs / "adamomentum_table6").glob("adamomentum_*/record.json"))
    record = json.loads(cell.read_text())
    assert record["status"] == "ok", record.get("error")
    assert record["extras"]["sacrebleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:none|smooth:none")
    assert record["config"]["optimizer"]["eps"] == 1e-16 and record["config"]["optimizer"]["weight_decay"] == 1e-4
    history = record["history"]
    assert len(history) == 2 and not _finite(history[0]["test_bleu"])  # BLEU only for the final, averaged model
    last = history[-1]
    assert record["extras"]["averaged_epochs"] == [0, 1]

    # the final test BLEU is the averaged weights' beam search, scored by sacreBLEU
    dict_path = data / "iwslt14.tokenized.de-en" / "dict.txt"
    model = Transformer(dict_path=str(dict_path), embed_dim=16, ffn_dim=32, heads=2, encoder_layers=1,
                        decoder_layers=1).eval()
    model.load_state_dict(torch.load(cell.parent / "averaged.pt"))
    d = Dictionary.load(dict_path)
    test = TokenBatches(Split(torch.load(data / "iwslt14.tokenized.de-en" / "test.pt")), 4096)
    hyps, refs = [], []
    for i, (src, _, tgt) in enumerate(test):
        if i == 2:  # smoke: two evaluation batches
            break
        state = model.start_decoding(src.repeat_interleave(5, dim=0))
        out = beam_search(model, state, src.shape[0], beam=5, max_len=6)
        hyps += [remove_bpe(d.string(h)) for h in out]
        refs += [remove_bpe(d.string(r, escape_unk=True)) for r in tgt.tolist()]
    assert record["extras"]["samples"]["test"] == [{"hyp": h, "ref": r} for h, r in zip(hyps, refs)][:5]
    assert any(s["hyp"] for s in record["extras"]["samples"]["test"])
    assert abs(last["test_bleu"] - corpus_bleu(hyps, refs)) < 1e-9
    assert all(src.ne(PAD_ID).any() for src, _, _ in test)

    capsys.readouterr()
    assert results_main(["table", "adamomentum_table6", "--runs", str(runs), "--smoke"]) == 0
    table = capsys.readouterr().out
    assert "35.66" in table and "28.22" in table  # published values beside ours
    assert f"{last['test_bleu']:.2f}" in table


def test_bleu_every_n_epochs_and_no_stale_rows(data: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    assert run_bench("experiment=iwslt_small", "optimizer=adam", "epochs=4", "module.bleu_every=2",
                     "module.average_last=1", *TINY, "trainer=cpu", f"paths.data={data}", f"paths.runs={runs}") == 0
    (cell,) = (runs / "iwslt_small").glob("*/record.json")
    record = json.loads(cell.read_text())
    assert record["status"] == "ok", record.get("error")
    with_bleu = [_finite(h["val_bleu"]) and _finite(h["test_bleu"]) for h in record["history"]]
    assert with_bleu == [False, True, False, True]  # epochs 2 and 4 (the final) decode; none carried over
    assert record["extras"]["averaged_epochs"] == [3]
    assert all(isinstance(h["val_loss"], float) for h in record["history"])


@pytest.mark.slow
def test_two_process_ddp_cell_gathers_bleu_across_ranks(data: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    args = ["experiment=iwslt_small", "optimizer=adam", "epochs=2", *TINY, f"paths.data={data}"]
    assert run_bench(*args, "trainer=ddp_cpu", f"paths.runs={runs}/ddp") == 0
    assert run_bench(*args, "trainer=cpu", f"paths.runs={runs}/one") == 0
    ddp, one = (json.loads(next((runs / k / "iwslt_small").glob("*/record.json")).read_text()) for k in ("ddp", "one"))
    assert ddp["status"] == "ok" and ddp["world_size"] == 2, ddp.get("error")
    # each rank scores half the sentences; gathered, the corpus statistics are the whole test set's
    assert len(ddp["extras"]["samples"]["test"]) <= 5 and _finite(ddp["history"][-1]["test_bleu"])
    for key in ("val_loss", "test_loss", "test_nll"):
        assert math.isclose(ddp["history"][-1][key], one["history"][-1][key], rel_tol=1e-4)


def test_step_budget_rows_carry_their_training_loss(data: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    assert run_bench("experiment=iwslt_small", "optimizer=adam", "max_steps=4", "eval_every=2",
                     "dataset.max_tokens=256", *TINY, f"paths.data={data}", f"paths.runs={runs}") == 0
    (cell,) = (runs / "iwslt_small").glob("*/record.json")
    record = json.loads(cell.read_text())
    assert record["status"] == "ok", record.get("error")
    history = record["history"]
    assert [h["step"] for h in history] == [2, 4]
    assert all(_finite(h["train_loss"]) for h in history) and history[0]["train_loss"] != history[1]["train_loss"]
    assert [_finite(h["test_bleu"]) for h in history] == [False, True]  # the final evaluation decodes
