"""AWD-LSTM pieces: weight drop by parametrization, locked/embedding dropout, tying, AR/TAR; the plain LSTM."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from tasks.lm.models import AWDLSTM, PlainLSTM, detach_state, embedding_dropout, locked_dropout

V, E, H = 30, 8, 12


def _model(**kw) -> AWDLSTM:
    torch.manual_seed(0)
    return AWDLSTM(V, E, H, layers=kw.pop("layers", 3), **kw)


def _tokens(t: int = 6, b: int = 4) -> torch.Tensor:
    return torch.randint(V, (t, b), generator=torch.Generator().manual_seed(1))


def test_shapes_tying_and_last_layer_size() -> None:
    m = _model()
    out = m(_tokens())
    assert out.logits.shape == (6, 4, V)
    assert [tuple(h.shape) for h, _ in out.state] == [(1, 4, H), (1, 4, H), (1, 4, E)]
    assert m.decoder.weight is m.encoder.weight
    names = {n for n, _ in m.named_parameters()}
    assert "decoder.weight" not in names  # tied: one parameter, counted once
    assert "rnns.0.parametrizations.weight_hh_l0.original" in names and "rnns.0.weight_hh_l0" not in names


def test_weight_drop_masks_differ_between_training_steps_and_eval_uses_the_raw_matrix() -> None:
    m = _model(weight_drop=0.5)
    rnn = m.rnns[1]
    raw = rnn.parametrizations.weight_hh_l0.original
    m.train()
    a, b = rnn.weight_hh_l0, rnn.weight_hh_l0
    assert not torch.equal(a, b)
    zeros = (a == 0).float().mean().item()
    assert 0.4 < zeros < 0.6
    kept = a != 0
    assert torch.allclose(a[kept], raw[kept] * 2)  # inverted dropout scaling 1 / (1 - p)
    m.eval()
    assert rnn.weight_hh_l0 is raw
    plain = nn.LSTM(H, H)
    plain.load_state_dict({"weight_ih_l0": rnn.weight_ih_l0, "weight_hh_l0": raw,
                           "bias_ih_l0": rnn.bias_ih_l0, "bias_hh_l0": rnn.bias_hh_l0})
    x = torch.randn(5, 3, H)
    assert torch.equal(rnn(x)[0], plain(x)[0])


def test_gradients_reach_the_raw_weights_through_the_mask_used_in_forward() -> None:
    m = _model(weight_drop=0.5, dropout=0, dropout_h=0, dropout_i=0, dropout_e=0)
    m.train()
    rnn = m.rnns[0]
    with parametrize.cached():  # one mask for this forward, readable here
        dropped = rnn.weight_hh_l0
        out = m(_tokens())
        out.logits.sum().backward()
    grad = rnn.parametrizations.weight_hh_l0.original.grad
    assert grad is not None and grad.abs().sum() > 0
    assert torch.all(grad[dropped == 0] == 0) and (grad[dropped != 0] != 0).float().mean() > 0.9


def test_training_forward_is_random_eval_forward_deterministic_and_state_dict_round_trips() -> None:
    m = _model()
    x = _tokens()
    m.train()
    assert not torch.equal(m(x).logits, m(x).logits)
    m.eval()
    ref = m(x).logits
    assert torch.equal(ref, m(x).logits)
    torch.manual_seed(5)
    other = AWDLSTM(V, E, H, layers=3)
    other.load_state_dict(m.state_dict())
    other.eval()
    assert torch.equal(other(x).logits, ref)
    assert other.decoder.weight is other.encoder.weight


def test_ar_tar_penalty_is_the_reference_formula_and_zero_in_eval() -> None:
    m = _model(layers=2, weight_drop=0, dropout=0, dropout_h=0, dropout_i=0, dropout_e=0, ar_alpha=2.0, tar_beta=1.0)
    x = _tokens()
    m.train()
    out = m(x)
    h, _ = m.rnns[0](m.encoder(x))
    last, _ = m.rnns[1](h)  # no dropout: dropped output == raw output
    expected = 2.0 * last.pow(2).mean() + 1.0 * (last[1:] - last[:-1]).pow(2).mean()
    assert torch.allclose(out.penalty, expected)
    assert torch.allclose(out.logits, m.decoder(last))
    m.eval()
    assert m(x).penalty == 0.0


def test_locked_dropout_shares_one_mask_over_time_and_embedding_dropout_drops_whole_words() -> None:
    torch.manual_seed(0)
    y = locked_dropout(torch.ones(9, 4, 50), 0.5, training=True)
    assert torch.equal(y, y[:1].expand_as(y)) and set(y.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(locked_dropout(torch.ones(9, 4, 50), 0.5, training=False), torch.ones(9, 4, 50))
    emb = nn.Embedding(10, 6)
    words = torch.tensor([[1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]])
    out = embedding_dropout(emb, words, 0.5, training=True)
    for i in range(0, words.shape[1], 2):  # both occurrences of a word share its fate
        assert torch.equal(out[0, i], out[0, i + 1])
        row = out[0, i]
        assert torch.equal(row, torch.zeros(6)) or torch.allclose(row, emb.weight[words[0, i]] * 2)


def test_state_carries_across_windows() -> None:
    m = _model().eval()
    x = _tokens(t=10)
    whole = m(x).logits
    first = m(x[:4])
    second = m(x[4:], detach_state(first.state))
    assert torch.allclose(torch.cat([first.logits, second.logits]), whole, atol=1e-6)


def test_plain_lstm_is_one_fused_lstm_and_carries_state() -> None:
    torch.manual_seed(0)
    m = PlainLSTM(V, 16, 16, layers=2).eval()
    assert isinstance(m.rnn, nn.LSTM) and m.rnn.num_layers == 2
    x = _tokens(t=10)
    out = m(x)
    a = m(x[:3])
    b = m(x[3:], detach_state(a.state))
    assert torch.allclose(torch.cat([a.logits, b.logits]), out.logits, atol=1e-6)
    assert all(p.abs().max() <= 0.1 for p in m.parameters())


@pytest.mark.gpu  # `make test-gpu`; deselected by `make test` / `make test-all`
def test_weight_drop_keeps_the_fused_cudnn_lstm_on_gpu() -> None:
    m = _model().cuda().train()
    x = _tokens().cuda()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "RNN module weights are not part of single contiguous chunk" would raise
        for _ in range(3):
            out = m(x)
            (out.logits.sum() + out.penalty).backward()
    assert all(r.parametrizations.weight_hh_l0.original.grad.abs().sum() > 0 for r in m.rnns)
    m.eval()
    cpu = _model()
    cpu.load_state_dict({k: v.cpu() for k, v in m.state_dict().items()})
    assert torch.allclose(m(x).logits.cpu(), cpu.eval()(x.cpu()).logits, atol=1e-4)
