"""Chapter 2 checks: scores, the causal mask, a stable softmax, the entropy of a pattern."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ...registry import Case, Mutant
from .._shared import INF, _causal, _pattern, _randn
from ._common import register_exercise

# ---------------------------------------------------------------------------
# attention_scores
# ---------------------------------------------------------------------------


def scores_cases() -> list[Case]:
    g = torch.Generator().manual_seed(201)
    return [
        dict(q=_randn(g, 2, 3, 4, 4), k=_randn(g, 2, 3, 4, 4), scale=None),  # square, default scale 1/2
        dict(q=_randn(g, 1, 2, 3, 9), k=_randn(g, 1, 2, 6, 9), scale=None),  # fewer queries than keys
        dict(q=_randn(g, 3, 2, 5, 4), k=_randn(g, 3, 2, 5, 4), scale=0.3),  # a scale that is given
    ]


def _qk(q: Tensor, k: Tensor) -> Tensor:
    return q @ k.transpose(-1, -2)


def _scores_no_scale(q, k, scale=None):
    return _qk(q, k)


def _scores_over_d_head(q, k, scale=None):
    return _qk(q, k) * (1 / q.shape[-1] if scale is None else scale)


def _scores_times_sqrt(q, k, scale=None):
    return _qk(q, k) * (math.sqrt(q.shape[-1]) if scale is None else scale)


def _scores_scale_ignored(q, k, scale=None):
    return _qk(q, k) / math.sqrt(q.shape[-1])


def _scores_keys_first(q, k, scale=None):
    return k @ q.transpose(-1, -2) * (q.shape[-1] ** -0.5 if scale is None else scale)


register_exercise(
    id="ch02.attention_scores", name="attention_scores", title="Attention scores", points=1, difficulty=1,
    hints=["scores[..., i, j] = q[..., i, :] . k[..., j, :]: contract d_head, keep query_pos then key_pos.",
           "The default scale is 1 / sqrt(d_head), with d_head = q.shape[-1]; use `scale` when it is given."],
    make_cases=scores_cases,
    mutants=[
        Mutant("no-scale", "the scores are not scaled: multiply q.k by `scale`, 1 / sqrt(d_head) by default.",
               _scores_no_scale),
        Mutant("over-d-head", "the default scale is 1 / d_head; it is 1 / sqrt(d_head) (q.k has variance "
               "d_head, so its standard deviation is sqrt(d_head)).", _scores_over_d_head),
        Mutant("times-sqrt-d-head", "the scores are multiplied by sqrt(d_head); divide by it instead "
               "(scale = d_head ** -0.5).", _scores_times_sqrt),
        Mutant("scale-ignored", "a `scale` that is passed in is ignored (you always divide by sqrt(d_head)); "
               "use 1 / sqrt(d_head) only when scale is None.", _scores_scale_ignored),
        Mutant("keys-first", "the result is [..., key_pos, query_pos]: put the queries first, "
               "q @ k.transpose(-1, -2), so that row i holds query i's scores.", _scores_keys_first),
    ],
)


# ---------------------------------------------------------------------------
# causal_mask
# ---------------------------------------------------------------------------


def mask_cases() -> list[Case]:
    return [dict(query_pos=5, key_pos=5), dict(query_pos=3, key_pos=7), dict(query_pos=1, key_pos=4)]


def _tril(query_pos, key_pos, diagonal):
    return torch.ones(query_pos, key_pos, dtype=torch.bool).tril(diagonal=diagonal)


def _mask_strict(query_pos, key_pos, device=None):
    return _tril(query_pos, key_pos, key_pos - query_pos - 1)


def _mask_one_future(query_pos, key_pos, device=None):
    return _tril(query_pos, key_pos, key_pos - query_pos + 1)


def _mask_top_left(query_pos, key_pos, device=None):
    return _tril(query_pos, key_pos, 0)


def _mask_inverted(query_pos, key_pos, device=None):
    return ~_causal(query_pos, key_pos)


def _mask_transposed(query_pos, key_pos, device=None):
    return torch.ones(query_pos, key_pos, dtype=torch.bool).triu(diagonal=key_pos - query_pos)


register_exercise(
    id="ch02.causal_mask", name="causal_mask", title="The causal mask, aligned to the end", points=1, difficulty=1,
    hints=["True on and below the diagonal: torch.ones(query_pos, key_pos, dtype=torch.bool).tril(...).",
           "Query i is at position key_pos - query_pos + i, so shift the diagonal by key_pos - query_pos."],
    make_cases=mask_cases,
    mutants=[
        Mutant("diagonal-hidden", "the diagonal is False: a query must see its own position. Keep the "
               "diagonal (tril(diagonal=key_pos - query_pos), not one less).", _mask_strict),
        Mutant("one-future-visible", "each query may see the next key: the diagonal is shifted one too far "
               "(tril(diagonal=key_pos - query_pos), not + 1).", _mask_one_future),
        Mutant("top-left-aligned", "with fewer queries than keys the mask must line up with the *last* keys: "
               "query i is at position key_pos - query_pos + i (tril(diagonal=key_pos - query_pos)).",
               _mask_top_left),
        Mutant("inverted", "the mask is inverted: True must mean 'may attend' (the past and the present), "
               "not 'hidden'.", _mask_inverted),
        Mutant("future-visible", "the mask keeps the future and hides the past (triu instead of tril): "
               "a query sees keys at or *before* its own position.", _mask_transposed),
    ],
)


# ---------------------------------------------------------------------------
# softmax_stable
# ---------------------------------------------------------------------------


def softmax_cases() -> list[Case]:
    g = torch.Generator().manual_seed(203)
    big = _randn(g, 2, 3, 5, scale=2.0, shift=500.0)  # every score large: exp overflows
    far_rows = _randn(g, 2, 4, 6)
    far_rows[:, 1] -= 300.0  # one row far below the others
    far_rows[0, 2, 3:] = -INF  # masked keys
    spread = _randn(g, 3, 4, 7, scale=3.0)
    spread[:, :, 0] = 200.0  # a large spread within each row
    spread[:, :, 1] = -200.0
    return [dict(scores=big), dict(scores=far_rows), dict(scores=spread)]


def _softmax_no_max(scores):
    e = scores.exp()
    return e / e.sum(dim=-1, keepdim=True)


def _softmax_global_max(scores):
    e = (scores - scores.max()).exp()
    return e / e.sum(dim=-1, keepdim=True)


def _softmax_mean(scores):
    finite = scores.masked_fill(torch.isinf(scores), 0.0)
    e = (scores - finite.mean(dim=-1, keepdim=True)).exp()
    return e / e.sum(dim=-1, keepdim=True)


def _softmax_queries(scores):
    e = (scores - scores.amax(dim=-2, keepdim=True)).exp()
    return e / e.sum(dim=-2, keepdim=True)


register_exercise(
    id="ch02.softmax_stable", name="softmax_stable", title="A softmax that does not overflow", points=1, difficulty=1,
    hints=["Subtract each row's maximum, scores.amax(dim=-1, keepdim=True), before exp.",
           "Normalise by the sum over the last axis (the keys), keepdim=True so the division broadcasts."],
    make_cases=softmax_cases,
    mutants=[
        # no-max comes last: the diagnosis goes to the first mutant that matches, and a mutant's nan
        # entries are not held against a learner's finite ones, so no-max would claim the others
        Mutant("global-max", "the maximum is taken over the whole tensor, so a row far below it underflows "
               "to 0 / 0 = nan: subtract each row's own maximum, amax(dim=-1, keepdim=True).",
               _softmax_global_max),
        Mutant("mean", "the mean is subtracted instead of the maximum; exp(s - mean) still overflows when "
               "a row's scores are far apart. Subtract the row maximum so every exponent is <= 0.",
               _softmax_mean),
        Mutant("over-queries", "the softmax runs over the second-to-last axis; it is over the keys, the "
               "last axis (dim=-1): each query's weights sum to 1.", _softmax_queries),
        Mutant("no-max", "exp overflows on large scores (inf / inf = nan): subtract each row's maximum "
               "before exp; the factor exp(-max) cancels in the ratio.", _softmax_no_max),
    ],
)


# ---------------------------------------------------------------------------
# pattern_entropy
# ---------------------------------------------------------------------------


def entropy_cases() -> list[Case]:
    g = torch.Generator().manual_seed(204)
    one_hot = torch.eye(4)[torch.tensor([[0, 1, 1, 3], [0, 0, 2, 2]])][:, None]  # [2 1 4 4], rows one-hot
    return [dict(pattern=_pattern(g, 2, 3, 5)), dict(pattern=_pattern(g, 3, 2, 6, sharpness=0.5)),
            dict(pattern=one_hot * 0.5 + _pattern(g, 2, 1, 4) * 0.5)]


def _entropy_nan(pattern):
    return -(pattern * pattern.log()).sum(dim=-1)


def _entropy_bits(pattern):
    return -torch.xlogy(pattern, pattern).sum(dim=-1) / math.log(2.0)


def _entropy_sign(pattern):
    return torch.xlogy(pattern, pattern).sum(dim=-1)


def _entropy_mean(pattern):
    return -torch.xlogy(pattern, pattern).mean(dim=-1)


def _entropy_no_weight(pattern):
    return -pattern.log().masked_fill(pattern == 0, 0.0).sum(dim=-1)


register_exercise(
    id="ch02.pattern_entropy", name="pattern_entropy", title="The entropy of a pattern", points=1, difficulty=1,
    hints=["-sum_k p_k log p_k over the last axis (the keys); natural log, so the unit is nats.",
           "0 * log(0) is nan in floating point: torch.xlogy(p, p) gives 0 there."],
    make_cases=entropy_cases,
    mutants=[
        Mutant("nan-at-zero", "masked keys (weight 0) give 0 * log(0) = nan; their term is 0: use "
               "torch.xlogy(p, p), or p.log() with zeros where p == 0.", _entropy_nan),
        Mutant("bits", "the entropy is in bits (log base 2); use the natural log (nats).", _entropy_bits),
        Mutant("sign", "the sign is wrong: entropy is -sum p log p, which is >= 0.", _entropy_sign),
        Mutant("mean-over-keys", "the terms are averaged over the keys; sum them instead.", _entropy_mean),
        Mutant("unweighted-log", "the log-probabilities are summed without their weights: "
               "-sum_k p_k log p_k, not -sum_k log p_k.", _entropy_no_weight),
    ],
)
