"""Family ``axis``: the right reduction over the wrong axis (a mean, a variance, a softmax, a sum, a top-k).

Each candidate reruns the reference with the ``dim`` of some reductions changed to
another axis of their input:

- every reduction over one axis at once (LayerNorm's mean and variance, both over dim 0);
- every call of one operation over that axis (each ``softmax``);
- one call alone (the second ``mean``);

and, for the means, sums and variances, over the whole tensor (``dim=None``). When the
same output comes out with those reductions giving zeros, the axis was not the point: the
result is not used (a loss that ignores a constant per row), and the diagnosis says so.
"""

from __future__ import annotations

from dataclasses import replace

from torch import Tensor

from . import Context, register_diagnoser
from .trace import Call, Rewrite, Step
from .words import dim_text

WHOLE_OK = {"mean", "sum", "var", "std"}  # these also run over every axis at once


class Redim(Rewrite):
    """The reductions at ``sites`` over ``to`` instead of their own axis (``None``: over everything)."""

    def __init__(self, sites: set, to: int | None) -> None:
        self.sites, self.to = frozenset(sites), to

    def op(self, call: Call):
        return call.run(dim=self.to)


class Zero(Rewrite):
    """The steps at ``sites`` give zeros: the null twin of an axis candidate (does the axis matter at all?)."""

    def __init__(self, sites: set) -> None:
        self.sites = frozenset(sites)

    def op(self, call: Call):
        out = call.run()
        return out.zero_() if isinstance(out, Tensor) and out.is_floating_point() else out


def _ordinal(n: int) -> str:
    return {1: "first", 2: "second", 3: "third"}.get(n, f"{n}th")


def _what(steps: list[Step], all_steps: list[Step]) -> str:
    ops = sorted({s.op for s in steps})
    if len(steps) == 1 and sum(s.op == steps[0].op for s in all_steps) > 1:
        n = [s for s in all_steps if s.op == steps[0].op].index(steps[0]) + 1
        return f"the {_ordinal(n)} `{steps[0].op}` is"
    if len(ops) == 1:
        return f"the `{ops[0]}` is" if len(steps) == 1 else f"every `{ops[0]}` ({len(steps)} of them) is"
    return " and ".join(f"`{op}`" for op in ops) + " are"


@register_diagnoser("axis")
def wrong_axis(ctx: Context):
    """Reductions of the reference over another axis of their input."""
    reductions = [s for s in ctx.steps() if s.dim is not None and s.ndim >= 1 and s.op in
                  ("mean", "sum", "var", "std", "softmax", "log_softmax", "logsumexp", "cumsum", "argmax", "amax",
                   "sort", "topk")]
    groups: list[list[Step]] = []
    for dim in sorted({s.dim for s in reductions}):
        over = [s for s in reductions if s.dim == dim]
        groups.append(over)
        groups += [[s for s in over if s.op == op] for op in sorted({s.op for s in over})]
        groups += [[s] for s in over]
    seen = set()
    for group in groups:
        sites = frozenset(s.site for s in group)
        first = group[0]
        targets = [d for d in range(-first.ndim, 0) if d != first.dim and first.shape[d] > 1]
        if all(s.op in WHOLE_OK for s in group):
            targets.append(None)
        what = _what(group, reductions)
        null = ctx.rewritten("term", f"{what} as good as left out: your output does not depend on its result",
                             lambda i, sites=sites: Zero(sites))
        for to in targets:
            if (sites, to) in seen:
                continue
            seen.add((sites, to))
            where = "over the whole tensor" if to is None else f"over {dim_text(to, first.ndim)}"
            text = f"{what} taken {where} instead of over {dim_text(first.dim, first.ndim)}"
            yield replace(ctx.rewritten("axis", text, lambda i, sites=sites, to=to: Redim(sites, to)), null=null)
