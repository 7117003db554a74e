"""Family ``order``: the right steps in the wrong order, or a result used where its input was still needed.

The reference's steps form chains: each step feeds the next (the scale feeds the mask,
the mask the softmax; ``ln1`` feeds ``attn``). Each candidate reruns the reference with:

- one step moved later along its chain: skipped where it was, applied after a later
  step (the mask after the softmax; ``ln1`` after ``attn``; ``* w`` after ``+ b``) or
  just before one (the position embedding added just before ``ln_final``);
- one step's result standing in for its input everywhere after it, as when
  ``resid = self.ln2(resid)`` overwrites the stream a residual connection still needs.

Only steps that can be applied to another input qualify: one-input operations, the
mask, an operation with a named operand (``+ b``, ``* w``, ``/ sqrt(d_head)``) and
sub-modules.
"""

from __future__ import annotations

from typing import Iterator

from torch import Tensor

from . import Context, register_diagnoser
from .terms import ONE_INPUT, like
from .trace import Call, Rewrite, Step
from .words import describe

MAX_HOPS = 4


def movable(step: Step) -> list[tuple[int, int | None]]:
    """(main operand, named operand) pairs under which the step can be re-applied to another input."""
    if step.op == "module" or (step.op in ONE_INPUT and step.op not in ("scatter",)):
        return [(0, None)]
    if step.op in ("add", "sub", "mul", "div"):
        return [(1 - j, j) for j in (0, 1) if step.labels[j] is not None or step.scalars[j] is not None
                if step.op in ("add", "mul") or j == step.right()]
    return []


def chain(steps: list[Step], start: Step) -> Iterator[tuple[Step, int]]:
    """The steps downstream of ``start`` at its depth, one hop at a time: (step, which of its inputs came down).

    The chain goes on only through results read by one step of that depth: a step whose
    result two steps read cannot be moved past one of them without changing the other.
    """
    current = start
    for _ in range(MAX_HOPS):
        later = steps[steps.index(current) + 1:]
        readers = [s for s in later if s.depth == start.depth and current.output in s.inputs]
        if len(readers) != 1:
            return
        nxt = readers[0]
        yield nxt, nxt.inputs.index(current.output)
        current = nxt


class Move(Rewrite):
    """Skip the step at ``source`` (pass its main operand on) and apply it after ``after`` or before ``before``."""

    def __init__(self, source: tuple, main: int, after: tuple | None = None, before: tuple | None = None,
                 position: int = 0) -> None:
        self.source, self.main, self.after, self.before, self.position = source, main, after, before, position
        self.sites = frozenset({source, after or before})
        self.held = None

    def _take(self):
        held, self.held = self.held, None
        return held

    def op(self, call: Call):
        site = call.step.site
        if site == self.source:
            self.held = lambda y, call=call: call.run({self.main: y})
            return like(call.operand(self.main), call.run())
        if site == self.before and self.held:
            return call.run({self.position: self._take()(call.operand(self.position))})
        out = call.run()
        return self._take()(out) if site == self.after and self.held else out

    def module_input(self, step: Step, module, x: Tensor) -> Tensor:
        return self._take()(x) if step.site == self.before and self.held else x

    def module_output(self, step: Step, module, x: Tensor, out: Tensor) -> Tensor:
        if step.site == self.source:
            self.held = lambda y: self.tracer.reapply(module, y)
            return x
        return self._take()(out) if step.site == self.after and self.held else out


class Overwrite(Rewrite):
    """After the step at ``source``, its result replaces its main input wherever that input is used again."""

    every_call = True

    def __init__(self, source: tuple, main: int) -> None:
        self.source, self.main, self.pair = source, main, None

    def op(self, call: Call):
        if self.pair is not None and call.spec.operands:
            old, new = self.pair
            swap = {k: new for k in range(len(call.spec.operands)) if call.operand(k) is old}
            if swap:
                return call.run(swap)
        out = call.run()
        if call.step.site == self.source:
            self.pair = (call.operand(self.main), out)
        return out

    def module_input(self, step: Step, module, x: Tensor) -> Tensor:
        return self.pair[1] if self.pair is not None and x is self.pair[0] else x

    def module_output(self, step: Step, module, x: Tensor, out: Tensor) -> Tensor:
        if step.site == self.source:
            self.pair = (x, out)
        return out


@register_diagnoser("order-moved")
def moved_step(ctx: Context):
    """One step applied later along its chain than the reference applies it."""
    steps = list(ctx.trace)
    for step in ctx.steps():
        for main, named in movable(step):
            what = describe(step, named, ctx.probe.entry)
            hops = list(chain(steps, step))
            if not hops:
                continue
            first = describe(hops[0][0], _named(hops[0][0]), ctx.probe.entry)
            for h, (target, position) in enumerate(hops):
                name = describe(target, _named(target), ctx.probe.entry)
                yield ctx.rewritten("order", f"{what} happens after {name}, where the reference does it before",
                                    lambda i, step=step, main=main, target=target: Move(step.site, main,
                                                                                        after=target.site))
                if h and target.op not in ("einsum", "matmul"):
                    yield ctx.rewritten("order", f"{what} happens just before {name}, where the reference does it "
                                        f"before {first}", lambda i, step=step, main=main, target=target, p=position:
                                        Move(step.site, main, before=target.site, position=p))


@register_diagnoser("order-overwritten")
def overwritten_input(ctx: Context):
    """A step's result used where its input is still needed later (``x = f(x)`` overwrote ``x``)."""
    for step in ctx.steps():
        if step.out_shape != step.shape:
            continue
        for main, named in movable(step):
            text = (f"after {describe(step, named, ctx.probe.entry)}, later steps use its result where they need "
                    "its input: was a variable overwritten (`x = f(x)`) that is still needed?")
            yield ctx.rewritten("order", text,
                                lambda i, step=step, main=main: Overwrite(step.site, main))


def _named(step: Step) -> int | None:
    return next((j for _, j in movable(step) if j is not None), None)
