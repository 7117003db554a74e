"""Chapter 2: attention, from one score to FlashAttention and the KV cache.

Fill in every ``raise NotImplementedError(...)`` below. Check each piece as
soon as it is written, in the notebook or a Python shell::

    from minigpt.grading import check
    check("ch02.attention_scores", attention_scores)

and grade the whole file with ``minigpt grade``. Shapes use minigpt's axis
names; the attention kernels work on ``[batch n_heads pos d_head]``
tensors (``q: [batch n_heads query_pos d_head]``, ``k, v: [batch n_heads
key_pos d_head]``), as every kernel of :mod:`minigpt.attention` does.

Later pieces may call earlier ones (``tiled_attention`` can use
``online_softmax_step``; ``kv_cache_step`` can use
``attention_scores`` and ``softmax_stable``). When grading, each piece is run
with the reference versions of the pieces it uses, so one bug costs the
points of one exercise only.
"""

from __future__ import annotations

import math  # noqa: F401  (yours to use)

import einops
import torch
from torch import Tensor

# ---------------------------------------------------------------------------
# Scores, the causal mask, the softmax
# ---------------------------------------------------------------------------


def attention_scores(q: Tensor, k: Tensor, scale: float | None = None) -> Tensor:
    """How much each query "matches" each key: ``scores[..., i, j] = scale * q[..., i, :] . k[..., j, :]``.

    ``q: [batch n_heads query_pos d_head]``, ``k: [batch n_heads key_pos d_head]``
    -> ``[batch n_heads query_pos key_pos]`` (any leading axes).

    ``scale`` defaults to ``1 / sqrt(d_head)``; a ``scale`` that is given is used as it is.

    >>> q = torch.tensor([[[[1.0, 0.0], [0.0, 2.0]]]])                 # 2 queries, d_head = 2
    >>> k = torch.tensor([[[[1.0, 1.0], [0.0, 1.0], [3.0, 0.0]]]])     # 3 keys
    >>> attention_scores(q, k, scale=1.0)
    tensor([[[[1., 0., 3.],
              [2., 2., 0.]]]])
    >>> attention_scores(q, k)[0, 0, 0]                               # scaled by 1 / sqrt(2)
    tensor([0.7071, 0.0000, 2.1213])
    """
    raise NotImplementedError("einops.einsum(q, k, \"... query_pos d_head, ... key_pos d_head -> ... query_pos key_pos\"), times the scale")


def causal_mask(query_pos: int, key_pos: int, device=None) -> Tensor:
    """Boolean ``[query_pos, key_pos]``: ``True`` where the query may attend to the key.

    A query sees its own position and every earlier one. The queries are the
    *last* ``query_pos`` positions of the sequence (with a KV cache, the keys
    of earlier positions are already there): query ``i`` sits at position
    ``key_pos - query_pos + i``. This is the convention of every minigpt kernel.

    >>> causal_mask(3, 3).int()
    tensor([[1, 0, 0],
            [1, 1, 0],
            [1, 1, 1]], dtype=torch.int32)
    >>> causal_mask(2, 4).int()                       # 2 new queries at positions 2 and 3
    tensor([[1, 1, 1, 0],
            [1, 1, 1, 1]], dtype=torch.int32)
    """
    raise NotImplementedError("torch.ones(query_pos, key_pos, dtype=torch.bool).tril(diagonal=...), shifted by key_pos - query_pos")


def softmax_stable(scores: Tensor) -> Tensor:
    """Softmax over the last axis (the keys) that never overflows: ``exp(s - max) / sum exp(s - max)``.

    ``scores: [..., key_pos]`` -> the same shape; each row sums to 1.

    ``exp`` overflows float32 above ``88.7``, so ``exp(s) / sum(exp(s))`` gives
    ``inf / inf = nan`` on large scores. Subtracting each row's maximum first
    changes nothing mathematically (the factor ``exp(-max)`` cancels) and keeps
    every exponent ``<= 0``. Masked entries are ``-inf`` and get weight exactly
    0; every row has at least one finite score.

    >>> softmax_stable(torch.tensor([[1000.0, 1000.0, 999.0], [0.0, math.log(3.0), float("-inf")]]))
    tensor([[0.4223, 0.4223, 0.1554],
            [0.2500, 0.7500, 0.0000]])
    """
    raise NotImplementedError("subtract scores.amax(dim=-1, keepdim=True) (each row's own maximum), exponentiate, divide by the row sum")


