"""Chapter 2 checks: reading a pattern, the previous-token score of each head."""

from __future__ import annotations

import torch

from ...registry import Case, Mutant
from .._shared import _pattern
from ._common import register_exercise


def prev_token_cases() -> list[Case]:
    g = torch.Generator().manual_seed(205)
    looks_back = torch.zeros(5, 5)
    looks_back[0, 0] = 1.0
    looks_back[torch.arange(1, 5), torch.arange(0, 4)] = 1.0
    mixed = _pattern(g, 2, 3, 5)
    mixed[:, 1] = 0.7 * looks_back + 0.3 * mixed[:, 1]  # head 1: mostly a previous-token head
    return [dict(pattern=mixed), dict(pattern=_pattern(g, 3, 2, 7, sharpness=3.0)),
            dict(pattern=_pattern(g, 4, 4, 3))]


def _prev_current(pattern):
    return pattern.diagonal(offset=0, dim1=-2, dim2=-1).mean(dim=(0, -1))


def _prev_next(pattern):
    return pattern.diagonal(offset=1, dim1=-2, dim2=-1).mean(dim=(0, -1))


def _prev_over_pos(pattern):
    return pattern.diagonal(offset=-1, dim1=-2, dim2=-1).sum(dim=-1).mean(dim=0) / pattern.shape[-1]


def _prev_per_sequence(pattern):
    return pattern.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=-1)


def _prev_first_key(pattern):
    return pattern[..., 1:, 0].mean(dim=(0, -1))


register_exercise(
    id="ch02.prev_token_score", name="prev_token_score", title="Previous-token score", points=1, difficulty=1,
    hints=["The weight query q puts on key q-1 sits just below the diagonal: "
           "pattern.diagonal(offset=-1, dim1=-2, dim2=-1).",
           "Average over the batch and over the queries 1 .. pos-1 (there are pos-1 of them): one number per head."],
    make_cases=prev_token_cases,
    mutants=[
        Mutant("current-token", "this scores attention to the *current* token (the diagonal); the previous "
               "token is one below it: diagonal(offset=-1).", _prev_current),
        Mutant("next-token", "this reads the weights on the *next* key (above the diagonal, always 0 in a "
               "causal pattern); the previous key is below it: diagonal(offset=-1).", _prev_next),
        Mutant("divided-by-pos", "the sum is divided by pos; only pos-1 queries have a previous token, so "
               "take the mean over those (a perfect previous-token head must score 1).", _prev_over_pos),
        Mutant("per-sequence", "the score is not averaged over the batch: return one number per head, "
               "[n_heads], the mean over the batch and the queries.", _prev_per_sequence),
        Mutant("first-token", "this is the weight on the *first* key (a first-token score); the previous "
               "token of query q is key q-1: diagonal(offset=-1).", _prev_first_key),
    ],
)
