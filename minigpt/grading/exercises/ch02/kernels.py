"""Chapter 2 checks: FlashAttention's online softmax, a tiled kernel, one step of a KV cache."""

from __future__ import annotations

import torch
from torch import Tensor

from ...registry import Case, Mutant
from .._shared import INF, _causal, _randn
from ._common import register_exercise

# ---------------------------------------------------------------------------
# online_softmax_step
# ---------------------------------------------------------------------------


def online_step_cases() -> list[Case]:
    g = torch.Generator().manual_seed(206)
    # the first tile: nothing seen yet; some keys masked, one query with every key of the tile masked
    s1 = _randn(g, 2, 2, 3, 4, scale=2.0)
    s1[0, 1, 2] = -INF
    s1[1, 0, 0, 1:] = -INF
    first = dict(m=torch.full((2, 2, 3, 1), -INF), l=torch.zeros(2, 2, 3, 1), acc=torch.zeros(2, 2, 3, 3),
                 s=s1, v=_randn(g, 2, 2, 4, 3))
    # a later tile: the maximum grows for some queries and not for others; one query has seen only
    # masked keys so far (m = -inf, l = 0, acc = 0), another sees only masked keys in this tile
    m2 = _randn(g, 2, 1, 4, 1, scale=2.0, shift=1.0)
    l2 = 1.0 + _randn(g, 2, 1, 4, 1).abs() * 2
    acc2 = _randn(g, 2, 1, 4, 5)
    m2[1, 0, 3], l2[1, 0, 3], acc2[1, 0, 3] = -INF, 0.0, 0.0
    s2 = _randn(g, 2, 1, 4, 6, scale=2.0)
    s2[0, 0, 1] = -INF
    later = dict(m=m2, l=l2, acc=acc2, s=s2, v=_randn(g, 2, 1, 6, 5))
    m3 = _randn(g, 1, 3, 2, 1)
    third = dict(m=m3, l=1.0 + _randn(g, 1, 3, 2, 1).abs(), acc=_randn(g, 1, 3, 2, 4),
                 s=_randn(g, 1, 3, 2, 5, scale=1.5, shift=0.5), v=_randn(g, 1, 3, 5, 4))
    return [first, later, third]


def _safe(x: Tensor) -> Tensor:
    return torch.where(torch.isinf(x), torch.zeros_like(x), x)


def _step(m, l, acc, s, v, mistake=""):
    m_new = s.amax(dim=-1, keepdim=True) if mistake == "max-forgotten" else torch.maximum(m, s.amax(-1, keepdim=True))
    m_ref = m_new if mistake == "no-guard" else _safe(m_new)
    p = (s - (_safe(m) if mistake == "stale-max" else m_ref)).exp()
    rescale = {"inverted-rescale": (m_ref - m).exp(), "no-rescale": torch.ones_like(m)}.get(mistake, (m - m_ref).exp())
    acc_scale = torch.ones_like(m) if mistake == "acc-not-rescaled" else rescale
    return m_new, l * rescale + p.sum(dim=-1, keepdim=True), acc * acc_scale + p @ v


def _step_mutant(mistake: str):
    def wrong(m, l, acc, s, v):
        return _step(m, l, acc, s, v, mistake)

    wrong.__name__ = f"online_softmax_step_{mistake.replace('-', '_')}"
    return wrong


