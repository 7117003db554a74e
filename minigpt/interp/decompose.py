"""A head's queries and keys split by the component they read; its attention scores split by pair of components.

Block ``L`` reads a residual stream that is a sum of what the earlier components
wrote (:func:`~minigpt.interp.attribution.residual_stack` with ``layer=L``):
``x = Σ_c x_c``. A head reads it through its LayerNorm,
``LN(x) = (x - mean(x)) / scale * w + b``, with ``mean`` over ``d_model`` and
``scale = sqrt(var(x) + eps)``, one number per position. The mean is linear,
and the scale is held at the value the forward pass used
(``cache["blocks.{L}.ln1.hook_scale"]``), so with ``w`` and ``b`` folded into
``W_Q`` and ``b_Q`` (:func:`~minigpt.interp.circuits.analysis_model`):

    q = Σ_c ((x_c - mean(x_c)) / scale) @ W_Q  +  b_Q

one query part per component, and the bias; the keys split the same way. The
attention score is bilinear in the query and the key,

    score[i, j] = q[i] · k[j] / attn_scale = Σ_{c, c'} q_c[i] · k_c'[j] / attn_scale,

one term per (query part, key part) pair. Softmax ignores what is the same for
every key of a query, so the pairs whose terms *vary across keys* are the ones
that decide where the head looks. An induction head's decisive pair is its
query's token embedding against its key's previous-token-head output
(ARENA 1.2 and Elhage et al., 2021, do this decomposition on a model without
LayerNorm).

>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=2, d_model=16, n_heads=2, d_vocab=10, n_ctx=8, attn_only=True, seed=0))
>>> tokens = torch.tensor([[1, 2, 3, 1, 2]])
>>> _, cache = model.run_with_cache(tokens)
>>> q_parts, labels = decompose_qk(model, cache, layer=1, head=0, kind="q")
>>> labels, tuple(q_parts.shape)                     # [component batch pos d_head]
(['embed', 'pos_embed', 'L0H0', 'L0H1', 'bias'], (5, 1, 5, 8))
>>> torch.allclose(q_parts.sum(0), cache["q", 1][:, :, 0], atol=1e-5)
True
"""

from __future__ import annotations

import einops
import torch
from torch import Tensor

from .attribution import residual_stack
from .circuits import analysis_model

__all__ = ["decompose_attn_scores", "decompose_qk"]


@torch.no_grad()
def decompose_qk(model, cache, layer: int, head: int, kind: str = "q") -> tuple[Tensor, list[str]]:
    """Head ``head`` of ``layer``'s queries (``kind="q"``) or keys (``"k"``), one part per component it reads.

    Returns ``(parts, labels)``: ``parts: [n_components + 1, batch, pos, d_head]``,
    the components of :func:`residual_stack` ``(model, cache, layer)`` and last
    the bias (``"bias"``: ``b_Q`` or ``b_K`` with the LayerNorm's ``b`` folded
    in). The parts sum to ``cache["q", layer][:, :, head]`` (or ``"k"``).
    ``cache`` must hold what ``residual_stack`` needs and the layer's
    ``ln1.hook_scale`` when the model has LayerNorms.
    """
    if kind not in ("q", "k"):
        raise ValueError(f"kind must be 'q' or 'k', got {kind!r}")
    stack, labels = residual_stack(model, cache, layer)  # [component batch pos d_model]
    if model.cfg.normalization_type is not None:  # "LN" or "LNPre": centre, divide by the frozen scale
        stack = (stack - stack.mean(dim=-1, keepdim=True)) / cache[f"blocks.{layer}.ln1.hook_scale"]
    attn = analysis_model(model).blocks[layer].attn
    W, b = (attn.W_Q, attn.b_Q) if kind == "q" else (attn.W_K, attn.b_K)
    parts = stack @ W[head].detach()  # [component batch pos d_head]
    bias = b[head].detach().expand_as(parts[0])[None]
    return torch.cat([parts, bias]), labels + ["bias"]


def decompose_attn_scores(q_parts: Tensor, k_parts: Tensor, attn_scale: float) -> Tensor:
    """Attention scores split by (query part, key part): ``[n_q_parts, n_k_parts, batch, query_pos, key_pos]``.

    ``q_parts: [n_q_parts, batch, query_pos, d_head]`` and ``k_parts: [n_k_parts,
    batch, key_pos, d_head]`` (e.g. from :func:`decompose_qk`). Entry ``[c, c', b,
    i, j]`` is ``q_parts[c, b, i] · k_parts[c', b, j] / attn_scale``; the sum
    over both part axes is the head's scores before the causal mask.
    """
    scores = einops.einsum(q_parts, k_parts, "q_part batch query_pos d_head, k_part batch key_pos d_head "
                           "-> q_part k_part batch query_pos key_pos")
    return scores / attn_scale
