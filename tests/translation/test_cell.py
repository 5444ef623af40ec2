"""A tiny adamomentum_table6 cell through ``python -m bench`` and into ``python -m results table``."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from results.__main__ import main as results_main
from tasks.translation.bleu import corpus_bleu, remove_bpe
from tasks.translation.data import Split, TokenBatches
from tasks.translation.model import Transformer
from tasks.translation.prepare import prepare
from tasks.translation.search import beam_search
from tasks.translation.vocab import PAD_ID, Dictionary
from tests.conftest import run_bench
from tests.translation.archive import write_archive

TINY = ["model.embed_dim=16", "model.ffn_dim=32", "model.heads=2", "model.encoder_layers=1",
        "model.decoder_layers=1", "module.max_len_b=6", "schedule.warmup_updates=4", "trainer=cpu"]


def test_tiny_cell_runs_records_bleu_and_fills_the_table(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    prepare(write_archive(tmp_path / "2014-01.tgz"), data / "iwslt14.tokenized.de-en", log=lambda *_: None)
    runs = tmp_path / "runs"
    code = run_bench("experiment=adamomentum_table6", "+smoke=true", "optimizer=adamomentum", "seeds=[0]",
                     *TINY, f"paths.data={data}", f"paths.runs={runs}")
    assert code == 0
    (cell,) = sorted((runs / "adamomentum_table6").glob("adamomentum_*/record.json"))
    record = json.loads(cell.read_text())
    assert record["status"] == "ok", record.get("error")
    assert record["extras"]["sacrebleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:none|smooth:none")
    assert record["config"]["optimizer"]["eps"] == 1e-16 and record["config"]["optimizer"]["weight_decay"] == 1e-4
    history = record["history"]
    assert len(history) == 2 and "test_bleu" not in history[0]  # BLEU only for the final, averaged model
    last = history[-1]
    assert last["averaged_checkpoints"] == 2.0 and record["extras"]["averaged_epochs"] == [0, 1]

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
    assert results_main(["table", "adamomentum_table6", "--runs", str(runs)]) == 0
    table = capsys.readouterr().out
    assert "35.66" in table and "28.22" in table  # published values beside ours
    assert f"{last['test_bleu']:.2f}" in table
