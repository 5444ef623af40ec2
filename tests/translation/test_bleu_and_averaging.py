"""BLEU = sacreBLEU's with the stated settings (and a hand count); checkpoint averaging = mean."""

from __future__ import annotations

import math

import sacrebleu
import torch

from tasks.translation.averaging import RunningAverage, average_state_dicts
from tasks.translation.bleu import corpus_bleu, remove_bpe, signature
from tasks.translation.models import Transformer

HYPS = ["the cat sat on the mat", "it &apos;s a &quot; test &quot; .", "no match here"]
REFS = ["the cat sat on a mat", "it &apos;s a &quot; test &quot; !", "entirely different words ."]


def test_bleu_equals_sacrebleu_with_the_reference_settings() -> None:
    expected = sacrebleu.corpus_bleu(HYPS, [REFS], tokenize="none", smooth_method="none", force=True).score
    assert corpus_bleu(HYPS, REFS) == expected
    # sacreBLEU's default (13a tokenisation, exp smoothing) gives another number on escaped text
    assert sacrebleu.corpus_bleu(HYPS, [REFS]).score != expected
    sig = signature()
    assert "tok:none" in sig and "smooth:none" in sig and "case:mixed" in sig


def test_bleu_by_hand_on_one_sentence() -> None:
    # 1-4 gram precisions 5/6, 3/5, 2/4, 1/3; equal lengths: no brevity penalty
    hand = 100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert math.isclose(corpus_bleu(HYPS[:1], REFS[:1]), hand, rel_tol=1e-9)
    assert corpus_bleu(["a b"], ["c d"]) == 0.0  # no smoothing: a zero precision gives 0


def test_remove_bpe_is_fairseqs() -> None:
    assert remove_bpe("f@@ i@@ l@@ e 0 house .") == "file 0 house ."
    assert remove_bpe("the cat@@") == "the cat"


def _model(seed: int) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(vocab_size=12, embed_dim=8, ffn_dim=16, heads=2, encoder_layers=1, decoder_layers=1)


def test_checkpoint_average_is_the_mean_of_the_weights() -> None:
    states = [_model(s).state_dict() for s in range(3)]
    avg = average_state_dicts(states)
    running = RunningAverage()
    for s in states:
        running.add(s)
    streamed = running.average(states[0])
    for key in states[0]:
        mean = (states[0][key] + states[1][key] + states[2][key]) / 3
        torch.testing.assert_close(avg[key], mean)
        torch.testing.assert_close(streamed[key], mean)
    merged = _model(9)
    merged.load_state_dict(avg)
    torch.testing.assert_close(merged.encoder[0].ffn.fc1.weight,
                               torch.stack([_model(s).encoder[0].ffn.fc1.weight for s in range(3)]).mean(0))
    restored = RunningAverage()
    restored.load_state_dict(running.state_dict())
    torch.testing.assert_close(restored.average(states[0])["embed.weight"], avg["embed.weight"])
