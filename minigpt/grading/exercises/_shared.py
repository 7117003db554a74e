"""Helpers the chapters' checks share: seeded random tensors, the causal mask, random attention patterns.

Helpers that only one chapter needs live in that chapter's ``_common.py``.
"""

from __future__ import annotations

import torch
from torch import Tensor

INF = float("inf")


def _randn(g: torch.Generator, *shape: int, scale: float = 1.0, shift: float = 0.0) -> Tensor:
    return torch.randn(*shape, generator=g) * scale + shift


def _causal(query_pos: int, key_pos: int) -> Tensor:
    """minigpt's convention: query i sits at key_pos - query_pos + i (True = may attend).

    >>> _causal(2, 3).int().tolist()
    [[1, 1, 0], [1, 1, 1]]
    """
    return torch.ones(query_pos, key_pos, dtype=torch.bool).tril(diagonal=key_pos - query_pos)


def _pattern(g: torch.Generator, batch: int, n_heads: int, pos: int, sharpness: float = 2.0) -> Tensor:
    """A random causal attention pattern ``[batch n_heads pos pos]`` (rows sum to 1, zeros above the diagonal)."""
    scores = _randn(g, batch, n_heads, pos, pos, scale=sharpness)
    return scores.masked_fill(~_causal(pos, pos), -INF).softmax(dim=-1)