register_exercise(
    id="ch02.online_softmax_step", name="online_softmax_step",
    title="One step of the online softmax", points=2, difficulty=2,
    hints=["m_new = max(m, this block's max); everything accumulated so far was relative to m, so multiply l and "
           "acc by exp(m - m_new) before adding the block's exp(s - m_new) terms.",
           "Where m_new is -inf (every key so far masked) use 0 in its place: exp(-inf - 0) = 0, no nan.",
           "acc gets p @ v with p = exp(s - m_new): [..., q, block_k] @ [..., block_k, d_head]."],
    make_cases=online_step_cases,
    mutants=[
        Mutant("no-rescale", "l and acc are not rescaled when the maximum grows: multiply both by "
               "exp(m - m_new) before adding the new block's terms.", _step_mutant("no-rescale")),
        Mutant("acc-not-rescaled", "l is rescaled but acc is not: the running output must be multiplied by "
               "exp(m - m_new) too.", _step_mutant("acc-not-rescaled")),
        Mutant("inverted-rescale", "the rescaling factor is inverted: the old sums were relative to m, so "
               "they are multiplied by exp(m - m_new) (<= 1), not exp(m_new - m).",
               _step_mutant("inverted-rescale")),
        Mutant("no-guard", "a query whose keys so far are all masked has m_new = -inf, and -inf - (-inf) is "
               "nan: compute the exponentials relative to 0 for those rows "
               "(torch.where(torch.isinf(m_new), 0, m_new)).", _step_mutant("no-guard")),
        Mutant("stale-max", "the block's exponentials use the old maximum m; compute the new maximum first "
               "and use p = exp(s - m_new).", _step_mutant("stale-max")),
        Mutant("max-forgotten", "the new maximum forgets the old one: m_new = max(m, block max), the largest "
               "score seen so far, not just in this block.", _step_mutant("max-forgotten")),
    ],
)


# ---------------------------------------------------------------------------
# tiled_attention
# ---------------------------------------------------------------------------


def tiled_cases() -> list[Case]:
    g = torch.Generator().manual_seed(207)

    def qkv(b, h, tq, tk, d):
        return dict(q=_randn(g, b, h, tq, d, scale=1.5), k=_randn(g, b, h, tk, d, scale=1.5), v=_randn(g, b, h, tk, d))

    padding = torch.ones(2, 1, 1, 9, dtype=torch.bool)
    padding[1, ..., 6:] = False  # the second sequence is 6 tokens long: its last 3 keys are padding
    left_padding = torch.ones(2, 1, 1, 7, dtype=torch.bool)
    left_padding[1, ..., :2] = False  # the second sequence starts at position 2: queries 0, 1 see nothing
    return [
        dict(**qkv(2, 2, 11, 11, 4), causal=True, scale=None, attn_mask=None, block_q=4, block_k=3),
        dict(**qkv(1, 3, 5, 13, 8), causal=True, scale=0.3, attn_mask=None, block_q=4, block_k=4),
        dict(**qkv(2, 2, 9, 9, 4), causal=False, scale=None, attn_mask=padding, block_q=8, block_k=5),
        dict(**qkv(2, 1, 7, 7, 3), causal=True, scale=None, attn_mask=left_padding, block_q=3, block_k=2),
    ]


def _tiled(q, k, v, causal=True, scale=None, attn_mask=None, block_q=32, block_k=32, mistake=""):
    """A plain tiled kernel (no tile skipping) that can make one mistake."""
    if scale is None or mistake == "scale-ignored":
        scale = q.shape[-1] ** -0.5
    query_pos, key_pos = q.shape[-2], k.shape[-2]
    mask = None
    if causal or mistake == "always-causal":
        mask = torch.ones(query_pos, key_pos, dtype=torch.bool).tril(0) if mistake == "top-left" else \
            _causal(query_pos, key_pos)
    if attn_mask is not None and mistake != "mask-ignored":
        mask = attn_mask if mask is None else mask & attn_mask
    if mask is not None:
        mask = torch.broadcast_to(mask, torch.broadcast_shapes(mask.shape, (query_pos, key_pos)))
    last_key = key_pos - key_pos % block_k if mistake == "tail-dropped" else key_pos
    out = []
    for q0 in range(0, query_pos, block_q):
        q_blk = q[..., q0 : q0 + block_q, :]
        m = q_blk.new_full((*q_blk.shape[:-1], 1), -INF)
        l = q_blk.new_zeros((*q_blk.shape[:-1], 1))
        acc = q_blk.new_zeros((*q_blk.shape[:-1], v.shape[-1]))
        for k0 in range(0, last_key, block_k):
            s = q_blk @ k[..., k0 : k0 + block_k, :].transpose(-1, -2) * scale
            if mask is not None:
                s = s.masked_fill(~mask[..., q0 : q0 + block_q, k0 : k0 + block_k], -INF)
            m, l, acc = _step(m, l, acc, s, v[..., k0 : k0 + block_k, :],
                              "no-rescale" if mistake == "no-rescale" else "")
        if mistake == "not-normalised":
            out.append(acc)
        elif mistake == "nan-when-masked":
            out.append(acc / l)
        else:
            out.append(acc / l.clamp_min(1e-30))
    return torch.cat(out, dim=-2)


