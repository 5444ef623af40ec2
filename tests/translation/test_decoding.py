"""Beam search against a hand-built scorer, greedy at beam 1, incremental = full decoding."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from tasks.translation.models import Transformer
from tasks.translation.search import beam_search, greedy
from tasks.translation.vocab import EOS_ID, PAD_ID

V = 6  # 4 specials + tokens A=4, B=5
A, B = 4, 5


class TableScorer:
    """Next-token probabilities looked up by prefix; rows carry (sentence, prefix)."""

    # prefix -> {token: p}; anything else: eos .5, A .3, B .2
    TABLE = {(): {A: 0.6, B: 0.4}, (A,): {A: 0.4, B: 0.3, EOS_ID: 0.3}, (B,): {EOS_ID: 0.95, A: 0.03, B: 0.02}}
    DEFAULT = {EOS_ID: 0.5, A: 0.3, B: 0.2}

    def __init__(self, swap: list[bool]) -> None:
        self.swap = swap  # per sentence: exchange A and B (the mirrored problem)

    def start(self, batch: int, beam: int) -> dict:
        return {"sent": torch.arange(batch).repeat_interleave(beam), "hist": [() for _ in range(batch * beam)],
                "started": False}

    def decode_step(self, tokens: torch.Tensor, state: dict) -> torch.Tensor:
        if state["started"]:
            state["hist"] = [h + (int(t),) for h, t in zip(state["hist"], tokens)]
        state["started"] = True
        out = torch.full((len(tokens), V), -math.inf)
        for row, (sent, hist) in enumerate(zip(state["sent"].tolist(), state["hist"])):
            swap = {A: B, B: A} if self.swap[sent] else {}
            hist = tuple(swap.get(t, t) for t in hist)
            for tok, p in self.TABLE.get(hist, self.DEFAULT).items():
                out[row, swap.get(tok, tok)] = math.log(p)
        return out

    @staticmethod
    def reorder(state: dict, index: torch.Tensor) -> dict:
        state["sent"] = state["sent"][index]
        state["hist"] = [state["hist"][i] for i in index.tolist()]
        return state


def _score(seq: tuple[int, ...]) -> float:
    """Length-normalised log-probability of ``seq`` + </s> under the table (lenpen 1)."""
    total, hist = 0.0, ()
    for tok in seq + (EOS_ID,):
        total += math.log(TableScorer.TABLE.get(hist, TableScorer.DEFAULT).get(tok, 0.0) or 1e-300)
        hist = hist + (tok,)
    return total / (len(seq) + 1)


def test_table_best_sequence_by_hand() -> None:
    # [B] </s>: (log .4 + log .95) / 2 = -0.484; greedy's [A, A] </s>: (log .6 + log .4 + log .5) / 3 = -0.709
    assert math.isclose(_score((B,)), (math.log(0.4) + math.log(0.95)) / 2)
    every = [tuple(s) for n in range(1, 5) for s in __import__("itertools").product((A, B), repeat=n)]
    assert max(every, key=_score) == (B,)


def test_beam_search_finds_the_best_sequence_greedy_misses() -> None:
    scorer = TableScorer(swap=[False, True])
    beam = 3
    got = beam_search(scorer, scorer.start(2, beam), batch=2, beam=beam, max_len=10)
    assert got == [[B], [A]]  # the mirrored sentence's best is [A]; rows never mix
    scorer = TableScorer(swap=[False, True])
    assert greedy(scorer, scorer.start(2, 1), batch=2, max_len=10) == [[A, A], [B, B]]


def test_beam_one_equals_greedy_on_the_table_and_on_a_transformer() -> None:
    scorer = TableScorer(swap=[False, True])
    assert beam_search(scorer, scorer.start(2, 1), batch=2, beam=1, max_len=10) == [[A, A], [B, B]]
    model = _tiny(vocab=12).eval()
    src = torch.tensor([[5, 6, 7, 8, EOS_ID], [9, 10, EOS_ID, PAD_ID, PAD_ID], [11, 4, 6, EOS_ID, PAD_ID]])
    beam1 = beam_search(model, model.start_decoding(src), batch=3, beam=1, max_len=8)
    assert beam1 == greedy(model, model.start_decoding(src), batch=3, max_len=8)
    assert all(1 <= len(h) + 1 <= 9 for h in beam1)


def test_max_len_forces_the_end() -> None:
    class NoEos(TableScorer):
        TABLE = {}
        DEFAULT = {A: 0.7, B: 0.3}

    scorer = NoEos(swap=[False])
    got = beam_search(scorer, scorer.start(1, 2), batch=1, beam=2, max_len=3)
    assert got == [[A, A, A]]


def _tiny(vocab: int = 16, seed: int = 0, normalize_before: bool = True) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(vocab_size=vocab, embed_dim=16, ffn_dim=32, heads=4, encoder_layers=2, decoder_layers=2,
                       normalize_before=normalize_before)


def test_incremental_decoding_equals_full_decoding() -> None:
    for pre in (True, False):
        model = _tiny(normalize_before=pre).eval()
        src = torch.tensor([[5, 6, 7, 8, 9, EOS_ID], [10, 11, 12, EOS_ID, PAD_ID, PAD_ID]])
        prev = torch.tensor([[EOS_ID, 4, 5, 6, 7], [EOS_ID, 8, 9, 10, 11]])
        full = F.log_softmax(model(src, prev), dim=-1)
        state = model.start_decoding(src)
        steps = torch.stack([model.decode_step(prev[:, t], state) for t in range(prev.shape[1])], dim=1)
        torch.testing.assert_close(steps, full, atol=1e-5, rtol=1e-5)
        # padding in the source must not change a sentence's result
        alone = F.log_softmax(model(src[1:, :4], prev[1:]), dim=-1)
        torch.testing.assert_close(alone, full[1:], atol=1e-5, rtol=1e-5)


def test_reorder_follows_the_chosen_rows() -> None:
    model = _tiny().eval()
    src = torch.tensor([[5, 6, EOS_ID], [7, 8, EOS_ID]])
    prev = torch.tensor([[EOS_ID, 4, 9], [EOS_ID, 10, 11]])
    state = model.start_decoding(src)
    model.decode_step(prev[:, 0], state)
    model.decode_step(prev[:, 1], state)
    model.reorder(state, torch.tensor([1, 1]))  # both rows continue sentence 1's prefix
    step = model.decode_step(torch.tensor([11, 11]), state)
    full = F.log_softmax(model(src[1:], prev[1:]), dim=-1)[0, 2]
    torch.testing.assert_close(step, full.expand(2, -1), atol=1e-5, rtol=1e-5)


def test_shared_embeddings_and_sizes() -> None:
    model = Transformer(vocab_size=10152)
    params = sum(p.numel() for p in model.parameters())
    assert model.output(torch.zeros(1, 512)).shape == (1, 10152)
    # 6+6 layers of 512/1024/4 heads + one 10152 x 512 shared embedding: ~36.7M
    assert 36_000_000 < params < 37_500_000
    assert model.embed.weight[PAD_ID].abs().sum() == 0
