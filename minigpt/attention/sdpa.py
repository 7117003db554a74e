"""torch's fused ``scaled_dot_product_attention`` (flash / memory-efficient kernels on GPU).

On CUDA, torch picks FlashAttention-2 when it can (fp16/bf16, ``d_head <= 256``,
no explicit mask), then the memory-efficient kernel (any dtype, masks too),
and the plain maths only as a last resort. So this kernel hands sdpa its
masks in the form those kernels take: ``is_causal`` for square scores (the
training case: flash), no mask for a single query (decoding with a growing KV
cache), and torch's lower-right causal bias when a chunk of queries follows
cached keys on CUDA (the memory-efficient kernel; a dense mask there would force
the maths). Only user masks and the static KV cache's mask go in as tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .masks import combined_mask
from .registry import register_attention

try:
    from torch.nn.attention.bias import causal_lower_right
except ImportError:  # older torch: a dense mask instead
    causal_lower_right = None


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
    if (attn_mask is None and q.is_cuda and causal_lower_right is not None
            and not torch.compiler.is_compiling()):
        # end-aligned causal = torch's "lower right" variant, which the memory-efficient kernel runs
        return F.scaled_dot_product_attention(q, k, v, attn_mask=causal_lower_right(query_pos, key_pos), scale=scale)
    mask = combined_mask(query_pos, key_pos, causal, attn_mask, device=q.device)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
