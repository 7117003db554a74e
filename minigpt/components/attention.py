"""Multi-head causal self-attention with per-head weights.

Shapes (TransformerLens's): ``W_Q, W_K, W_V: [n_heads, d_model, d_head]``,
``W_O: [n_heads, d_head, d_model]``, ``b_Q, b_K, b_V: [n_heads, d_head]``,
``b_O: [d_model]``. Hooked activations: ``hook_q/k/v/z: [batch pos n_heads
d_head]``, ``hook_attn_scores/hook_pattern: [batch n_heads query_pos key_pos]``,
``hook_result: [batch pos n_heads d_model]``.

The score-and-softmax step runs in a kernel from :mod:`minigpt.attention`.
Only ``naive`` materialises the pattern, so whenever a hook sits on
``hook_attn_scores`` or ``hook_pattern`` this module computes them the naive
way, whatever kernel is selected; the answer is the same.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..attention import get_attention
from ..attention.masks import causal_mask
from ..attention.naive import apply_pattern, attention_scores, softmax_keys
from ..config import GPTConfig
from ..functional import linear, stored_parameter
from ..hooks import HookPoint


def per_head_result(z: Tensor, W_O: Tensor) -> Tensor:
    """What each head writes to the residual: ``z_h @ W_O[h]``, ``[batch pos n_heads d_model]``.

    One batched GEMM over heads (``[n_heads, batch*pos, d_head] @ [n_heads, d_head, d_model]``),
    returned as a view in the hook's axis order. Summed over heads (plus ``b_O``) it is ``attn_out``.
    """
    batch, pos, h, e = z.shape
    per_head = torch.bmm(z.reshape(batch * pos, h, e).transpose(0, 1), W_O)  # [n_heads batch*pos d_model]
    return per_head.transpose(0, 1).unflatten(0, (batch, pos))


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig, kernel: str = "sdpa") -> None:
        super().__init__()
        self.cfg = cfg
        h, d, e = cfg.n_heads, cfg.d_model, cfg.d_head
        # Stored as nn.Linear weights ([d_out, d_in]); shown in TransformerLens's shapes.
        self.W_Q = stored_parameter((h, e, d), (0, 2, 1))  # [n_heads d_model d_head]
        self.W_K = stored_parameter((h, e, d), (0, 2, 1))
        self.W_V = stored_parameter((h, e, d), (0, 2, 1))
        self.W_O = stored_parameter((d, h, e), (1, 2, 0))  # [n_heads d_head d_model]
        self.b_Q = nn.Parameter(torch.zeros(h, e))
        self.b_K = nn.Parameter(torch.zeros(h, e))
        self.b_V = nn.Parameter(torch.zeros(h, e))
        self.b_O = nn.Parameter(torch.zeros(d))
        for name in ("q", "k", "v", "attn_scores", "pattern", "z", "result"):
            setattr(self, f"hook_{name}", HookPoint())
        self.set_kernel(kernel)

    def set_kernel(self, name: str) -> None:
        self.kernel_name = name
        self.kernel = get_attention(name)

    def _project(self, x: Tensor, W: Tensor, b: Tensor) -> Tensor:
        """``[batch pos d_model] -> [batch pos n_heads d_head]``: all heads in one GEMM."""
        h, d, e = W.shape
        weight = W.transpose(1, 2).reshape(h * e, d)  # [n_heads*d_head d_model], a view
        return linear(x, weight, b.reshape(h * e)).unflatten(-1, (h, e))

    def forward(self, x: Tensor, kv_cache=None, layer: int = 0) -> Tensor:
        """``x: [batch pos d_model] -> [batch pos d_model]``."""
        q = self.hook_q(self._project(x, self.W_Q, self.b_Q))
        k = self.hook_k(self._project(x, self.W_K, self.b_K))
        v = self.hook_v(self._project(x, self.W_V, self.b_V))
        # The kernels take [batch n_heads pos d_head] (a free transpose of the above).
        q_, k_, v_ = (t.transpose(1, 2) for t in (q, k, v))
        cache_mask = None
        if kv_cache is not None:
            k_, v_ = kv_cache.update(layer, k_, v_)  # all keys/values so far
            cache_mask = getattr(kv_cache, "attn_mask", None)  # a static cache masks its empty slots
        scale = 1.0 / self.cfg.attn_scale
        if self.hook_attn_scores.has_hooks or self.hook_pattern.has_hooks:
            mask = causal_mask(q_.shape[-2], k_.shape[-2], device=x.device) if cache_mask is None else cache_mask
            scores = attention_scores(q_, k_, scale).masked_fill_(~mask, float("-inf"))
            scores = self.hook_attn_scores(scores)  # [batch n_heads query_pos key_pos]
            pattern = self.hook_pattern(softmax_keys(scores))
            z = apply_pattern(pattern, v_)
        else:
            z = self.kernel(q_, k_, v_, causal=cache_mask is None, scale=scale, attn_mask=cache_mask)
        z = self.hook_z(z.transpose(1, 2))  # [batch pos n_heads d_head]
        if self.hook_result.has_hooks:
            return self.hook_result(per_head_result(z, self.W_O)).sum(dim=2) + self.b_O
        h, e, d = self.W_O.shape
        weight = self.W_O.permute(2, 0, 1).reshape(d, h * e)  # [d_model n_heads*d_head], a view
        return linear(z.reshape(*z.shape[:2], h * e), weight, self.b_O)
