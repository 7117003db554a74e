"""Token and position embeddings, and the unembedding.

An embedding is a table look-up; the tied unembedding scores the residual
against every token's embedding (a dot product per token):

>>> from minigpt import GPTConfig
>>> cfg = GPTConfig(d_model=2, n_heads=1, d_vocab=3, n_ctx=4)
>>> embed = Embed(cfg)
>>> with torch.no_grad():
...     embed.W_E[:] = torch.tensor([[0.0, 1.0], [10.0, 11.0], [20.0, 21.0]])  # [d_vocab d_model]
>>> embed(torch.tensor([[2, 0]])).tolist()                  # rows 2 and 0
[[[20.0, 21.0], [0.0, 1.0]]]
>>> Unembed(cfg, embed)(torch.tensor([[[1.0, 0.0]]])).tolist()  # x · W_E[token] for each token
[[[0.0, 10.0, 20.0]]]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import GPTConfig
from ..functional import linear, stored_parameter
from ..hooks import HookPoint


class Embed(nn.Module):
    """``W_E: [d_vocab, d_model]``; token ids → residual vectors."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.W_E = nn.Parameter(torch.empty(cfg.d_vocab, cfg.d_model))

    def forward(self, tokens: Tensor) -> Tensor:  # [batch pos] -> [batch pos d_model]
        return F.embedding(tokens, self.W_E)


class PosEmbed(nn.Module):
    """``W_pos: [n_ctx, d_model]``; a learned vector per absolute position."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.W_pos = nn.Parameter(torch.empty(cfg.n_ctx, cfg.d_model))

    def forward(self, tokens: Tensor, past_pos: int = 0) -> Tensor:
        batch, pos = tokens.shape
        return self.W_pos[past_pos : past_pos + pos].expand(batch, pos, -1)  # [batch pos d_model]


class Unembed(nn.Module):
    """Residual → logits. ``W_U: [d_model, d_vocab]``; GPT-2 ties it: ``W_U = W_E.T``.

    A tied unembedding keeps a plain reference to the embedding (not a
    sub-module), so the shared matrix is stored and counted once. Hook points, as in
    TransformerLens: ``hook_in`` (the residual it reads, after ``ln_final``:
    ``[batch pos d_model]``) and ``hook_out`` (the logits, ``[batch pos d_vocab]``).
    """

    def __init__(self, cfg: GPTConfig, embed: Embed | None = None) -> None:
        super().__init__()
        if cfg.tie_embeddings and embed is None:
            raise ValueError("a tied unembedding needs the Embed whose W_E it shares")
        self._tied_to = [embed] if cfg.tie_embeddings else []
        if not cfg.tie_embeddings:
            self.W_U = stored_parameter((cfg.d_vocab, cfg.d_model), (1, 0))  # [d_model d_vocab]
        self.b_U = nn.Parameter(torch.zeros(cfg.d_vocab)) if cfg.unembed_bias else None
        self.hook_in = HookPoint()  # [batch pos d_model]
        self.hook_out = HookPoint()  # [batch pos d_vocab]

    @property
    def W_U(self) -> Tensor:
        """``[d_model d_vocab]``: the embedding's ``W_E.T`` (a view) when tied, else this module's parameter."""
        if self._tied_to:
            return self._tied_to[0].W_E.T
        if "W_U" not in self._parameters:  # while __init__ registers it: hasattr must answer False
            raise AttributeError("W_U")
        return self._parameters["W_U"]

    def forward(self, x: Tensor) -> Tensor:  # [batch pos d_model] -> [batch pos d_vocab]
        x = self.hook_in(x)
        weight = self._tied_to[0].W_E if self._tied_to else self.W_U.T  # [d_vocab d_model]
        return self.hook_out(linear(x, weight, self.b_U))
