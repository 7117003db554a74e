"""The causal mask, aligned to the end of the keys (see the registry's docstring).

A tiled kernel asks for one tile at a time (``queries``/``keys`` slices), so it
never holds the whole ``[query_pos, key_pos]`` matrix.
"""

from __future__ import annotations

import torch
from torch import Tensor


def check_causal(query_pos: int, key_pos: int) -> None:
    """A causal mask aligned to the end of the keys needs at least as many keys as queries."""
    if query_pos > key_pos:
        raise ValueError(f"query_pos={query_pos} exceeds key_pos={key_pos}: no key for some queries")


def causal_mask(query_pos: int, key_pos: int, device=None, *, queries: slice | None = None,
                keys: slice | None = None) -> Tensor:
    """Boolean ``[query_pos, key_pos]``: True where the query may attend to the key.

    Query ``i`` sits at absolute position ``key_pos - query_pos + i``.

    >>> causal_mask(2, 3).int().tolist()
    [[1, 1, 0], [1, 1, 1]]

    ``queries`` and ``keys`` (slices with a start and a stop) give one tile of
    that matrix, ``[queries, keys]``, without building the rest:

    >>> causal_mask(4, 4, queries=slice(2, 4), keys=slice(1, 4)).int().tolist()
    [[1, 1, 0], [1, 1, 1]]
    """
    check_causal(query_pos, key_pos)
    queries = slice(0, query_pos) if queries is None else queries
    keys = slice(0, key_pos) if keys is None else keys
    offset = key_pos - query_pos
    q = torch.arange(queries.start, queries.stop, device=device).unsqueeze(-1)
    k = torch.arange(keys.start, keys.stop, device=device)
    return k <= q + offset


def _tile(mask: Tensor, queries: slice | None, keys: slice | None) -> Tensor:
    """The ``[queries, keys]`` tile of a mask broadcastable to ``[..., query_pos, key_pos]``."""
    if queries is not None and mask.ndim >= 2 and mask.shape[-2] != 1:  # an axis of 1 broadcasts as it is
        mask = mask[..., queries, :]
    if keys is not None and mask.shape[-1] != 1:
        mask = mask[..., keys]
    return mask


def combined_mask(
    query_pos: int, key_pos: int, causal: bool, attn_mask: Tensor | None, device=None, *,
    queries: slice | None = None, keys: slice | None = None,
) -> Tensor | None:
    """The causal mask and a user mask combined (``None`` when nothing is masked).

    With ``queries``/``keys``, the ``[queries, keys]`` tile only (see :func:`causal_mask`).
    """
    mask = causal_mask(query_pos, key_pos, device=device, queries=queries, keys=keys) if causal else None
    if attn_mask is not None:
        if attn_mask.dtype != torch.bool:
            raise TypeError(f"attn_mask must be a bool tensor (True = may attend), got {attn_mask.dtype}")
        attn_mask = _tile(attn_mask, queries, keys)
        mask = attn_mask if mask is None else mask & attn_mask
    return mask