def pattern_entropy(pattern: Tensor) -> Tensor:
    """The entropy of each query's attention, in nats: ``-sum_k p_k log p_k`` over the keys.

    ``pattern: [..., query_pos, key_pos]`` (rows sum to 1) -> ``[..., query_pos]``.

    0 for a query that puts all its weight on one key; ``log(n)`` for uniform
    attention over ``n`` keys. A weight of exactly 0 (a masked key) adds
    nothing: ``0 log 0 = 0`` (the limit), although ``0 * log(0)`` is ``nan`` in floating point.

    >>> pattern_entropy(torch.tensor([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5], [1 / 3, 1 / 3, 1 / 3]]))
    tensor([0.6931, 1.0397, 1.0986])
    """
    raise NotImplementedError("torch.xlogy(p, p) is p * log(p) with 0 where p == 0; sum over the last axis and negate")


# ---------------------------------------------------------------------------
# Reading patterns: positional heads
# ---------------------------------------------------------------------------


def prev_token_score(pattern: Tensor) -> Tensor:
    """How much each head attends to the *previous* token: the mean of ``pattern[..., q, q - 1]``.

    ``pattern: [batch n_heads pos pos]`` (one layer's ``cache["pattern", layer]``)
    -> ``[n_heads]``: the average, over the batch and over the queries
    ``q = 1 .. pos-1`` (query 0 has no previous token), of the weight that
    query ``q`` puts on key ``q - 1``. A perfect previous-token head scores 1.

    >>> p = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])   # looks back one
    >>> prev_token_score(torch.stack([p, torch.eye(3)])[None])                  # 2 heads, batch 1
    tensor([1., 0.])
    """
    raise NotImplementedError("pattern.diagonal(offset=-1, dim1=-2, dim2=-1) is [batch n_heads pos-1]: the weights on key q-1")


# ---------------------------------------------------------------------------
# FlashAttention: tiles and the online softmax
# ---------------------------------------------------------------------------