def _tiled_mutant(mistake: str):
    def wrong(q, k, v, *, causal=True, scale=None, attn_mask=None, block_q=32, block_k=32):
        return _tiled(q, k, v, causal, scale, attn_mask, block_q, block_k, mistake)

    wrong.__name__ = f"tiled_attention_{mistake.replace('-', '_')}"
    return wrong


register_exercise(
    id="ch02.tiled_attention", name="tiled_attention", title="FlashAttention's tiled kernel", points=3, difficulty=3,
    hints=["For each block of queries: m = -inf, l = 0, acc = 0; for each block of keys: scores, mask (-inf), "
           "online_softmax_step; then acc / l. range(0, n, block) also visits the last, shorter tile.",
           "The tile's causal mask compares positions: key k0 + j is hidden from query q0 + i when "
           "k0 + j > key_pos - query_pos + q0 + i. Slice attn_mask like the scores.",
           "A query that sees no key at all has l = 0: return 0 there (acc / l.clamp_min(1e-30)), as naive does."],
    make_cases=tiled_cases,
    mutants=[
        Mutant("no-rescale", "the running sums are not rescaled when a later block of keys raises the "
               "maximum: multiply l and acc by exp(m - m_new) (see online_softmax_step).",
               _tiled_mutant("no-rescale")),
        Mutant("top-left", "with fewer queries than keys the causal mask must line up with the *last* keys: "
               "query i sits at position key_pos - query_pos + i, and sees the keys up to there.",
               _tiled_mutant("top-left")),
        Mutant("tail-dropped", "the last, shorter block of keys is skipped when key_pos is not a multiple of "
               "block_k: loop with range(0, key_pos, block_k) and let slicing shorten the last tile.",
               _tiled_mutant("tail-dropped")),
        Mutant("not-normalised", "the output is not divided by l: after the last block of keys, "
               "z = acc / l.", _tiled_mutant("not-normalised")),
        Mutant("always-causal", "the causal mask is applied even when causal=False: a kernel must honour "
               "the flag (encoders and cross-attention see every key).", _tiled_mutant("always-causal")),
        Mutant("mask-ignored", "attn_mask is ignored: combine it with the causal mask (mask & attn_mask) "
               "and set the hidden scores to -inf.", _tiled_mutant("mask-ignored")),
        Mutant("scale-ignored", "a `scale` that is passed in is ignored; use 1 / sqrt(d_head) only when "
               "scale is None.", _tiled_mutant("scale-ignored")),
        Mutant("nan-when-masked", "a query that may attend to no key at all gets 0 / 0 = nan; return zeros "
               "there, as naive does: acc / l.clamp_min(1e-30).", _tiled_mutant("nan-when-masked")),
    ],
    depends_on=["ch02.online_softmax_step"],
)


# ---------------------------------------------------------------------------
# kv_cache_step
# ---------------------------------------------------------------------------


