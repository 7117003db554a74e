"""Family ``invert`` (a condition selects the wrong side) and its neighbour, a boundary off by one.

Each candidate reruns the reference with one condition changed:

- ``invert``: a ``masked_fill`` with the negated mask (the entries to keep are filled),
  or a comparison replaced by its complement (``<`` for ``>=``): top-p keeping the tail,
  a causal mask hiding the past;
- ``shift``: a comparison that should include its boundary and does not, or the other
  way round (``>`` for ``>=``): one token too many or too few kept.
"""

from __future__ import annotations

import torch

from . import Context, register_diagnoser
from .constants import Change
from .words import SYMBOLS

COMPLEMENT = {"ge": "lt", "lt": "ge", "gt": "le", "le": "gt"}
STRICTNESS = {"ge": "gt", "gt": "ge", "le": "lt", "lt": "le"}


@register_diagnoser("invert")
def inverted_condition(ctx: Context):
    """A mask or a comparison of the reference, negated."""
    for step in ctx.steps():
        if step.op == "masked_fill":
            yield ctx.rewritten("invert", "the mask is inverted: the entries that should be kept are filled and "
                                "the ones that should be filled are kept (negate the condition)",
                                lambda i, step=step: Change(step.site, 1, lambda mask: ~mask))
        elif step.op in COMPLEMENT:
            new = COMPLEMENT[step.op]
            yield ctx.rewritten("invert", f"the condition is inverted: `{SYMBOLS[new]}` where the reference uses "
                                f"`{SYMBOLS[step.op]}`", lambda i, step=step, new=new: Change(
                                    step.site, func=getattr(torch, new)))


@register_diagnoser("boundary")
def off_boundary(ctx: Context):
    """A comparison with its boundary case the other way (``>`` for ``>=``)."""
    for step in ctx.steps():
        if step.op in STRICTNESS:
            new = STRICTNESS[step.op]
            yield ctx.rewritten("shift", f"the boundary is off by one: `{SYMBOLS[new]}` where the reference uses "
                                f"`{SYMBOLS[step.op]}` (the entry at the threshold goes the wrong way)",
                                lambda i, step=step, new=new: Change(step.site, func=getattr(torch, new)))
