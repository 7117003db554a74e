"""Family ``stability``: right on ordinary inputs, wrong only on the cases with large values.

Some cases are there for numerical stability: logits in the thousands, attention scores
in the hundreds, a LayerNorm input far from 0. The reference stays finite on them; a
naive formula (``softmax(...).log()``, ``exp(x) / exp(x).sum()``, ``E[x²] - E[x]²``)
overflows, underflows or cancels. When the learner's output matches the reference on
every ordinary case and is off (inf, NaN, or just wrong) only on cases whose values are
far larger than the others', that is the diagnosis, with advice for the operation the
reference uses there. A case's *size* is the largest finite value among its tensors and
among what the reference feeds to ``softmax``, ``log_softmax``, ``logsumexp`` and ``exp``.

Being off only on the large cases is not enough: another mistake may happen to show only
there (a top-k bug, when only that case asks for a top-k). So the learner's output on the
large cases must also look like a numerical failure: inf or NaN where the reference is
finite (an overflow), or close to the reference but not within tolerance (precision lost).
Any other difference counts only if the reference itself, with its softmaxes written the
naive way (``exp(x) / exp(x).sum()``), gives the learner's output on every case.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from . import Candidate, Context, Diagnosis, register_diagnoser
from .probe import Probe
from .trace import Call, Rewrite

LARGE = 50.0  # a case is large when its size is at least this ...
RATIO = 10.0  # ... and this many times the size of every ordinary case
SENSITIVE = ("log_softmax", "logsumexp", "softmax", "exp")
ADVICE = {
    "log_softmax": "take log-probabilities with log_softmax (or subtract the max before exp): softmax(...).log() "
                   "gives log(0) = -inf once a probability underflows, and exp overflows past 88",
    "logsumexp": "use torch.logsumexp, which subtracts the max before exp (exp overflows past 88)",
    "softmax": "subtract each row's max before exp, or use torch.softmax: exp overflows to inf past 88",
}
CENTRE = ("centre the values before squaring or exponentiating (x - mean, x - max), as the reference does: "
          "E[x²] - E[x]² cancels to noise on large values")


def _largest(obj: Any) -> float:
    if isinstance(obj, Tensor) and obj.is_floating_point() and obj.numel():
        finite = obj[torch.isfinite(obj)]
        return float(finite.abs().max()) if finite.numel() else 0.0
    if isinstance(obj, dict):
        return max((_largest(v) for v in obj.values()), default=0.0)
    if isinstance(obj, (list, tuple)):
        return max((_largest(v) for v in obj), default=0.0)
    return 0.0


def sizes(probe: Probe, cases: list) -> tuple[list[float], list[set[str]]]:
    """Each case's size, and the sensitive operations the reference used on it."""
    result, used = [], []
    for case in cases:
        steps = probe.run(case)[1].steps
        peak = max((s.peak for s in steps if s.op in SENSITIVE), default=0.0)
        result.append(max(_largest(case), peak))
        used.append({s.op for s in steps if s.op in SENSITIVE})
    return result, used


def _only_large(size: list[float], bad: list[int]) -> bool:
    good = [s for i, s in enumerate(size) if i not in bad]
    return bool(bad and good) and min(size[i] for i in bad) >= max(LARGE, RATIO * max(good))


def _advice(ops: set[str]) -> str:
    return next((ADVICE[op] for op in SENSITIVE if op in ops), CENTRE)


def _where(bad: list[int], size: list[float]) -> str:
    which = " and ".join(str(i + 1) for i in bad)
    return f"case{'s' if len(bad) > 1 else ''} {which} (values up to {max(size[i] for i in bad):.3g})"


def _failure(expected: Any, got: Any) -> str:
    """How the learner's output is off: "blown" (inf or NaN where the reference is finite), "close" or "far"."""
    if not (isinstance(expected, Tensor) and isinstance(got, Tensor) and got.is_floating_point()
            and got.shape == expected.shape):
        return "far"
    finite = torch.isfinite(expected)
    if bool((~finite & (got != expected)).any()):  # finite where the reference is infinite: not a blow-up
        return "far"
    if bool((~torch.isfinite(got) & finite).any()):
        return "blown"
    err = (got.double() - expected.double()).abs()[finite]
    scale = expected.double().abs()[finite]
    return "close" if err.numel() and float(err.max()) <= 0.1 * float(scale.max()) else "far"


class Naive(Rewrite):
    """Every softmax, log_softmax and logsumexp of the reference written with a bare exp."""

    every_call = True

    def op(self, call: Call):
        if call.step.op not in ("softmax", "log_softmax", "logsumexp"):
            return call.run()
        x, dim = call.operand(0), call.step.dim
        total = x.exp().sum(dim=dim, keepdim=True)
        if call.step.op == "logsumexp":
            return total.log() if call.kwargs.get("keepdim") else total.log().squeeze(dim)
        return x.exp() / total if call.step.op == "softmax" else (x.exp() / total).log()


@register_diagnoser("stability")
def large_values_only(ctx: Context):
    """The learner's output is off only on the large cases, the way a numerical failure is."""
    if ctx.deep or not 0 < len(ctx.failing) < len(ctx.cases):
        return
    size, used = sizes(ctx.probe, ctx.cases)
    if not _only_large(size, ctx.failing):
        return
    how = {_failure(ctx.expected[i], ctx.outputs[i]) for i in ctx.failing}
    where, advice = _where(ctx.failing, size), _advice(set().union(*(used[i] for i in ctx.failing)))
    if how == {"blown"}:
        yield Candidate("stability", f"your version overflows on large values: on {where} it gives inf or NaN where "
                        f"the reference is finite, while every other case matches; {advice}.", lambda i: True)
    elif "far" not in how:
        yield Candidate("stability", f"your version loses precision on large values: on {where} it is off, while "
                        f"every other case matches; {advice}.", lambda i: True)
    else:
        yield ctx.rewritten("stability", f"your version overflows on large values: on {where} it gives what a softmax "
                            f"written as exp(x) / exp(x).sum() gives once exp overflows, while every other case "
                            f"matches; {advice}.", lambda i: Naive())


def explain_error(ex, cases: list, index: int, exc: Exception, run: Callable[[dict], Any],
                  judge: Callable) -> Diagnosis | None:
    """The learner's code raised on case ``index``: is that the one large case, and are the others right?

    ``run(case)`` runs the learner's code on a case; ``judge`` is ``check.judge``.
    """
    if not any(word in str(exc).lower() for word in ("inf", "nan", "overflow")):
        return None  # not a numerical failure
    probe = Probe.of(ex)
    size, used = sizes(probe, cases)
    if not _only_large(size, [index]):
        return None
    for i, case in enumerate(cases):
        if i != index and not judge(ex, case, probe.run(case)[0], run(case)).passed:
            return None
    return Diagnosis(f"your version breaks on large values: {_where([index], size)} raised {type(exc).__name__} "
                     f"({str(exc)[:80]}), while every other case matches; {_advice(used[index])}.", "stability")
