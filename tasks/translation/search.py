"""Beam search and greedy decoding over any incremental scorer.

A scorer has ``decode_step(tokens (N,), state) -> log-probs (N, V)`` and
``reorder(state, index) -> state`` (:class:`tasks.translation.models.Transformer` is one); the
state holds ``N = batch x beam`` rows. The search follows fairseq's ``SequenceGenerator``
(beam 5, ``--lenpen 1.0``, ``max_len_b`` 200 as fairseq-generate's defaults): decoding starts
from ``</s>``; each step keeps the best ``2 x beam`` extensions; an extension ending in ``</s>``
that ranks in the first ``beam`` is finished with score ``sum(log p) / length ** lenpen``
(length counts the ``</s>``); the other extensions refill the beam; a sentence is done once it
has ``beam`` finished hypotheses; at ``max_len`` every live hypothesis is forced to end. ``<pad>``
is never generated and ``</s>`` not before ``min_len`` tokens.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import Tensor

from tasks.translation.vocab import EOS_ID, PAD_ID


class Scorer(Protocol):
    def decode_step(self, tokens: Tensor, state: Any) -> Tensor: ...
    def reorder(self, state: Any, index: Tensor) -> Any: ...


def _mask_specials(lprobs: Tensor, step: int, min_len: int, max_len: int, eos: int, pad: int) -> Tensor:
    lprobs[:, pad] = -float("inf")
    if step < min_len:
        lprobs[:, eos] = -float("inf")
    if step >= max_len:  # force the end
        keep = lprobs[:, eos].clone()
        lprobs[:] = -float("inf")
        lprobs[:, eos] = keep
    return lprobs


@torch.no_grad()
def beam_search(scorer: Scorer, state: Any, batch: int, beam: int = 5, max_len: int | Tensor = 200,
                lenpen: float = 1.0, min_len: int = 1, eos: int = EOS_ID, pad: int = PAD_ID,
                device: torch.device | str = "cpu") -> list[list[int]]:
    """Best hypothesis per sentence (token ids, ``</s>`` excluded).

    ``state`` must already hold ``batch x beam`` rows (sentence ``i``'s beams at rows
    ``i*beam ... i*beam + beam - 1``); ``max_len`` may be one number or one per sentence.
    """
    max_lens = torch.as_tensor(max_len).cpu().expand(batch).long()  # host copy: no device sync per step
    limit = int(max_lens.max())
    tokens = torch.full((batch * beam, 1), eos, dtype=torch.long, device=device)
    scores = torch.zeros(batch, beam, device=device)
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    for step in range(limit + 1):
        lprobs = scorer.decode_step(tokens[:, -1], state).float()
        vocab = lprobs.shape[-1]
        lprobs = _mask_specials(lprobs, step, min_len, limit, eos, pad)
        over_host = step >= max_lens  # per-sentence length limit
        if over_host.any():
            over = over_host.repeat_interleave(beam).to(lprobs.device)
            eos_scores = lprobs[over, eos].clone()
            lprobs[over] = -float("inf")
            lprobs[over, eos] = eos_scores
        cand = (scores.view(-1, 1) + lprobs).view(batch, beam, vocab)
        if step == 0:
            cand = cand[:, :1]  # all beams start identical: expand the first only
        flat = cand.reshape(batch, -1)
        top_scores, top_idx = flat.topk(min(2 * beam, flat.shape[1]), dim=1)
        top_beam, top_tok = top_idx // vocab, top_idx % vocab
        is_eos = top_tok.eq(eos) & torch.isfinite(top_scores)
        length = step + 1
        ending = is_eos[:, :beam] & ~done[:, None]  # </s> among the first `beam` candidates
        if bool(ending.any()):  # one host transfer per step that finishes something
            rows, cols = ending.nonzero(as_tuple=True)
            hyps = tokens[rows * beam + top_beam[rows, cols], 1:].tolist()
            normed = (top_scores[rows, cols] / length ** lenpen).tolist()
            for b, score, hyp in zip(rows.tolist(), normed, hyps):  # in rank order within a sentence
                if len(finished[b]) < beam:
                    finished[b].append((score, hyp))
                    if len(finished[b]) == beam:
                        done[b] = True
        if bool(done.all()) or step == limit:
            break
        # refill the beam with the best extensions that do not end the sentence
        alive = top_scores.masked_fill(is_eos, -float("inf"))
        order = alive.argsort(dim=1, descending=True, stable=True)[:, :beam]
        new_scores = alive.gather(1, order)
        src_beam = top_beam.gather(1, order)
        new_tok = top_tok.gather(1, order)
        rows = (torch.arange(batch, device=device)[:, None] * beam + src_beam).view(-1)
        tokens = torch.cat([tokens[rows], new_tok.view(-1, 1)], dim=1)
        scores = new_scores
        state = scorer.reorder(state, rows)
    out = []
    for b in range(batch):
        if not finished[b]:  # cannot happen with max_len forcing, kept for safety
            out.append(tokens[b * beam, 1:].tolist())
            continue
        out.append(max(finished[b], key=lambda sh: sh[0])[1])
    return out


@torch.no_grad()
def greedy(scorer: Scorer, state: Any, batch: int, max_len: int = 200, min_len: int = 1,
           eos: int = EOS_ID, pad: int = PAD_ID, device: torch.device | str = "cpu") -> list[list[int]]:
    """Arg-max decoding (token ids, ``</s>`` excluded)."""
    last = torch.full((batch,), eos, dtype=torch.long, device=device)
    out: list[list[int]] = [[] for _ in range(batch)]
    live = torch.ones(batch, dtype=torch.bool)
    for step in range(max_len + 1):
        lprobs = _mask_specials(scorer.decode_step(last, state).float(), step, min_len, max_len, eos, pad)
        last = lprobs.argmax(dim=-1)
        for b, t in enumerate(last.tolist()):
            if live[b]:
                if t == eos:
                    live[b] = False
                else:
                    out[b].append(t)
        if not live.any():
            break
    return out
