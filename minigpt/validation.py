"""Checks on a model's input, with messages a learner can act on."""

from __future__ import annotations

import torch
from torch import Tensor

from .config import GPTConfig


def check_tokens(tokens, cfg: GPTConfig, past: int = 0, device=None) -> Tensor:
    """Return ``tokens`` as a ``[batch pos]`` integer tensor on ``device`` or raise a clear error."""
    if isinstance(tokens, str):
        raise TypeError(
            "the model takes token ids, not text: use model.to_tokens(text) "
            "(or a tokenizer's encode) first"
        )
    if not isinstance(tokens, Tensor):
        try:
            tokens = torch.as_tensor(tokens)
        except Exception as exc:
            raise TypeError(f"tokens must be a LongTensor [batch, pos], got {type(tokens).__name__}") from exc
    if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
        raise TypeError(
            f"tokens must be integer ids (torch.long), got dtype {tokens.dtype}; "
            "did you pass embeddings or logits instead of token ids?"
        )
    if tokens.ndim == 1:
        tokens = tokens.unsqueeze(0)
    if tokens.ndim != 2:
        raise ValueError(
            f"tokens must have shape [batch, pos] or [pos], got shape {tuple(tokens.shape)} "
            f"({tokens.ndim} dimensions)"
        )
    batch, pos = tokens.shape
    if batch == 0 or pos == 0:
        raise ValueError(f"tokens is empty (shape {tuple(tokens.shape)}); give at least one token")
    if past + pos > cfg.n_ctx:
        raise ValueError(
            f"sequence too long: {past + pos} positions"
            + (f" ({past} cached + {pos} new)" if past else "")
            + f" but the model's context is n_ctx={cfg.n_ctx}; truncate to the last {cfg.n_ctx - past} tokens"
        )
    lo, hi = int(tokens.min()), int(tokens.max())
    if lo < 0 or hi >= cfg.d_vocab:
        bad = lo if lo < 0 else hi
        raise ValueError(
            f"token id {bad} is outside the vocabulary [0, {cfg.d_vocab - 1}] (d_vocab={cfg.d_vocab}); "
            "was the text encoded with another tokenizer?"
        )
    if tokens.dtype != torch.long:
        tokens = tokens.long()
    if device is not None and tokens.device != device:
        tokens = tokens.to(device)
    return tokens
