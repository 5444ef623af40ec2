"""fairseq's ``transformer_iwslt_de_en_v2`` in plain ``torch.nn`` (no fairseq dependency).

The architecture of the AdaBelief authors' transformer code (juntang-zhuang/transformer-adabelief,
a fairseq 0.8 fork; its ``config/*.sh`` are the recipe AdaMomentum's Table 12 matches: lr 1.5e-3,
warm-up 8000 from 1e-7, 55 epochs, average of the last 5): 6 encoder + 6 decoder layers,
embedding 512, FFN 1024, 4 heads, ReLU, **pre-norm** (``normalize_before=True`` in ``_v2``, with
a final LayerNorm after each stack), dropout 0.3 on embeddings / sub-layer outputs, 0.1 on the
attention weights and after the ReLU, ``--share-all-embeddings`` (one embedding matrix for the
joined dictionary: encoder input, decoder input and output projection), embeddings scaled by
sqrt(512), fairseq's sinusoidal positions (sin half then cos half, positions counted from
``pad + 1`` over non-pad tokens). Init as fairseq: embeddings N(0, d^-1/2) with a zero pad row,
Linear layers Xavier-uniform (q/k/v as one fused 3d x d matrix), zero biases.

Attention is ``F.scaled_dot_product_attention``. :meth:`Transformer.decode_step` is incremental
decoding: each decoder layer caches its self-attention keys/values and the encoder-side
keys/values, so a step costs one position; ``reorder`` follows the beam search's choices.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tasks.translation.vocab import PAD_ID, vocab_size as read_vocab_size

State = dict[str, Any]


def sinusoidal_table(num: int, dim: int, padding_idx: int = PAD_ID) -> Tensor:
    half = dim // 2
    freq = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    angles = torch.arange(num, dtype=torch.float32)[:, None] * freq[None]
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2:
        table = torch.cat([table, torch.zeros(num, 1)], dim=1)
    table[padding_idx] = 0
    return table


def positions(tokens: Tensor, padding_idx: int = PAD_ID) -> Tensor:
    """fairseq ``make_positions``: pad + 1, pad + 2, ... over non-pad tokens, ``pad`` on padding."""
    mask = tokens.ne(padding_idx).long()
    return torch.cumsum(mask, dim=1) * mask + padding_idx


class Attention(nn.Module):
    """Multi-head attention over ``scaled_dot_product_attention``; ``self_attn`` fuses q/k/v."""

    def __init__(self, dim: int, heads: int, dropout: float, self_attn: bool) -> None:
        super().__init__()
        self.heads, self.dropout, self.self_attn = heads, dropout, self_attn
        if self_attn:
            self.qkv = nn.Linear(dim, 3 * dim)
        else:
            self.q = nn.Linear(dim, dim)
            self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        bound = math.sqrt(6.0 / (4 * dim))  # Xavier-uniform of the fused (3d, d) in-projection
        for lin in (self.qkv,) if self_attn else (self.q, self.kv):
            nn.init.uniform_(lin.weight, -bound, bound)
            nn.init.zeros_(lin.bias)
        nn.init.xavier_uniform_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def _split(self, x: Tensor) -> Tensor:  # (B, T, D) -> (B, H, T, D/H)
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x: Tensor, memory: Tensor | None = None, mask: Tensor | None = None,
                causal: bool = False, cache: dict[str, Tensor] | None = None) -> Tensor:
        """``mask``: bool (B, 1, 1, S), True where a key may be attended to.

        With ``cache`` (incremental decoding) self-attention appends this step's keys/values to
        ``cache["k"]``/``["v"]``; encoder-decoder attention computes them once.
        """
        if self.self_attn:
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            q, k, v = self._split(q), self._split(k), self._split(v)
            if cache is not None:
                if "k" in cache:
                    k = torch.cat([cache["k"], k], dim=2)
                    v = torch.cat([cache["v"], v], dim=2)
                cache["k"], cache["v"] = k, v
        else:
            q = self._split(self.q(x))
            if cache is not None and "k" in cache:
                k, v = cache["k"], cache["v"]
            else:
                k, v = (self._split(t) for t in self.kv(memory).chunk(2, dim=-1))
                if cache is not None:
                    cache["k"], cache["v"] = k, v
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal and mask is None,
                                           dropout_p=self.dropout if self.training else 0.0)
        b, h, t, dh = y.shape
        return self.out(y.transpose(1, 2).reshape(b, t, h * dh))


class FeedForward(nn.Module):
    def __init__(self, dim: int, ffn_dim: int, activation_dropout: float) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, ffn_dim), nn.Linear(ffn_dim, dim)
        self.activation_dropout = nn.Dropout(activation_dropout)
        for lin in (self.fc1, self.fc2):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.activation_dropout(F.relu(self.fc1(x))))


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float, attention_dropout: float,
                 activation_dropout: float, normalize_before: bool) -> None:
        super().__init__()
        self.self_attn = Attention(dim, heads, attention_dropout, self_attn=True)
        self.ffn = FeedForward(dim, ffn_dim, activation_dropout)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.pre = normalize_before

    def _block(self, x: Tensor, norm: nn.LayerNorm, fn) -> Tensor:
        y = fn(norm(x) if self.pre else x)
        x = x + self.dropout(y)
        return x if self.pre else norm(x)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = self._block(x, self.norm1, lambda h: self.self_attn(h, mask=mask))
        return self._block(x, self.norm2, self.ffn)


class DecoderLayer(EncoderLayer):
    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float, attention_dropout: float,
                 activation_dropout: float, normalize_before: bool) -> None:
        super().__init__(dim, heads, ffn_dim, dropout, attention_dropout, activation_dropout, normalize_before)
        self.cross_attn = Attention(dim, heads, attention_dropout, self_attn=False)
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, x: Tensor, memory: Tensor, memory_mask: Tensor,  # type: ignore[override]
                cache: dict[str, dict[str, Tensor]] | None = None) -> Tensor:
        incremental = cache is not None
        x = self._block(x, self.norm1, lambda h: self.self_attn(
            h, causal=not incremental, cache=cache["self"] if incremental else None))
        x = self._block(x, self.norm3, lambda h: self.cross_attn(
            h, memory=memory, mask=memory_mask, cache=cache["cross"] if incremental else None))
        return self._block(x, self.norm2, self.ffn)


class Transformer(nn.Module):
    """Encoder-decoder with one shared embedding; ``forward(src, prev_output) -> logits``."""

    def __init__(self, vocab_size: int | None = None, dict_path: str | None = None, embed_dim: int = 512,
                 ffn_dim: int = 1024, heads: int = 4, encoder_layers: int = 6, decoder_layers: int = 6,
                 dropout: float = 0.3, attention_dropout: float = 0.1, activation_dropout: float = 0.1,
                 normalize_before: bool = True, max_positions: int = 1024) -> None:
        super().__init__()
        if vocab_size is None:
            if dict_path is None:
                raise ValueError("model: give vocab_size or dict_path (the prepared dict.txt)")
            if torch.empty(0).is_meta and not Path(dict_path).is_file():
                vocab_size = 8  # plan-time fit check on the meta device: shapes only; the data's preflight names the file
            else:
                vocab_size = read_vocab_size(Path(dict_path))
        self.vocab_size, self.embed_dim = int(vocab_size), embed_dim
        self.embed = nn.Embedding(self.vocab_size, embed_dim, padding_idx=PAD_ID)
        nn.init.normal_(self.embed.weight, mean=0.0, std=embed_dim ** -0.5)
        with torch.no_grad():
            self.embed.weight[PAD_ID].zero_()
        self.register_buffer("pos_table", sinusoidal_table(max_positions + PAD_ID + 1, embed_dim), persistent=False)
        self.scale = math.sqrt(embed_dim)
        self.dropout = nn.Dropout(dropout)
        args = (embed_dim, heads, ffn_dim, dropout, attention_dropout, activation_dropout, normalize_before)
        self.encoder = nn.ModuleList(EncoderLayer(*args) for _ in range(encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(*args) for _ in range(decoder_layers))
        self.encoder_norm = nn.LayerNorm(embed_dim) if normalize_before else nn.Identity()
        self.decoder_norm = nn.LayerNorm(embed_dim) if normalize_before else nn.Identity()

    def _embed(self, tokens: Tensor, pos: Tensor) -> Tensor:
        return self.dropout(self.scale * self.embed(tokens) + self.pos_table[pos])

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """(encoder output (B, S, D), key mask (B, 1, 1, S) True on real tokens)."""
        mask = src.ne(PAD_ID)[:, None, None, :]
        x = self._embed(src, positions(src))
        for layer in self.encoder:
            x = layer(x, mask)
        return self.encoder_norm(x), mask

    def output(self, x: Tensor) -> Tensor:
        return F.linear(self.decoder_norm(x), self.embed.weight)

    def decode(self, prev: Tensor, memory: Tensor, memory_mask: Tensor) -> Tensor:
        """Teacher-forced decoder logits (B, T, V) for ``prev`` = ``</s>`` + target[:-1] (right-padded)."""
        x = self._embed(prev, positions(prev))
        for layer in self.decoder:
            x = layer(x, memory, memory_mask)
        return self.output(x)

    def forward(self, src: Tensor, prev: Tensor) -> Tensor:
        memory, mask = self.encode(src)
        return self.decode(prev, memory, mask)

    # --- incremental decoding -------------------------------------------------------------------
    def start_decoding(self, src: Tensor) -> State:
        """Encoder output and empty caches for :meth:`decode_step`."""
        memory, mask = self.encode(src)
        return {"memory": memory, "mask": mask, "step": 0,
                "layers": [{"self": {}, "cross": {}} for _ in self.decoder]}

    def decode_step(self, tokens: Tensor, state: State) -> Tensor:
        """Log-probabilities (N, V) of the next token given the last one (N,); updates ``state``."""
        pos = torch.full_like(tokens, PAD_ID + 1 + state["step"])  # decoder inputs are never padding
        x = self._embed(tokens[:, None], pos[:, None])
        for layer, cache in zip(self.decoder, state["layers"]):
            x = layer(x, state["memory"], state["mask"], cache=cache)
        state["step"] += 1
        return F.log_softmax(self.output(x)[:, 0].float(), dim=-1)

    @staticmethod
    def reorder(state: State, index: Tensor) -> State:
        """Keep rows ``index`` of every cached tensor (beam search's surviving hypotheses)."""
        state["memory"], state["mask"] = state["memory"][index], state["mask"][index]
        for cache in state["layers"]:
            for part in cache.values():
                for key in list(part):
                    part[key] = part[key][index]
        return state


def transformer(**kwargs: Any) -> Transformer:
    """Hydra entry point (``conf/model/transformer_*.yaml``)."""
    return Transformer(**kwargs)
