"""Chapter 4 checks: restricted and excluded loss, the sum of squared weights."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import _pairs, _trig_logits, register_exercise
from .neurons import _xpy

# ---------------------------------------------------------------------------
# restricted_loss, excluded_loss
# ---------------------------------------------------------------------------


def _labels(p):
    a, b = _pairs(p)
    return ((a + b) % p).long()


def restricted_cases() -> list[Case]:
    g = torch.Generator().manual_seed(410)
    return [dict(logits=_trig_logits(g, 5, [1], noise=1.5), labels=_labels(5), freqs=[1]),
            dict(logits=_trig_logits(g, 7, [2, 3]), labels=_labels(7), freqs=[2, 3]),
            dict(logits=_trig_logits(g, 7, [1], noise=2.0), labels=_labels(7), freqs=[1, 3])]


def _directions(freq, p):
    return _xpy(freq, p)


def _component(logits, freqs, which=(0, 1)):
    p = logits.shape[1]
    out = torch.zeros_like(logits)
    for k in freqs:
        dirs = _directions(k, p)
        for i in which:
            out += torch.outer(dirs[i], dirs[i] @ logits)
    return out


def _rl_no_mean(logits, labels, freqs):
    logits = logits.double()
    return F.cross_entropy(_component(logits, freqs), labels)


def _rl_added_to_logits(logits, labels, freqs):
    logits = logits.double()
    return F.cross_entropy(_component(logits, freqs) + logits, labels)


def _rl_cos_only(logits, labels, freqs):
    logits = logits.double()
    return F.cross_entropy(_component(logits, freqs, (0,)) + logits.mean(dim=0, keepdim=True), labels)


def _rl_float32(logits, labels, freqs):
    logits = logits.double()
    return F.cross_entropy(_component(logits, freqs) + logits.mean(dim=0, keepdim=True), labels).float()


def _rl_excluded(logits, labels, freqs):
    logits = logits.double()
    return F.cross_entropy(logits - _component(logits, freqs), labels)


register_exercise(
    id="ch04.restricted_loss", name="restricted_loss", title="Restricted loss", points=2, difficulty=2,
    hints=["restricted = logits.mean(0, keepdim=True) + sum over k in freqs and d in xpy_directions(k, p) of "
           "torch.outer(d, d @ logits).",
           "Everything in float64; F.cross_entropy(restricted, labels) over every pair."],
    make_cases=restricted_cases,
    mutants=[
        Mutant("no-mean", "each answer's mean logit is dropped; the restricted logits keep it "
               "(logits.mean(dim=0, keepdim=True)) and add the key-frequency projections.", _rl_no_mean),
        Mutant("added-to-logits", "the projections are added to the whole logits; the restricted logits are "
               "only the projections plus each answer's mean (logits.mean(dim=0, keepdim=True)).",
               _rl_added_to_logits),
        Mutant("cos-only", "only cos(w(a+b)) is kept; keep sin(w(a+b)) too (a phase needs both).", _rl_cos_only),
        Mutant("float32", "the loss is float32; compute it in float64 (logits.double()): the losses of a "
               "grokked model are tiny.", _rl_float32),
        Mutant("excluded-instead", "the key frequencies are removed, not kept; the restricted logits keep only "
               "them (plus the mean).", _rl_excluded),
    ],
    depends_on=["ch04.xpy_directions"],
)


def excluded_cases() -> list[Case]:
    g = torch.Generator().manual_seed(411)
    perm5, perm7 = torch.randperm(25, generator=g), torch.randperm(49, generator=g)
    return [dict(logits=_trig_logits(g, 5, [1], noise=1.5), labels=_labels(5), freqs=[1], train_idx=perm5[:8]),
            dict(logits=_trig_logits(g, 7, [2, 3]), labels=_labels(7), freqs=[2, 3], train_idx=perm7[:15]),
            dict(logits=_trig_logits(g, 7, [1], noise=2.0), labels=_labels(7), freqs=[1, 3], train_idx=perm7[:20])]


def _el(logits, labels, train_idx, excluded, rows=True):
    if rows:
        excluded, labels = excluded[train_idx], labels[train_idx]
    return F.cross_entropy(excluded, labels)


def _el_all_pairs(logits, labels, freqs, train_idx):
    logits = logits.double()
    return _el(logits, labels, train_idx, logits - _component(logits, freqs), rows=False)


def _el_mean_too(logits, labels, freqs, train_idx):
    logits = logits.double()
    return _el(logits, labels, train_idx, logits - _component(logits, freqs) - logits.mean(0, keepdim=True))


def _el_cos_only(logits, labels, freqs, train_idx):
    logits = logits.double()
    return _el(logits, labels, train_idx, logits - _component(logits, freqs, (0,)))


def _el_restricted(logits, labels, freqs, train_idx):
    logits = logits.double()
    return _el(logits, labels, train_idx, _component(logits, freqs) + logits.mean(0, keepdim=True))


def _el_float32(logits, labels, freqs, train_idx):
    logits = logits.double()
    return _el(logits, labels, train_idx, logits - _component(logits, freqs)).float()


register_exercise(
    id="ch04.excluded_loss", name="excluded_loss", title="Excluded loss", points=2, difficulty=2,
    hints=["excluded = logits - sum over k in freqs and d in xpy_directions(k, p) of torch.outer(d, d @ logits).",
           "Project over all p*p pairs (the directions live there), then keep the rows train_idx for the loss."],
    make_cases=excluded_cases,
    mutants=[
        Mutant("all-pairs", "the loss is over every pair; the excluded loss is on the training pairs only: "
               "excluded[train_idx] against labels[train_idx].", _el_all_pairs),
        Mutant("mean-removed-too", "the mean logit is removed as well; remove only the key frequencies' "
               "cos/sin(w(a+b)) parts.", _el_mean_too),
        Mutant("cos-only", "only cos(w(a+b)) is removed; remove sin(w(a+b)) too.", _el_cos_only),
        Mutant("restricted-instead", "the key frequencies are kept, not removed; the excluded loss takes them "
               "out: logits - their projections.", _el_restricted),
        Mutant("float32", "the loss is float32; compute it in float64 (logits.double()).", _el_float32),
    ],
    depends_on=["ch04.xpy_directions"],
)

# ---------------------------------------------------------------------------
# sum_sq_weights
# ---------------------------------------------------------------------------


def sum_sq_cases() -> list[Case]:
    g = torch.Generator().manual_seed(412)
    return [dict(params={"W_E": _randn(g, 6, 4), "b_in": _randn(g, 5), "W_in": _randn(g, 4, 5, scale=0.5)}),
            dict(params={"W": _randn(g, 3, 3, scale=2.0), "b": _randn(g, 3, scale=3.0)}),
            dict(params={"W_Q": _randn(g, 2, 4, 3), "b_Q": _randn(g, 2, 3, scale=4.0), "b_O": _randn(g, 4)})]


def _ssw_norms(params):
    return sum(t.norm() for t in params.values())


def _ssw_l2(params):
    return sum(t.pow(2).sum() for t in params.values()).sqrt()


def _ssw_mean(params):
    return torch.cat([t.flatten() for t in params.values()]).pow(2).mean()


def _ssw_matrices_only(params):
    return sum(t.pow(2).sum() for t in params.values() if t.ndim >= 2)


def _ssw_not_squared(params):
    return sum(t.sum() for t in params.values())


register_exercise(
    id="ch04.sum_sq_weights", name="sum_sq_weights", title="Sum of squared weights", points=1, difficulty=1,
    hints=["sum(t.pow(2).sum() for t in params.values())."],
    make_cases=sum_sq_cases,
    mutants=[
        Mutant("sum-of-norms", "this adds the tensors' norms; add their squares: t.pow(2).sum() for each.",
               _ssw_norms),
        Mutant("l2-norm", "this is the square root of the sum (the L2 norm of all weights); return the sum "
               "of squares itself.", _ssw_l2),
        Mutant("mean", "this is the mean square; weight decay acts on the sum, so sum every entry.", _ssw_mean),
        Mutant("matrices-only", "the biases (1-D tensors) are left out; weight decay shrinks every parameter, "
               "biases included.", _ssw_matrices_only),
        Mutant("not-squared", "the weights are summed without squaring: t.pow(2).sum().", _ssw_not_squared),
    ],
)
