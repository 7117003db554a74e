"""FlashAttention's algorithm in plain PyTorch: tiles of keys and an online softmax.

Softmax needs the maximum and the sum over *all* keys, yet FlashAttention never
holds a whole row of scores. It walks over blocks of keys and keeps, per query,
a running maximum ``m``, a running normaliser ``l`` and a running output
``acc``. When a new block raises the maximum from ``m`` to ``m'``, everything
accumulated so far is rescaled by ``exp(m - m')``:

    l'   = l   * exp(m - m') + sum_j exp(s_j - m')
    acc' = acc * exp(m - m') + sum_j exp(s_j - m') v_j

and at the end ``z = acc / l``. Hand-check with one query, scores [0, 1] in two
blocks of one key: after block 1, m=0, l=1, acc=v0; after block 2, m'=1,
l = e^-1 + 1, acc = e^-1 v0 + v1, so z = (v0 + e v1) / (1 + e): the softmax.

The same hand-check, run (blocks of one key, scale 1, so the scores are
``q·k = [0, 1]``; values 0 and 1, so ``z`` is the weight of key 1):

>>> q, k, v = torch.tensor([[[[1.0]]]]), torch.tensor([[[[0.0], [1.0]]]]), torch.tensor([[[[0.0], [1.0]]]])
>>> round(online_softmax_attention(q, k, v, causal=False, scale=1.0, block_k=1).item(), 4)  # e / (1 + e)
0.7311

Memory is O(T): besides the output, only one tile of scores ``[block_q,
block_k]`` lives at a time, and so does the mask: each tile builds its own
(``masks.causal_mask(..., queries=, keys=)``), never the whole ``[query_pos,
key_pos]`` matrix (at 8,192 positions a full boolean mask alone is 64 MiB;
``benchmarks/attention_memory.py`` measures it); a caller's ``attn_mask`` is
read a tile at a time too. Under a causal mask, tiles of
keys that no query of the block can see are skipped entirely, and tiles wholly
below the diagonal need no mask at all. On a GPU, FlashAttention's point is to
never write the score matrix to memory; here the kernel teaches the idea and
is held equal to ``naive`` by the tests.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .masks import check_causal, combined_mask
from .registry import register_attention

BLOCK_Q = 64
BLOCK_K = 64


def online_softmax_attention(
    q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True, scale: float | None = None,
    attn_mask: Tensor | None = None, block_q: int = BLOCK_Q, block_k: int = BLOCK_K,
) -> Tensor:
    """Tiled attention with an online softmax; equal to ``naive`` up to rounding."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    query_pos, key_pos = q.shape[-2], k.shape[-2]
    if causal:
        check_causal(query_pos, key_pos)
    offset = key_pos - query_pos  # absolute position of query 0
    compute = torch.promote_types(q.dtype, torch.float32)  # statistics in fp32 at least
    out_blocks = []
    for q0 in range(0, query_pos, block_q):
        q1 = min(q0 + block_q, query_pos)
        q_blk = q[..., q0:q1, :].to(compute)  # [batch n_heads block_q d_head]
        m = q_blk.new_full(q_blk.shape[:-1] + (1,), float("-inf"))  # running max
        l = q_blk.new_zeros(q_blk.shape[:-1] + (1,))  # running normaliser
        acc = q_blk.new_zeros(q_blk.shape[:-1] + (v.shape[-1],))  # running output
        last_key = min(offset + q1, key_pos) if causal else key_pos  # keys beyond are hidden from every query here
        for k0 in range(0, last_key, block_k):
            k1 = min(k0 + block_k, key_pos)
            k_blk = k[..., k0:k1, :].to(compute)  # [batch n_heads block_k d_head]
            v_blk = v[..., k0:k1, :].to(compute)
            s = (q_blk @ k_blk.transpose(-1, -2)) * scale  # [batch n_heads block_q block_k]
            # This tile's mask only. Below the diagonal (its last key at or before its first
            # query's position) every key is visible: no causal mask to build there.
            straddles_diagonal = causal and k1 - 1 > offset + q0
            mask = combined_mask(query_pos, key_pos, straddles_diagonal, attn_mask, device=q.device,
                                 queries=slice(q0, q1), keys=slice(k0, k1))
            if mask is not None:
                s = s.masked_fill(~mask, float("-inf"))
            m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))
            # A row that has seen only masked keys keeps m = -inf; use 0 there to avoid NaN.
            m_safe = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)
            p = torch.exp(s - m_safe)
            rescale = torch.exp(m - m_safe)
            l = l * rescale + p.sum(dim=-1, keepdim=True)
            acc = acc * rescale + p @ v_blk
            m = m_new
        out_blocks.append(acc / l.clamp_min(torch.finfo(compute).tiny))
    return torch.cat(out_blocks, dim=-2).to(q.dtype)


register_attention("online", description="FlashAttention's tiled online softmax in plain PyTorch")(
    online_softmax_attention
)
