"""Loss, token batching, rank sharding, bf16 autocast and the averaging state across checkpoints."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tasks.translation.data import Split, TokenBatches, batch_by_size
from tasks.translation.models import Transformer
from tasks.translation.module import TranslationModule
from tasks.translation.search import beam_search
from tasks.translation.vocab import EOS_ID, PAD_ID, pack


def test_label_smoothed_loss_is_fairseqs_formula() -> None:
    torch.manual_seed(0)
    logits = torch.randn(7, 11)
    target = torch.tensor([4, 5, PAD_ID, 6, 2, PAD_ID, 10])
    eps = 0.1
    lprobs = F.log_softmax(logits, -1)
    keep = target.ne(PAD_ID)
    nll = -lprobs[keep].gather(1, target[keep, None]).sum()
    smooth = -lprobs[keep].sum()
    fairseq = (1 - eps) * nll + eps / lprobs.shape[-1] * smooth  # label_smoothed_nll_loss, fairseq 0.8
    ours = F.cross_entropy(logits, target, ignore_index=PAD_ID, label_smoothing=eps, reduction="sum")
    torch.testing.assert_close(ours, fairseq)


def _split(lengths: list[tuple[int, int]]) -> Split:
    src = [[7] * (s - 1) + [EOS_ID] for s, _ in lengths]
    tgt = [[8] * (t - 1) + [EOS_ID] for _, t in lengths]
    return Split({"src": pack(src), "tgt": pack(tgt)})


def test_batch_by_size_respects_the_budget_and_groups_by_length() -> None:
    g = torch.Generator().manual_seed(1)
    lengths = [(int(a), int(b)) for a, b in torch.randint(2, 40, (300, 2), generator=g)]
    split = _split(lengths)
    batches = batch_by_size(split.src_len, split.tgt_len, max_tokens=256, seed=0)
    assert sorted(i for b in batches for i in b) == list(range(300))  # every pair exactly once
    for b in batches:
        longest = max(max(lengths[i]) for i in b)
        assert len(b) * longest <= 256
        assert len(b) % 8 == 0 or b is batches[-1] or len(b) < 8
    src_order = [lengths[i][0] for b in batches for i in b]
    assert src_order == sorted(src_order)  # ordered by source length
    src, prev, tgt = split.collate(batches[3])
    shifted = prev[:, 1:].ne(PAD_ID)  # teacher forcing: prev = </s> + target[:-1]
    assert prev[:, 0].eq(EOS_ID).all() and torch.equal(prev[:, 1:][shifted], tgt[:, :-1][shifted])
    assert torch.equal(prev.ne(PAD_ID), tgt.ne(PAD_ID))


def test_epoch_shuffle_and_rank_shards() -> None:
    split = _split([(5 + i % 20, 5 + i % 17) for i in range(200)])
    loader = TokenBatches(split, 128, seed=3, shuffle=True)
    first = [b[0].shape for b in loader]
    loader.sampler.set_epoch(1)
    assert [b[0].shape for b in loader] != first  # a new order each epoch
    loader.sampler.set_epoch(0)
    assert [b[0].shape for b in loader] == first  # a function of (seed, epoch) only
    n = len(loader.batches)
    train = [TokenBatches(split, 128, seed=3, shuffle=True, rank=r, world_size=3, pad=True) for r in range(3)]
    assert len({len(t) for t in train}) == 1 and sum(len(t) for t in train) >= n
    evals = [TokenBatches(split, 128, rank=r, world_size=3, pad=False) for r in range(3)]
    seen = sorted(i for e in evals for b in e._order() for i in e.batches[b])
    assert seen == list(range(200))  # evaluation: each pair on exactly one rank
    few = _split([(5, 5), (6, 6), (7, 7)])  # one batch in all: still one per rank
    assert [len(TokenBatches(few, 4096, rank=r, world_size=2, pad=False)) for r in range(2)] == [1, 1]


def test_bf16_autocast_trains_and_decodes_on_cpu() -> None:
    torch.manual_seed(0)
    model = Transformer(vocab_size=16, embed_dim=16, ffn_dim=32, heads=2, encoder_layers=1, decoder_layers=1)
    src = torch.tensor([[5, 6, 7, EOS_ID], [8, 9, EOS_ID, PAD_ID]])
    prev = torch.tensor([[EOS_ID, 10, 11], [EOS_ID, 12, PAD_ID]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(src, prev)
        loss = F.cross_entropy(logits.float().flatten(0, 1), torch.tensor([10, 11, EOS_ID, 12, EOS_ID, PAD_ID]),
                               ignore_index=PAD_ID)
        loss.backward()
        model.eval()
        out = beam_search(model, model.start_decoding(src.repeat_interleave(2, 0)), 2, beam=2, max_len=4)
    assert logits.dtype == torch.bfloat16 and torch.isfinite(loss)
    assert all(len(h) <= 4 for h in out)


def test_running_average_survives_a_checkpoint() -> None:
    def module() -> TranslationModule:
        model = Transformer(vocab_size=16, embed_dim=8, ffn_dim=16, heads=2, encoder_layers=1, decoder_layers=1)
        return TranslationModule(model, optimizer_factory=lambda p, role="model": torch.optim.SGD(p, lr=0.1))

    a = module()
    a.average.add(a.model.state_dict())
    a._averaged_epochs.append(50)
    ckpt: dict = {}
    a.on_save_checkpoint(ckpt)
    b = module()
    b.on_load_checkpoint(ckpt)
    assert b.average.count == 1 and b._averaged_epochs == [50]
    torch.testing.assert_close(b.average.average(b.model.state_dict())["embed.weight"], a.model.embed.weight)


def test_a_tiny_transformer_learns_a_word_mapping_and_beam_search_recovers_it() -> None:
    """End to end (loss, teacher forcing, incremental beam search, BLEU): token i -> token 30 - i."""
    from tasks.translation.bleu import corpus_bleu

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        lengths = torch.randint(3, 8, (n,), generator=g)
        src = torch.full((n, 8), PAD_ID)
        tgt = torch.full((n, 8), PAD_ID)
        for i, length in enumerate(lengths.tolist()):
            words = torch.randint(5, 26, (length,), generator=g)
            src[i, :length], src[i, length] = words, EOS_ID
            tgt[i, :length], tgt[i, length] = 30 - words, EOS_ID
        prev = torch.cat([torch.full((n, 1), EOS_ID), tgt[:, :-1]], dim=1).masked_fill(tgt.eq(PAD_ID), PAD_ID)
        return src, prev, tgt

    model = Transformer(vocab_size=32, embed_dim=32, ffn_dim=64, heads=4, encoder_layers=1, decoder_layers=1,
                        dropout=0.0, attention_dropout=0.0, activation_dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(200):
        src, prev, tgt = batch(64)
        loss = F.cross_entropy(model(src, prev).flatten(0, 1), tgt.flatten(), ignore_index=PAD_ID, label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    src, _, tgt = batch(32)
    hyps = beam_search(model, model.start_decoding(src.repeat_interleave(4, 0)), 32, beam=4, max_len=12)
    as_text = lambda ids: " ".join(str(i) for i in ids)  # noqa: E731
    refs = [as_text([t for t in row if t not in (PAD_ID, EOS_ID)]) for row in tgt.tolist()]
    score = corpus_bleu([as_text(h) for h in hyps], refs)
    assert score > 90, score  # 100 here; an untrained model scores 0
