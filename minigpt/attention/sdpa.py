"""torch's fused ``scaled_dot_product_attention`` (flash / memory-efficient kernels on GPU)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .masks import combined_mask
from .registry import register_attention


@register_attention("sdpa")
def sdpa_attention(q, k, v, *, causal=True, scale=None, attn_mask=None) -> Tensor:
    """torch.nn.functional.scaled_dot_product_attention."""
    query_pos, key_pos = q.shape[-2], k.shape[-2]
    if attn_mask is None and (not causal or query_pos == key_pos or query_pos == 1):
        # sdpa's is_causal aligns the mask to the *start* of the keys, which equals our
        # end-aligned mask only for square scores; one query sees every key anyway.
        return F.scaled_dot_product_attention(
            q, k, v, is_causal=causal and query_pos == key_pos and query_pos > 1, scale=scale
        )
    mask = combined_mask(query_pos, key_pos, causal, attn_mask, device=q.device)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
