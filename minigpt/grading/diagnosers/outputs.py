"""Families seen in the output alone: a scale, a shift by one, infinities filled, an extra step at the end.

Each is a transformation of the reference's output, so trying it costs no rerun:

- ``scale``: the learner's output is ``k`` times the reference's, ``k`` a named number
  (``2``, ``-1``, ``sqrt(d_model)``, ``1/n_heads``) and the same name on every case;
- ``shift``: it is the reference's moved by one along an axis (entry ``j`` holds entry ``j - 1``);
- ``constant``: it equals the reference except where the reference is ±inf, which it
  fills with one finite number (``-1e9`` for ``-inf``);
- ``term``: it is a dependency of the exercise applied once more to the reference's output.
"""

from __future__ import annotations

import inspect

from torch import Tensor

from ..reference import reference
from ..registry import get_exercise
from . import Candidate, Context, register_diagnoser
from .words import dim_text, fmt, number_name


def _tensors(ctx: Context) -> bool:
    """Every output, the reference's and the learner's, a float tensor of the same shape."""
    return ctx.ex.kind in ("function", "module") and all(
        isinstance(e, Tensor) and isinstance(o, Tensor) and e.is_floating_point() and o.is_floating_point()
        and e.shape == o.shape for e, o in zip(ctx.expected, ctx.outputs))


@register_diagnoser("output-scale")
def scaled_output(ctx: Context):
    """The learner's output is k x the reference's, with k named the same way on every case."""
    if ctx.deep or not _tensors(ctx):
        return
    factors, names = {}, set()
    for i, (e, o) in enumerate(zip(ctx.expected, ctx.outputs)):
        e, o = e.double(), o.double()
        if not (e.isfinite().all() and o.isfinite().all()) or not (e * e).sum():
            return
        factors[i] = float((o * e).sum() / (e * e).sum())
        names.add(number_name(factors[i], ctx.constants[i], rel=1e-3))
    if len(names) != 1 or None in names:
        return
    name = names.pop()
    if name == "-1":
        text = "the sign is flipped: your output is -1 × the reference's"
    elif name.startswith("1/"):
        text = f"your output is the reference's divided by {name[2:]}: a division by {name[2:]} too many"
    else:
        text = f"your output is {name} × the reference's: a factor {name} too many"
    yield Candidate("scale", text, lambda i: ctx.matches(i, ctx.expected[i] * factors[i]))


def _shifted(ctx: Context, i: int, dim: int, step: int) -> bool:
    e, o = ctx.expected[i], ctx.outputs[i]
    if e.ndim < -dim or e.shape[dim] < 3:
        return False
    n = e.shape[dim] - 1
    earlier, later = e.narrow(dim, 0, n), e.narrow(dim, 1, n)
    if ctx.judge(ctx.ex, ctx.cases[i], earlier, later).passed:  # constant along dim: no shift to see
        return False
    theirs = o.narrow(dim, 1, n) if step > 0 else o.narrow(dim, 0, n)
    return ctx.judge(ctx.ex, ctx.cases[i], earlier if step > 0 else later, theirs).passed


@register_diagnoser("output-shift")
def shifted_output(ctx: Context):
    """Entry j of the learner's output holds the reference's entry j - 1 (or j + 1) along one axis."""
    if ctx.deep or not _tensors(ctx):
        return
    ndim = ctx.expected[ctx.first].ndim
    for dim in range(-ndim, 0):
        for step in (1, -1):
            yield Candidate("shift", f"your output is shifted by one along {dim_text(dim, ndim)}: entry j holds "
                            f"what belongs at j {'-' if step > 0 else '+'} 1",
                            lambda i, dim=dim, step=step: _shifted(ctx, i, dim, step))


@register_diagnoser("output-fill")
def infinities_filled(ctx: Context):
    """The reference's ±inf entries hold one finite number in the learner's output; the rest matches."""
    if ctx.deep or not _tensors(ctx):
        return
    fills = set()
    for i, (e, o) in enumerate(zip(ctx.expected, ctx.outputs)):
        inf = e.isinf()
        if not ctx.judge(ctx.ex, ctx.cases[i], e.where(~inf, o), o).passed:
            return
        for sign in (-1, 1):
            where = inf & (e * sign > 0)
            if where.any():
                values = o[where].unique()
                if len(values) != 1 or not values.isfinite().all():
                    return
                fills.add((sign, float(values[0])))
    if len(fills) == 1:
        (sign, value), = fills
        inf = "-inf" if sign < 0 else "inf"
        yield Candidate("constant", f"the entries that should be {inf} hold {fmt(value)}: use float('{inf}') "
                        "(a large finite number is not infinite)", lambda i: True)


@register_diagnoser("output-extra-step")
def extra_dependency(ctx: Context):
    """A one-argument dependency of the exercise (``gelu_new``) applied once more to the output."""
    if ctx.deep or ctx.ex.kind != "function":
        return
    for dep_id in ctx.ex.depends_on:
        dep = get_exercise(dep_id)
        fn = reference(dep)
        required = [p for p in inspect.signature(fn).parameters.values() if p.default is inspect.Parameter.empty]
        if dep.kind == "function" and len(required) == 1:
            yield Candidate("term", f"an extra `{dep.name}` is applied to the output: the reference applies it once, "
                            "earlier", lambda i, fn=fn: ctx.matches(i, fn(ctx.expected[i])))
