"""Word-level LSTM language models: AWD-LSTM (Merity et al. 2017) and a plain small LSTM.

Both map ``(time, streams)`` token ids and a carried state to :class:`LMOutput`: logits of
shape ``(time, streams, vocab)``, the new state, and the activation penalty to add to the
training loss (AWD-LSTM's AR/TAR; zero otherwise and in eval mode).

AWD-LSTM follows salesforce/awd-lstm-lm ``model.py``: one single-layer ``nn.LSTM`` per
layer (the last one's hidden size is the embedding size, so the decoder can be tied to the
embedding), DropConnect on every hidden-to-hidden matrix, locked (variational) dropout on
the embedding output (``dropout_i``), between layers (``dropout_h``) and on the last layer's
output (``dropout``), embedding dropout that drops whole words (``dropout_e``), embedding
and decoder initialised U(-0.1, 0.1), decoder bias 0, the LSTMs with torch's default init.
AR: ``alpha * mean(dropped last-layer output ** 2)``; TAR: ``beta * mean((h_t - h_{t-1}) ** 2)``
on the last layer's output before dropout.

Weight drop is a ``torch.nn.utils.parametrize`` parametrization of ``weight_hh_l0``: the
parameter stays a leaf (``parametrizations.weight_hh_l0.original``, what the optimizer and
``state_dict`` see), and each forward of ``nn.LSTM`` reads the dropped matrix through the
property. ``nn.LSTM`` notices that the tensor changed (``_weights_have_changed``) and
re-packs its weights (``flatten_parameters``) before calling the fused kernel, so the cuDNN
LSTM still runs, at the cost of one copy of that layer's weights per training step (which
cuDNN makes anyway for weights that are not in one buffer). In eval mode the
parametrization returns the parameter itself: no mask, no copy.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

State = Any  # per model: a list of (h, c) per layer, or one (h, c) pair


class LMOutput(NamedTuple):
    logits: Tensor            # (time, streams, vocab)
    state: State              # carry into the next window (detach it first)
    penalty: Tensor | float   # add to the training loss (AR/TAR); 0 in eval mode


class DropConnect(nn.Module):
    """Parametrization: the weight with each entry zeroed with probability ``p`` (training only)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"weight_drop must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, weight: Tensor) -> Tensor:
        if self.training and self.p > 0:
            return F.dropout(weight, self.p, training=True)
        return weight


def apply_weight_drop(module: nn.Module, names: tuple[str, ...], p: float) -> nn.Module:
    """Put :class:`DropConnect` on the named parameters of ``module`` (in place; returned)."""
    for name in names:
        parametrize.register_parametrization(module, name, DropConnect(p))
    return module


def locked_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Variational dropout: one mask per stream, shared by all time steps of ``x`` (time, streams, features)."""
    if not training or p == 0:
        return x
    mask = x.new_empty(1, x.size(1), x.size(2)).bernoulli_(1 - p).div_(1 - p)
    return x * mask


def embedding_dropout(embed: nn.Embedding, words: Tensor, p: float, training: bool) -> Tensor:
    """Look up ``words`` with whole rows (words) of the embedding dropped with probability ``p``."""
    weight = embed.weight
    if training and p > 0:
        mask = weight.new_empty(weight.size(0), 1).bernoulli_(1 - p).div_(1 - p)
        weight = weight * mask
    return F.embedding(words, weight, embed.padding_idx, embed.max_norm, embed.norm_type,
                       embed.scale_grad_by_freq, embed.sparse)


class AWDLSTM(nn.Module):
    """AWD-LSTM language model (defaults: the reference ``main.py`` arguments)."""

    def __init__(self, vocab_size: int, embedding_size: int = 400, hidden_size: int = 1150, layers: int = 3,
                 dropout: float = 0.4, dropout_h: float = 0.3, dropout_i: float = 0.65, dropout_e: float = 0.1,
                 weight_drop: float = 0.5, tie_weights: bool = True, ar_alpha: float = 2.0,
                 tar_beta: float = 1.0) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        for name, p in (("dropout", dropout), ("dropout_h", dropout_h), ("dropout_i", dropout_i),
                        ("dropout_e", dropout_e)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {p}")
        self.vocab_size, self.layers = int(vocab_size), int(layers)
        self.dropout, self.dropout_h, self.dropout_i, self.dropout_e = dropout, dropout_h, dropout_i, dropout_e
        self.ar_alpha, self.tar_beta = float(ar_alpha), float(tar_beta)
        self.encoder = nn.Embedding(vocab_size, embedding_size)
        last = embedding_size if tie_weights else hidden_size
        sizes = [embedding_size] + [hidden_size] * (layers - 1) + [last]
        self.rnns = nn.ModuleList(nn.LSTM(sizes[i], sizes[i + 1]) for i in range(layers))
        if weight_drop > 0:
            for rnn in self.rnns:
                apply_weight_drop(rnn, ("weight_hh_l0",), weight_drop)
        self.decoder = nn.Linear(last, vocab_size)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        if not tie_weights:
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    def forward(self, tokens: Tensor, state: State = None) -> LMOutput:
        training = self.training
        x = embedding_dropout(self.encoder, tokens, self.dropout_e, training)
        x = locked_dropout(x, self.dropout_i, training)
        states = state if state is not None else [None] * self.layers
        new_state = []
        raw = x
        for i, rnn in enumerate(self.rnns):
            raw, s = rnn(x, states[i])
            new_state.append(s)
            x = locked_dropout(raw, self.dropout_h if i < self.layers - 1 else self.dropout, training)
        logits = self.decoder(x)
        penalty: Tensor | float = 0.0
        if training:
            if self.ar_alpha:
                penalty = penalty + self.ar_alpha * x.pow(2).mean()
            if self.tar_beta and raw.size(0) > 1:
                penalty = penalty + self.tar_beta * (raw[1:] - raw[:-1]).pow(2).mean()
        return LMOutput(logits, new_state, penalty)


class PlainLSTM(nn.Module):
    """A Zaremba-style LSTM LM: embedding, a fused multi-layer ``nn.LSTM``, dropout, decoder.

    The defaults are Zaremba et al.'s "small" model (2 x 200, no dropout, weights U(-0.1, 0.1)):
    a CPU-sized workload for quick runs, tests and the runner benchmark.
    """

    def __init__(self, vocab_size: int, embedding_size: int = 200, hidden_size: int = 200, layers: int = 2,
                 dropout: float = 0.0, tie_weights: bool = False, init_range: float = 0.1) -> None:
        super().__init__()
        if tie_weights and embedding_size != hidden_size:
            raise ValueError("tie_weights needs embedding_size == hidden_size")
        self.vocab_size = int(vocab_size)
        self.encoder = nn.Embedding(vocab_size, embedding_size)
        self.rnn = nn.LSTM(embedding_size, hidden_size, layers, dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        if init_range > 0:
            for p in self.parameters():
                nn.init.uniform_(p, -init_range, init_range)

    def forward(self, tokens: Tensor, state: State = None) -> LMOutput:
        out, state = self.rnn(self.drop(self.encoder(tokens)), state)
        return LMOutput(self.decoder(self.drop(out)), state, 0.0)


def detach_state(state: State) -> State:
    """The state's values without their graph (truncated BPTT)."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    return type(state)(detach_state(s) for s in state) if isinstance(state, tuple) else [detach_state(s) for s in state]

