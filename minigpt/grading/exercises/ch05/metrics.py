"""Chapter 5 checks: the logit difference and the normalised patching metric (functions of logits)."""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import register_exercise

# ---------------------------------------------------------------------------
# logit_diff
# ---------------------------------------------------------------------------


def _answers(g: torch.Generator, batch: int, d_vocab: int) -> tuple[Tensor, Tensor]:
    """``io`` and ``s`` ``[batch]``: two different tokens per prompt."""
    io = torch.randint(0, d_vocab, (batch,), generator=g)
    s = (io + torch.randint(1, d_vocab, (batch,), generator=g)) % d_vocab
    return io, s


def diff_cases() -> list[Case]:
    g = torch.Generator().manual_seed(501)
    cases = []
    for batch, pos, d_vocab, per_prompt in ((3, 4, 7, False), (4, 3, 9, True), (2, 5, 6, False)):
        io, s = _answers(g, batch, d_vocab)
        cases.append(dict(logits=_randn(g, batch, pos, d_vocab, scale=2.0), io=io, s=s, per_prompt=per_prompt))
    return cases


def _diff(logits, io, s, per_prompt=False, *, sign=1.0, probs=False, position=-1, grid=False, always_mean=False):
    x = logits.softmax(dim=-1) if probs else logits
    if grid:  # logits[:, -1, io]: every io for every prompt, [batch batch]
        diff = x[:, position, io] - x[:, position, s]
    else:
        rows = torch.arange(x.shape[0])
        diff = x[rows, position, io] - x[rows, position, s]
    diff = sign * diff
    return diff.mean() if always_mean or not per_prompt else diff


register_exercise(
    id="ch05.logit_diff", name="logit_diff", title="The logit difference", points=1, difficulty=1,
    hints=["Prompt i's answer is predicted at its last position: logits[i, -1, io[i]] - logits[i, -1, s[i]].",
           "rows = torch.arange(batch); logits[rows, -1, io] pairs each row with its own io ([batch]); "
           "return diff if per_prompt else diff.mean()."],
    make_cases=diff_cases,
    mutants=[
        Mutant("sign-flipped", "the sign is flipped: the logit difference is logit(io) - logit(s), positive when "
               "the model prefers the indirect object.", functools.partial(_diff, sign=-1.0)),
        Mutant("probabilities", "these are differences of probabilities (after a softmax); the metric is the "
               "difference of the raw logits, which the softmax's normaliser would not change anyway.",
               functools.partial(_diff, probs=True)),
        Mutant("every-pair", "logits[:, -1, io] takes every io for every prompt ([batch, batch]); pair each row "
               "with its own answer: logits[torch.arange(batch), -1, io].", functools.partial(_diff, grid=True)),
        Mutant("first-position", "the logits were read at the first position; the answer is predicted at the last "
               "one, logits[:, -1].", functools.partial(_diff, position=0)),
        Mutant("ignores-per-prompt", "with per_prompt=True return one difference per prompt ([batch]), not their "
               "mean.", functools.partial(_diff, always_mean=True)),
    ],
)


# ---------------------------------------------------------------------------
# patching_metric
# ---------------------------------------------------------------------------


def metric_cases() -> list[Case]:
    g = torch.Generator().manual_seed(502)
    cases = []
    for batch, pos, d_vocab, clean_diff, corrupted_diff in ((3, 4, 7, 3.5, -0.5), (4, 3, 9, 2.0, 0.75),
                                                            (2, 5, 6, 1.25, -2.0)):
        io, s = _answers(g, batch, d_vocab)
        cases.append(dict(logits=_randn(g, batch, pos, d_vocab, scale=2.0), io=io, s=s, clean_diff=clean_diff,
                          corrupted_diff=corrupted_diff))
    return cases


def _per_prompt(logits, io, s):
    rows = torch.arange(logits.shape[0])
    return logits[rows, -1, io] - logits[rows, -1, s]


def _metric(logits, io, s, clean_diff, corrupted_diff, *, how="normalised"):
    diff = _per_prompt(logits, io, s)
    if how == "per-prompt":
        return (diff - corrupted_diff) / (clean_diff - corrupted_diff)
    diff = diff.mean()
    return {"normalised": (diff - corrupted_diff) / (clean_diff - corrupted_diff),
            "raw": diff,
            "reversed": (diff - clean_diff) / (corrupted_diff - clean_diff),
            "ratio": diff / clean_diff,
            "unshifted": diff / (clean_diff - corrupted_diff)}[how]


register_exercise(
    id="ch05.patching_metric", name="patching_metric", title="The normalised patching metric", points=1,
    difficulty=1,
    hints=["Shift so that the corrupted run gives 0, then scale so that the clean run gives 1.",
           "(logit_diff(logits, io, s) - corrupted_diff) / (clean_diff - corrupted_diff)"],
    make_cases=metric_cases,
    mutants=[
        Mutant("unnormalised", "this is the raw logit difference; normalise it: (logit_diff - corrupted_diff) / "
               "(clean_diff - corrupted_diff), so 0 is the corrupted run and 1 the clean one.",
               functools.partial(_metric, how="raw")),
        Mutant("reversed", "the scale runs backwards (0 = clean, 1 = corrupted); the corrupted run should give 0 "
               "and the clean run 1: subtract corrupted_diff and divide by clean_diff - corrupted_diff.",
               functools.partial(_metric, how="reversed")),
        Mutant("ratio-to-clean", "the logit difference was divided by clean_diff; that puts 0 at a logit "
               "difference of 0, not at the corrupted run: subtract corrupted_diff first and divide by "
               "clean_diff - corrupted_diff.", functools.partial(_metric, how="ratio")),
        Mutant("not-shifted", "corrupted_diff was not subtracted from the logit difference before dividing; "
               "the corrupted run must score 0.", functools.partial(_metric, how="unshifted")),
        Mutant("per-prompt", "the metric is one number (a 0-d tensor): normalise the *mean* logit difference, "
               "not each prompt's.", functools.partial(_metric, how="per-prompt")),
    ],
    depends_on=["ch05.logit_diff"],
)
