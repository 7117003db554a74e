"""Multi-head causal self-attention with per-head weights.

Shapes (TransformerLens's): ``W_Q, W_K, W_V: [n_heads, d_model, d_head]``,
``W_O: [n_heads, d_head, d_model]``, ``b_Q, b_K, b_V: [n_heads, d_head]``,
``b_O: [d_model]``. Hooked activations: ``hook_q/k/v/z: [batch pos n_heads
d_head]``, ``hook_attn_scores/hook_pattern: [batch n_heads query_pos key_pos]``,
``hook_result: [batch pos n_heads d_model]``.

Split inputs (TransformerLens's ``use_split_qkv_input`` / ``use_attn_in``): the block
may hand in one residual copy per head, ``[batch pos n_heads d_model]``, and separate
ones for queries, keys and values; each head then projects its own copy
(:func:`project_per_head`), so a change to head 3's key input moves only head 3's keys.
With the usual ``[batch pos d_model]`` input, all heads share one GEMM.

The score-and-softmax step runs in a kernel from :mod:`minigpt.attention`.
Only ``naive`` materialises the pattern, so whenever a hook sits on
``hook_attn_scores`` or ``hook_pattern`` this module computes them the naive
way, whatever kernel is selected; the answer is the same.

A hand-checkable case: with ``W_Q = W_K = 0`` every score is 0, so each query
spreads its attention evenly over the keys it may see, and with ``W_V = W_O =
I`` the output at each position is the running mean of the inputs so far:

>>> from minigpt import GPTConfig
>>> attn = Attention(GPTConfig(d_model=2, n_heads=1, d_vocab=1, n_ctx=4))
>>> with torch.no_grad():
...     attn.W_Q[:], attn.W_K[:] = 0.0, 0.0
...     attn.W_V[:], attn.W_O[:] = torch.eye(2), torch.eye(2)  # biases start at 0
>>> attn(torch.tensor([[[1.0, 0.0], [3.0, 0.0], [5.0, 0.0]]])).detach().round(decimals=4)
tensor([[[1., 0.],
         [2., 0.],
         [3., 0.]]])
"""

from __future__ import annotations

import einops
import torch
from torch import Tensor, nn

from ..attention import get_attention
from ..attention.masks import causal_mask
from ..attention.naive import apply_pattern, attention_scores, softmax_keys
from ..config import GPTConfig
from ..functional import linear, stored_parameter
from ..hooks import HookPoint


def per_head_result(z: Tensor, W_O: Tensor) -> Tensor:
    """What each head writes to the residual, ``z[:, :, head] @ W_O[head]``: ``[batch pos n_heads d_model]``.

    One batched GEMM over heads. Summed over heads (plus ``b_O``) it is ``attn_out``.

    >>> z = torch.tensor([[[[1.0], [2.0]]]])                # [batch=1 pos=1 n_heads=2 d_head=1]
    >>> W_O = torch.tensor([[[1.0, 0.0]], [[0.0, 10.0]]])  # [n_heads=2 d_head=1 d_model=2]
    >>> per_head_result(z, W_O)                             # head 0 writes [1, 0]; head 1, 2 * [0, 10]
    tensor([[[[ 1.,  0.],
              [ 0., 20.]]]])
    """
    z_heads = einops.rearrange(z, "batch pos n_heads d_head -> n_heads (batch pos) d_head")
    per_head = torch.bmm(z_heads, W_O)  # [n_heads (batch pos) d_model]
    return einops.rearrange(per_head, "n_heads (batch pos) d_model -> batch pos n_heads d_model", batch=z.shape[0])


def project_per_head(x: Tensor, W: Tensor, b: Tensor) -> Tensor:
    """Each head reads its own input: ``x[:, :, head] @ W[head] + b[head]``, ``[batch pos n_heads d_head]``.

    ``x: [batch pos n_heads d_model]`` (split inputs), ``W: [n_heads d_model d_head]``,
    ``b: [n_heads d_head]``. With the same input copied to every head it equals the
    shared projection:

    >>> x = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])       # [batch=1 pos=1 n_heads=2 d_model=2]
    >>> W = torch.tensor([[[2.0], [0.0]], [[0.0], [3.0]]])    # [n_heads=2 d_model=2 d_head=1]
    >>> project_per_head(x, W, torch.zeros(2, 1))             # head 0 reads [1, 0], head 1 reads [0, 1]
    tensor([[[[2.],
              [3.]]]])
    """
    out = einops.einsum(x, W, "batch pos n_heads d_model, n_heads d_model d_head -> batch pos n_heads d_head")
    return out + b


