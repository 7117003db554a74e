"""Token and position embeddings, and the unembedding."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import GPTConfig
from ..functional import linear, stored_parameter


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
    sub-module), so the shared matrix is stored and counted once.
    """

    def __init__(self, cfg: GPTConfig, embed: Embed | None = None) -> None:
        super().__init__()
        if cfg.tie_embeddings and embed is None:
            raise ValueError("a tied unembedding needs the Embed whose W_E it shares")
        self._tied_to = [embed] if cfg.tie_embeddings else []
        if not cfg.tie_embeddings:
            self.W_U = stored_parameter((cfg.d_vocab, cfg.d_model), (1, 0))  # [d_model d_vocab]
        self.b_U = nn.Parameter(torch.zeros(cfg.d_vocab)) if cfg.unembed_bias else None

    def __getattr__(self, name: str):
        if name == "W_U" and self.__dict__.get("_tied_to"):
            return self._tied_to[0].W_E.T  # [d_model d_vocab], a view
        return super().__getattr__(name)

    def forward(self, x: Tensor) -> Tensor:  # [batch pos d_model] -> [batch pos d_vocab]
        weight = self._tied_to[0].W_E if self._tied_to else self.W_U.T  # [d_vocab d_model]
        return linear(x, weight, self.b_U)
