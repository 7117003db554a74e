"""Families ``scale`` and ``constant``: a number in the formula is wrong.

Each candidate reruns the reference with one number changed:

- ``scale``: a product or division by a number (``/ sqrt(d_head)``, ``* 0.5``) done the
  other way round (``* sqrt(d_head)``), or by another number: its square (``d_head``),
  its root, twice or half of it, or another named size (``sqrt(d_model)``); a ``mean``
  that should be a ``sum`` or the other way round, or a mean over everything taken
  as a sum over one axis and a mean over the rest;
- ``constant``: a power with the wrong exponent (``x ** 2`` for ``x ** 3``).

A named number is renamed case by case: ``sqrt(d_head)`` is 2.24 in one case and 1.73 in the next.
Neither family is tried on an exercise whose output is not numbers (a count of tokens, a class
index): there a factor shows only by pushing something past a threshold, and a candidate that
happens to push it there too would name the wrong mistake.
"""

from __future__ import annotations

import math

import torch

from . import Context, register_diagnoser
from .trace import Call, Rewrite, Step
from .words import dim_text, fmt, number_name


VERBS = {"div": ("divide", "divides"), "mul": ("multiply", "multiplies")}


class Change(Rewrite):
    """The step at ``site`` with operand ``which`` set to ``value`` and/or its function replaced."""

    def __init__(self, site: tuple, which: int | None = None, value=None, func=None) -> None:
        self.sites, self.which, self.value, self.func = frozenset({site}), which, value, func

    def op(self, call: Call):
        operands = {self.which: self.value(call.operand(self.which))} if self.which is not None else None
        return call.run(operands, func=self.func)


def _numbers(ctx: Context, step: Step, j: int):
    """(text, value of case i) for each number that could stand where operand ``j`` (a number) stands."""
    old = step.scalars[j]
    name = step.labels[j]
    value = (lambda i: ctx.constants[i][name]) if name else (lambda i: old)
    old_text = name or fmt(old)
    seen = {round(old, 9)}

    def candidate(text_fn, fn):
        v = fn(ctx.first)
        if v and round(v, 9) not in seen and round(v, 9) != 1:  # by 1: the step left out, see terms.py
            seen.add(round(v, 9))
            return number_name(v, ctx.constants[ctx.first]) or text_fn(), fn
        return None

    options = [
        candidate(lambda: f"{old_text}²", lambda i: value(i) ** 2),
        candidate(lambda: f"sqrt({old_text})", lambda i: math.sqrt(abs(value(i)))),
        candidate(lambda: f"2·{old_text}", lambda i: 2 * value(i)),
        candidate(lambda: f"{old_text}/2", lambda i: value(i) / 2),
    ]
    for other in ctx.constants[ctx.first]:
        if other.startswith("sqrt(") or other in ("d_model", "d_head", "d_mlp", "n_heads", "d_vocab"):
            options.append(candidate(lambda other=other: other, lambda i, other=other: ctx.constants[i][other]))
    return old_text, [o for o in options if o is not None]


@register_diagnoser("scale-number")
def wrong_number(ctx: Context):
    """A multiplication or division by a number: inverted, or by another number."""
    if not ctx.numeric:
        return
    for step in ctx.steps():
        if step.op not in ("mul", "div") or step.reflected:
            continue
        j = next((j for j in (1, 0) if step.scalars[j] is not None), None)
        if j is None or (step.op == "div" and j != 1):
            continue
        old, options = _numbers(ctx, step, j)
        (verb, verbs), other_verb = VERBS[step.op], VERBS["mul" if step.op == "div" else "div"][0]
        flipped = torch.mul if step.op == "div" else torch.div
        yield ctx.rewritten("scale", f"you {other_verb} by {old} where the reference {verbs} by it",
                            lambda i, step=step, flipped=flipped: Change(step.site, func=_binary(flipped, step, j)))
        for new, value in options:
            yield ctx.rewritten("scale", f"you {verb} by {new} where the reference {verbs} by {old}",
                                lambda i, step=step, j=j, value=value: Change(step.site, j, lambda _, v=value(i): v))


def _binary(func, step: Step, j: int):
    """``func(tensor, number)`` whichever side the number was on (``0.5 * x`` reaches torch as ``x.mul(0.5)``)."""
    return (lambda a, b, *rest, **kw: func(a, b)) if j == 1 else (lambda a, b, *rest, **kw: func(b, a))


@register_diagnoser("scale-reduction")
def mean_or_sum(ctx: Context):
    """A sum for a mean, a mean for a sum, or a mean over everything taken as a sum over one axis."""
    if not ctx.numeric:
        return
    for step in ctx.steps():
        if step.op == "mean":
            yield ctx.rewritten("scale", f"you take a sum where the reference takes the mean ({_over(step)})",
                                lambda i, step=step: Change(step.site, func=torch.sum))
            if step.dim is None:
                for d in range(-step.ndim, 0):
                    text = (f"you sum over {dim_text(d, step.ndim)} and average the rest where the reference "
                            "averages over every axis (so the result grows with that axis)")
                    yield ctx.rewritten("scale", text, lambda i, step=step, d=d: Change(
                        step.site, func=lambda x, *a, d=d, **k: x.sum(dim=d).mean()))
        elif step.op == "sum":
            yield ctx.rewritten("scale", f"you take a mean where the reference takes the sum ({_over(step)})",
                                lambda i, step=step: Change(step.site, func=torch.mean))


def _over(step: Step) -> str:
    return "over every axis" if step.dim is None else f"over {dim_text(step.dim, step.ndim)}"


@register_diagnoser("constant-power")
def wrong_power(ctx: Context):
    """``x ** n`` with another whole exponent."""
    if not ctx.numeric:
        return
    for step in ctx.steps():
        if step.op == "pow" and not step.reflected and step.scalars[1] is not None:
            old = step.scalars[1]
            for new in (old - 1, old + 1):
                text = f"the power is {new:g} where the reference uses {old:g} (x ** {old:g})"
                yield ctx.rewritten("constant", text, lambda i, step=step, new=new: Change(
                    step.site, 1, lambda _, n=new: n))