def kv_cases() -> list[Case]:
    g = torch.Generator().manual_seed(208)

    def step(b, h, past, d, scale):
        return dict(q=_randn(g, b, h, 1, d, scale=1.5), k_new=_randn(g, b, h, 1, d), v_new=_randn(g, b, h, 1, d),
                    k_cache=_randn(g, b, h, past, d), v_cache=_randn(g, b, h, past, d), scale=scale)

    return [step(2, 2, 0, 4, None), step(1, 3, 5, 8, None), step(3, 2, 6, 4, 0.5)]


def _attend(q, k, v, scale):
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    return (q @ k.transpose(-1, -2) * scale).softmax(dim=-1) @ v


def _kv_before_append(q, k_new, v_new, k_cache, v_cache, scale=None):
    z = _attend(q, k_cache, v_cache, scale)
    return z, torch.cat([k_cache, k_new], dim=-2), torch.cat([v_cache, v_new], dim=-2)


def _kv_prepended(q, k_new, v_new, k_cache, v_cache, scale=None):
    k, v = torch.cat([k_new, k_cache], dim=-2), torch.cat([v_new, v_cache], dim=-2)
    return _attend(q, k, v, scale), k, v


def _kv_old_cache(q, k_new, v_new, k_cache, v_cache, scale=None):
    z = _attend(q, torch.cat([k_cache, k_new], dim=-2), torch.cat([v_cache, v_new], dim=-2), scale)
    return z, k_cache, v_cache


def _kv_top_left(q, k_new, v_new, k_cache, v_cache, scale=None):
    k, v = torch.cat([k_cache, k_new], dim=-2), torch.cat([v_cache, v_new], dim=-2)
    d = q.shape[-1]
    scores = q @ k.transpose(-1, -2) * (d ** -0.5 if scale is None else scale)
    scores = scores.masked_fill(~torch.ones(1, k.shape[-2], dtype=torch.bool).tril(0), -INF)
    return scores.softmax(dim=-1) @ v, k, v


def _kv_no_scale(q, k_new, v_new, k_cache, v_cache, scale=None):
    k, v = torch.cat([k_cache, k_new], dim=-2), torch.cat([v_cache, v_new], dim=-2)
    return _attend(q, k, v, 1.0), k, v


def _kv_cache_unused(q, k_new, v_new, k_cache, v_cache, scale=None):
    return v_new.clone(), torch.cat([k_cache, k_new], dim=-2), torch.cat([v_cache, v_new], dim=-2)


register_exercise(
    id="ch02.kv_cache_step", name="kv_cache_step", title="One step with a KV cache", points=2, difficulty=2,
    hints=["Append first: k = torch.cat([k_cache, k_new], dim=-2) (and v), so the new token also sees itself.",
           "Then one row of attention: softmax_stable(attention_scores(q, k, scale)) @ v; no mask is needed.",
           "Return the grown caches: the next step needs them."],
    make_cases=kv_cases,
    mutants=[
        Mutant("attend-before-append", "the new query attends only to the earlier keys: append k_new and "
               "v_new to the caches *before* computing the scores (a token sees itself).", _kv_before_append),
        Mutant("prepended", "the new key and value are put at the front of the caches; append them at the end "
               "(dim=-2), so position p stays at index p.", _kv_prepended),
        Mutant("old-cache-returned", "the caches returned are the old ones: return the ones with the new key "
               "and value appended, [batch n_heads past+1 d_head].", _kv_old_cache),
        Mutant("top-left-mask", "a causal mask built for a square score matrix lets the single new query "
               "see only the first key; the newest token sees every key: no mask (or causal_mask(1, "
               "key_pos), which is all True).", _kv_top_left),
        Mutant("no-scale", "the scores are not scaled: multiply q.k by 1 / sqrt(d_head) (or `scale`).",
               _kv_no_scale),
        Mutant("cache-unused", "the output is just the new token's value: attend over the cached keys and "
               "values too (the whole point of the cache).", _kv_cache_unused),
    ],
    depends_on=["ch02.attention_scores", "ch02.softmax_stable"],
)

