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

import einops
import torch
from torch import Tensor, nn

from ..attention import get_attention
from ..attention.masks import combined_mask
from ..attention.naive import apply_pattern, attention_scores, masked_softmax
from ..config import GPTConfig
from ..functional import linear
from ..hooks import HookPoint


def _per_head_weight(n_heads: int, d_model: int, d_head: int) -> nn.Parameter:
    """An ``[n_heads, d_model, d_head]`` parameter laid out in memory as ``[d_model, n_heads, d_head]``.

    The layout makes ``W.transpose(0, 1).reshape(d_model, n_heads * d_head)`` a free view,
    so Q, K and V each take one GEMM for all heads (and match GPT-2's ``c_attn`` layout).
    """
    return nn.Parameter(torch.empty(d_model, n_heads, d_head).transpose(0, 1))


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig, kernel: str = "sdpa") -> None:
        super().__init__()
        self.cfg = cfg
        h, d, e = cfg.n_heads, cfg.d_model, cfg.d_head
        self.W_Q = _per_head_weight(h, d, e)
        self.W_K = _per_head_weight(h, d, e)
        self.W_V = _per_head_weight(h, d, e)
        self.W_O = nn.Parameter(torch.empty(h, e, d))
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
        """``[batch pos d_model] -> [batch pos n_heads d_head]`` in one GEMM."""
        h, d, e = W.shape
        W_flat = W.transpose(0, 1).reshape(d, h * e)
        return linear(x, W_flat, b.reshape(h * e)).unflatten(-1, (h, e))

    def forward(self, x: Tensor, kv_cache=None, layer: int = 0) -> Tensor:
        """``x: [batch pos d_model] -> [batch pos d_model]``."""
        q = self.hook_q(self._project(x, self.W_Q, self.b_Q))
        k = self.hook_k(self._project(x, self.W_K, self.b_K))
        v = self.hook_v(self._project(x, self.W_V, self.b_V))
        # The kernels take [batch n_heads pos d_head] (a free transpose of the above).
        q_, k_, v_ = (t.transpose(1, 2) for t in (q, k, v))
        if kv_cache is not None:
            k_, v_ = kv_cache.update(layer, k_, v_)  # all keys/values so far
        scale = 1.0 / self.cfg.attn_scale
        if self.hook_attn_scores.has_hooks or self.hook_pattern.has_hooks:
            mask = combined_mask(q_.shape[-2], k_.shape[-2], True, None, device=x.device)
            scores = attention_scores(q_, k_, scale).masked_fill(~mask, float("-inf"))
            scores = self.hook_attn_scores(scores)
            pattern = self.hook_pattern(masked_softmax(scores, mask))
            z = apply_pattern(pattern, v_)
        else:
            z = self.kernel(q_, k_, v_, causal=True, scale=scale)
        z = self.hook_z(z.transpose(1, 2))  # [batch pos n_heads d_head]
        if self.hook_result.has_hooks:
            result = einops.einsum(
                z, self.W_O, "batch pos n_heads d_head, n_heads d_head d_model -> batch pos n_heads d_model"
            )
            return self.hook_result(result).sum(dim=2) + self.b_O
        h, e, d = self.W_O.shape
        return linear(z.reshape(*z.shape[:2], h * e), self.W_O.reshape(h * e, d), self.b_O)