class Attention(nn.Module):
    """Per head: ``q, k, v = x W_Q, x W_K, x W_V``; ``z = kernel(q, k, v)``; the output is ``sum_heads z W_O``."""

    def __init__(self, cfg: GPTConfig, kernel: str = "sdpa") -> None:
        super().__init__()
        self.cfg = cfg
        n_heads, d_model, d_head = cfg.n_heads, cfg.d_model, cfg.d_head
        # Stored as nn.Linear weights ([d_out, d_in]); shown in TransformerLens's shapes.
        self.W_Q = stored_parameter((n_heads, d_head, d_model), (0, 2, 1))  # [n_heads d_model d_head]
        self.W_K = stored_parameter((n_heads, d_head, d_model), (0, 2, 1))
        self.W_V = stored_parameter((n_heads, d_head, d_model), (0, 2, 1))
        self.W_O = stored_parameter((d_model, n_heads, d_head), (1, 2, 0))  # [n_heads d_head d_model]
        self.b_Q = nn.Parameter(torch.zeros(n_heads, d_head))
        self.b_K = nn.Parameter(torch.zeros(n_heads, d_head))
        self.b_V = nn.Parameter(torch.zeros(n_heads, d_head))
        self.b_O = nn.Parameter(torch.zeros(d_model))
        for name in ("q", "k", "v", "attn_scores", "pattern", "z", "result"):
            setattr(self, f"hook_{name}", HookPoint())
        self.set_kernel(kernel)

    def set_kernel(self, name: str) -> None:
        self.kernel_name = name
        self.kernel = get_attention(name)

    def _project(self, x: Tensor, W: Tensor, b: Tensor) -> Tensor:
        """``[batch pos d_model] -> [batch pos n_heads d_head]``: all heads in one GEMM.

        Raw views rather than einops here: this runs three times per layer on every forward.
        A per-head input, ``[batch pos n_heads d_model]``, goes to :func:`project_per_head`.
        """
        if x.ndim == 4:
            return project_per_head(x, W, b)
        n_heads, d_model, d_head = W.shape
        weight = W.transpose(1, 2).reshape(n_heads * d_head, d_model)  # [(n_heads d_head) d_model], a view
        out = linear(x, weight, b.reshape(n_heads * d_head))  # [batch pos (n_heads d_head)]
        return out.unflatten(-1, (n_heads, d_head))  # [batch pos n_heads d_head]

    def forward(
        self, x: Tensor, kv_cache=None, layer: int = 0, *, key_input: Tensor | None = None,
        value_input: Tensor | None = None,
    ) -> Tensor:
        """``x: [batch pos d_model] -> [batch pos d_model]``.

        ``x`` is the query input; keys and values read it too unless ``key_input`` /
        ``value_input`` are given. Each may be ``[batch pos n_heads d_model]``, one
        input per head (split inputs).
        """
        key_input = x if key_input is None else key_input
        value_input = x if value_input is None else value_input
        q = self.hook_q(self._project(x, self.W_Q, self.b_Q))
        k = self.hook_k(self._project(key_input, self.W_K, self.b_K))
        v = self.hook_v(self._project(value_input, self.W_V, self.b_V))
        # The kernels take [batch n_heads pos d_head]: a free transpose of the above.
        q_, k_, v_ = (t.transpose(1, 2) for t in (q, k, v))  # [batch n_heads pos d_head]
        cache_mask = None
        if kv_cache is not None:
            k_, v_ = kv_cache.update(layer, k_, v_)  # all keys/values so far
            cache_mask = getattr(kv_cache, "attn_mask", None)  # a static cache masks its empty slots
        scale = 1.0 / self.cfg.attn_scale
        if self.hook_attn_scores.has_hooks or self.hook_pattern.has_hooks:
            mask = causal_mask(q_.shape[-2], k_.shape[-2], device=q_.device) if cache_mask is None else cache_mask
            scores = attention_scores(q_, k_, scale).masked_fill_(~mask, float("-inf"))
            scores = self.hook_attn_scores(scores)  # [batch n_heads query_pos key_pos]
            pattern = self.hook_pattern(softmax_keys(scores))
            z = apply_pattern(pattern, v_)
        else:
            z = self.kernel(q_, k_, v_, causal=cache_mask is None, scale=scale, attn_mask=cache_mask)
        z = self.hook_z(z.transpose(1, 2))  # [batch pos n_heads d_head]
        if self.hook_result.has_hooks:
            return self.hook_result(per_head_result(z, self.W_O)).sum(dim=2) + self.b_O
        n_heads, d_head, d_model = self.W_O.shape
        weight = self.W_O.permute(2, 0, 1).reshape(d_model, n_heads * d_head)  # [d_model (n_heads d_head)], a view
        z_flat = z.reshape(*z.shape[:2], n_heads * d_head)  # [batch pos (n_heads d_head)]
        return linear(z_flat, weight, self.b_O)  # [batch pos d_model]
