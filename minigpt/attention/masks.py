"""The causal mask, aligned to the end of the keys (see the registry's docstring)."""

from __future__ import annotations

import torch
from torch import Tensor


def causal_mask(query_pos: int, key_pos: int, device=None) -> Tensor:
    """Boolean ``[query_pos, key_pos]``: True where the query may attend to the key.

    Query ``i`` sits at absolute position ``key_pos - query_pos + i``.

    >>> causal_mask(2, 3).int().tolist()
    [[1, 1, 0], [1, 1, 1]]
    """
    if query_pos > key_pos:
        raise ValueError(f"query_pos={query_pos} exceeds key_pos={key_pos}: no key for some queries")
    offset = key_pos - query_pos
    q = torch.arange(query_pos, device=device).unsqueeze(-1)
    k = torch.arange(key_pos, device=device)
    return k <= q + offset


def combined_mask(
    query_pos: int, key_pos: int, causal: bool, attn_mask: Tensor | None, device=None
) -> Tensor | None:
    """The causal mask and a user mask combined (``None`` when nothing is masked)."""
    mask = causal_mask(query_pos, key_pos, device=device) if causal else None
    if attn_mask is not None:
        if attn_mask.dtype != torch.bool:
            raise TypeError(f"attn_mask must be a bool tensor (True = may attend), got {attn_mask.dtype}")
        mask = attn_mask if mask is None else mask & attn_mask
    return mask
