"""The readable reference: scores, mask, softmax, weighted sum of values.

One query, two keys with scores ``q·k = 0`` and ``ln 3``: the softmax gives
them weights ``1 / (1 + 3)`` and ``3 / (1 + 3)``, and ``z`` is that average of
the values:

>>> q = torch.tensor([[[[1.0]]]])                              # [batch n_heads query_pos d_head]
>>> k = torch.tensor([1.0, 3.0]).log().reshape(1, 1, 2, 1)    # [batch n_heads key_pos d_head]: 0, ln 3
>>> v = torch.tensor([[[[4.0], [8.0]]]])                       # [batch n_heads key_pos d_head]
>>> scores, pattern = naive_scores_and_pattern(q, k, causal=False, scale=1.0)
>>> pattern                                                    # [batch n_heads query_pos key_pos]
tensor([[[[0.2500, 0.7500]]]])
>>> round(naive_attention(q, k, v, causal=False, scale=1.0).item(), 4)  # 4 / 4 + 8 * 3 / 4
7.0

With the causal mask a query sees only the keys up to its own position: the
first of two queries takes value 0 alone; the second, with equal scores,
averages both values.

>>> naive_attention(torch.ones(1, 1, 2, 1), torch.ones(1, 1, 2, 1), v, scale=1.0).flatten()
tensor([4., 6.])
"""

from __future__ import annotations

import einops
import torch
from torch import Tensor

from .masks import combined_mask
from .registry import register_attention


def attention_scores(q: Tensor, k: Tensor, scale: float) -> Tensor:
    """``[batch, n_heads, query_pos, key_pos]`` scores ``q·k * scale``.

    The scale is applied to ``q`` (``pos * d_head`` numbers) rather than to the
    scores (``pos * pos`` numbers): the same product, less work.
    """
    return einops.einsum(
        q * scale, k,
        "batch n_heads query_pos d_head, batch n_heads key_pos d_head -> batch n_heads query_pos key_pos",
    )


def softmax_keys(scores: Tensor) -> Tensor:
    """Softmax over keys, computed in fp32 at least so half precision stays accurate."""
    compute_dtype = torch.promote_types(scores.dtype, torch.float32)
    return scores.to(compute_dtype).softmax(dim=-1).to(scores.dtype)


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the keys the mask allows (``True`` = may attend).

    Masked entries get ``-inf`` (exactly zero weight). A query row with no key
    left gives zeros rather than NaN.
    """
    if mask is None:
        return softmax_keys(scores)
    pattern = softmax_keys(scores.masked_fill(~mask, float("-inf")))
    if torch.compiler.is_compiling():  # reading the mask's values would break the graph: always clean
        return pattern.nan_to_num(0.0)
    return pattern.nan_to_num(0.0) if not mask.any(dim=-1).all() else pattern


def naive_scores_and_pattern(q, k, *, causal=True, scale=None, attn_mask=None):
    """The scores (masked entries ``-inf``) and the pattern, as the model hooks them."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    mask = combined_mask(q.shape[-2], k.shape[-2], causal, attn_mask, device=q.device)
    scores = attention_scores(q, k, scale)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores, masked_softmax(scores, mask)


def apply_pattern(pattern: Tensor, v: Tensor) -> Tensor:
    """``z = pattern @ v``: each query's weighted average of the values."""
    return einops.einsum(
        pattern, v, "batch n_heads query_pos key_pos, batch n_heads key_pos d_head -> batch n_heads query_pos d_head"
    )


@register_attention("naive")
def naive_attention(q, k, v, *, causal=True, scale=None, attn_mask=None) -> Tensor:
    """Reference einsum attention; the only kernel that materialises the pattern."""
    _, pattern = naive_scores_and_pattern(q, k, causal=causal, scale=scale, attn_mask=attn_mask)
    return apply_pattern(pattern, v)
