"""Chapter 3 checks: the duplicate-token and induction scores of attention patterns."""

from __future__ import annotations

import torch

from ...registry import Case, Mutant
from .._shared import _pattern
from ._common import register_exercise


def score_cases() -> list[Case]:
    g = torch.Generator().manual_seed(303)
    # BOS + 4 + 4; 4 + 4 with no BOS; 2 unrelated tokens, then 3 + 3
    return [dict(pattern=_pattern(g, 2, 3, 9), seq_len=4),
            dict(pattern=_pattern(g, 3, 2, 8), seq_len=4),
            dict(pattern=_pattern(g, 1, 2, 8), seq_len=3)]


def _stripe(pattern, offset, seq_len, queries="copy", reduce="mean", batch_mean=True):
    """Mean of pattern[..., q, q - offset] over the batch and the copy's queries (or every query on the stripe)."""
    stripe = pattern.diagonal(offset=-offset, dim1=-2, dim2=-1)
    if queries == "copy":
        stripe = stripe[..., -seq_len:]
    values = stripe.sum(dim=-1) if reduce == "sum" else stripe.mean(dim=-1)
    return values.mean(dim=0) if batch_mean else values


# duplicate_token_score ------------------------------------------------------

register_exercise(
    id="ch03.duplicate_token_score", name="duplicate_token_score",
    title="Duplicate-token score", points=1, difficulty=2,
    hints=["pattern[..., q, q - seq_len] is a diagonal: pattern.diagonal(offset=-seq_len, dim1=-2, dim2=-1).",
           "Keep only the last seq_len entries of it (the copy's queries), then average over the batch and them."],
    make_cases=score_cases,
    mutants=[
        Mutant("induction-offset", "this measures attention to the token *after* the earlier occurrence "
               "(q - seq_len + 1: the induction score); a duplicate-token head looks at the same token, "
               "q - seq_len.", lambda pattern, seq_len: _stripe(pattern, seq_len - 1, seq_len)),
        Mutant("every-query", "queries before the copy were averaged too; only the last seq_len positions "
               "(the copy) have an earlier duplicate: keep the last seq_len entries of the diagonal.",
               lambda pattern, seq_len: _stripe(pattern, seq_len, seq_len, queries="all")),
        Mutant("future-diagonal", "the diagonal is above the main one (offset=+seq_len: keys after the query, "
               "where a causal pattern is 0); use offset=-seq_len.",
               lambda pattern, seq_len: _stripe(pattern, -seq_len, seq_len, queries="all")),
        Mutant("no-batch-mean", "the result still has a batch axis; average over the batch too, "
               "returning [n_heads].", lambda pattern, seq_len: _stripe(pattern, seq_len, seq_len, batch_mean=False)),
        Mutant("sum-over-queries", "the weights are summed over the queries; take their mean (a perfect head "
               "scores 1).", lambda pattern, seq_len: _stripe(pattern, seq_len, seq_len, reduce="sum")),
    ],
)


# induction_score -----------------------------------------------------------

register_exercise(
    id="ch03.induction_score", name="induction_score", title="Induction score", points=2, difficulty=2,
    hints=["Query q in the copy should look at q - seq_len + 1: "
           "the token after the earlier occurrence of its own token.",
           "pattern.diagonal(offset=1 - seq_len, dim1=-2, dim2=-1), "
           "its last seq_len entries, mean over (batch, queries)."],
    make_cases=score_cases,
    mutants=[
        Mutant("duplicate-offset", "this measures attention to the same token (q - seq_len: a duplicate-token "
               "head); an induction head looks one further, at the token that came *next*: q - seq_len + 1.",
               lambda pattern, seq_len: _stripe(pattern, seq_len, seq_len)),
        Mutant("one-too-far-back", "the offset is seq_len + 1 (the token *before* the earlier occurrence); "
               "induction attends to q - seq_len + 1.",
               lambda pattern, seq_len: _stripe(pattern, seq_len + 1, seq_len)),
        Mutant("every-query", "every query on the stripe was averaged, including some in the first chunk; "
               "only the copy's queries (the last seq_len positions) count: keep the last seq_len entries.",
               lambda pattern, seq_len: _stripe(pattern, seq_len - 1, seq_len, queries="all")),
        Mutant("no-batch-mean", "the result still has a batch axis; average over the batch too, "
               "returning [n_heads].",
               lambda pattern, seq_len: _stripe(pattern, seq_len - 1, seq_len, batch_mean=False)),
        Mutant("sum-over-queries", "the weights are summed over the queries; take their mean (a perfect head "
               "scores 1).", lambda pattern, seq_len: _stripe(pattern, seq_len - 1, seq_len, reduce="sum")),
    ],
)