def online_softmax_step(m: Tensor, l: Tensor, acc: Tensor, s: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """One tile of FlashAttention's inner loop: fold a block of keys into the running statistics.

    For each query (``...`` = ``batch n_heads query_pos``, the statistics have a trailing axis of 1):

    - ``m: [..., 1]``: the largest score seen so far (``-inf`` before any key);
    - ``l: [..., 1]``: ``sum_j exp(s_j - m)`` over the keys seen so far;
    - ``acc: [..., d_head]``: ``sum_j exp(s_j - m) v_j`` over the keys seen so far;
    - ``s: [..., block_k]``: this block's scores (masked keys are ``-inf``);
    - ``v: [batch n_heads block_k d_head]``: this block's values.

    Returns ``(m_new, l_new, acc_new)`` after the block. With ``m_new = max(m,
    max_j s_j)``, the old sums were taken relative to ``m``, so they are
    rescaled by ``exp(m - m_new)`` before the block's ``exp(s_j - m_new)`` terms
    are added. After the last block, ``acc / l`` is exactly ``softmax(s) @ v``.
    A query whose keys so far are *all* masked has ``m_new = -inf``: it must
    keep ``l = 0`` and ``acc = 0`` (no ``nan``): compute the exponentials
    relative to 0 instead of ``-inf`` for such rows.

    >>> m, l, acc = torch.tensor([[0.0]]), torch.tensor([[1.0]]), torch.tensor([[2.0]])   # one key seen: s=0, v=2
    >>> m, l, acc = online_softmax_step(m, l, acc, torch.tensor([[math.log(3.0)]]), torch.tensor([[4.0]]))
    >>> m, l, acc                                     # a new key: s = log 3, v = 4
    (tensor([[1.0986]]), tensor([[1.3333]]), tensor([[4.6667]]))
    >>> acc / l                                       # the softmax weights are 1/4 and 3/4: 2/4 + 3*4/4
    tensor([[3.5000]])
    """
    raise NotImplementedError("m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True)), with 0 in place of -inf before using it. p = exp(s - m_new); l_new = l * exp(m - m_new) + p.sum(-1, keepdim=True); acc_new likewise with p @ v.")


def tiled_attention(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True, scale: float | None = None,
                    attn_mask: Tensor | None = None, block_q: int = 32, block_k: int = 32) -> Tensor:
    """Attention computed tile by tile with an online softmax (FlashAttention's algorithm).

    The signature of every minigpt attention kernel (so that
    ``register_attention("mine")(tiled_attention)`` and ``model.set_attention("mine")``
    run a whole model on it), plus the tile sizes:

    - ``q: [batch n_heads query_pos d_head]``, ``k, v: [batch n_heads key_pos d_head]``
      -> ``z: [batch n_heads query_pos d_head]``, equal to ``softmax(mask(q k^T * scale)) @ v``;
    - ``causal``: the mask of :func:`causal_mask`, aligned to the *end* of the keys
      (query ``i`` sits at position ``key_pos - query_pos + i``);
    - ``scale``: defaults to ``1 / sqrt(d_head)``;
    - ``attn_mask``: an optional boolean mask broadcastable to
      ``[batch n_heads query_pos key_pos]`` (``True`` = may attend), combined with the causal one;
    - ``block_q``, ``block_k``: the tile sizes; the lengths need not be multiples of them.

    Never build a ``[query_pos, key_pos]`` matrix, not even the causal mask:
    for each block of queries, start from ``m = -inf, l = 0, acc = 0``, fold in
    one block of keys at a time with :func:`online_softmax_step` (the tile's
    scores, with ``-inf`` where the tile's mask hides a key), and finish with
    ``acc / l``. A query with no visible key at all (every key masked) gets
    zeros, as in the ``naive`` kernel.

    >>> q, k, v = torch.randn(3, 1, 2, 5, 4).unbind(0)           # batch 1, 2 heads, 5 positions
    >>> from minigpt.attention import naive_attention
    >>> torch.allclose(tiled_attention(q, k, v, block_q=2, block_k=3), naive_attention(q, k, v), atol=1e-6)
    True
    """
    raise NotImplementedError("Two loops: for q0 in range(0, query_pos, block_q), then for k0 in range(0, key_pos, block_k). The tile's causal mask from positions (torch.arange): key k0 + j is hidden from query q0 + i when k0 + j > key_pos - query_pos + q0 + i. Slice attn_mask like the scores. Finish each block of queries with acc / l, and 0 where l == 0.")


# ---------------------------------------------------------------------------
# The KV cache, from the attention side
# ---------------------------------------------------------------------------


def kv_cache_step(q: Tensor, k_new: Tensor, v_new: Tensor, k_cache: Tensor, v_cache: Tensor,
                  scale: float | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Attention for one new token, reusing the keys and values of all earlier tokens.

    ``q, k_new, v_new: [batch n_heads 1 d_head]``: the new token's query, key and value;
    ``k_cache, v_cache: [batch n_heads past d_head]``: the keys and values of the
    ``past`` earlier tokens (``past`` may be 0).

    Returns ``(z, k_cache, v_cache)``: ``z: [batch n_heads 1 d_head]``, the new
    token's attention output over *all* ``past + 1`` keys (its own included),
    and the caches with the new key and value appended at the end
    (``[batch n_heads past+1 d_head]``), ready for the next step. ``scale``
    defaults to ``1 / sqrt(d_head)``. The newest token may look at every key,
    so no mask is needed.

    >>> q = k = torch.zeros(1, 1, 1, 2)
    >>> z, kc, vc = kv_cache_step(q, k, torch.tensor([[[[3.0, 0.0]]]]), torch.zeros(1, 1, 1, 2),
    ...                           torch.tensor([[[[1.0, 1.0]]]]))
    >>> z, kc.shape                                 # equal scores: the mean of the two values
    (tensor([[[[2.0000, 0.5000]]]]), torch.Size([1, 1, 2, 2]))
    """
    raise NotImplementedError("torch.cat([k_cache, k_new], dim=-2) (and the same for v) first, then scores, softmax and @ v")
