"""Family ``term``: a term or a step left out (a bias, a factor, a residual, the softmax, a sub-layer), or repeated.

Each candidate reruns the reference with one step skipped, its main operand passed on
in place of its result:

- an addition, subtraction, product or division with a *named* operand, without it
  (``x @ W_in + b_in`` without ``b_in``; ``resid + attn(…)`` without ``resid``: a residual
  connection; ``0.5 * x * …`` without ``x``); a named number (``eps``) as well, but a
  scale left out (``/ sqrt(d_head)``) is family ``scale``;
- a one-input step (``softmax``, ``tanh``, ``scatter``, the mask's ``masked_fill``);
- a sub-module (``ln1``) whose output has its input's shape;

and, the other way round, a named operand added ``k`` times (``b_O`` once per head).
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

from . import Context, register_diagnoser
from .trace import Call, Rewrite, Step
from .words import fmt

ONE_INPUT = {"softmax", "log_softmax", "exp", "log", "tanh", "sqrt", "rsqrt", "relu", "sigmoid", "gelu", "neg",
             "cumsum", "scatter", "masked_fill"}


def like(kept, out: Tensor) -> Tensor:
    """``kept`` standing in for ``out``: broadcast to its shape (a number becomes a filled tensor)."""
    if isinstance(kept, Tensor):
        return kept if kept.shape == out.shape else kept.expand(out.shape)
    return torch.full_like(out, kept)


class Skip(Rewrite):
    """The step at ``site`` passes operand ``keep`` on instead of its result."""

    def __init__(self, site: tuple, keep: int = 0) -> None:
        self.sites, self.keep = frozenset({site}), keep

    def op(self, call: Call):
        return like(call.operand(self.keep), call.run())

    def module_output(self, step: Step, module, x: Tensor, out: Tensor) -> Tensor:
        return x if step.site in self.sites else out


class Times(Rewrite):
    """The step at ``site`` with operand ``which`` multiplied by ``k``."""

    def __init__(self, site: tuple, which: int, k: float) -> None:
        self.sites, self.which, self.k = frozenset({site}), which, k

    def op(self, call: Call):
        return call.run({self.which: call.operand(self.which) * self.k})


def _residual(ctx: Context, dropped: str, kept: str | None) -> str:
    """' (the residual connection around `attn`)' when the dropped term carries an input of the exercise."""
    names = set(re.findall(r"[A-Za-z_][\w.]*", dropped))
    if not names & set(ctx.probe.inputs(ctx.cases[ctx.first])):
        return ""
    around = re.fullmatch(r"([\w.]+)\(…\)", kept or "")
    return f" (the residual connection{f' around `{around.group(1)}`' if around else ''})"


def _binary(ctx: Context, step: Step):
    for j in (0, 1):
        label, number = step.labels[j], step.scalars[j]
        if label is None and number is not None and step.op in ("mul", "div"):
            label = fmt(number)  # an unnamed scale: `* 0.5`
        if label is None or (step.op in ("sub", "div") and j != step.right()):
            continue
        kept = step.labels[1 - j]
        if step.op in ("add", "sub"):
            verb = "added" if step.op == "add" else "subtracted"
            text = f"a term is missing: `{label}` is not {verb}" + (f" to `{kept}`" if kept else "")
            yield ("term", text + _residual(ctx, label, kept) if number is None else text), Skip(step.site, 1 - j)
        elif number is not None:  # a named scale left out
            verb = "multiplication by" if step.op == "mul" else "division by"
            yield ("scale", f"the {verb} {label} is missing"), Skip(step.site, 1 - j)
        elif step.op == "mul":
            yield ("term", f"a factor is missing: `{label}` is never multiplied in"), Skip(step.site, 1 - j)
        else:
            yield ("term", f"the division by `{label}` is missing"), Skip(step.site, 1 - j)


@register_diagnoser("term-skipped")
def skipped_step(ctx: Context):
    """One step of the reference left out."""
    for step in ctx.steps():
        found = []
        if step.op in ("add", "sub", "mul", "div"):
            found = list(_binary(ctx, step))
        elif step.op in ONE_INPUT and step.out_shape == step.shape:
            what = "the masking step (masked_fill) is missing: nothing is masked" if step.op == "masked_fill" \
                else f"the {step.op} step is missing"
            found = [(("term", what), Skip(step.site))]
        elif step.op == "module" and step.out_shape == step.shape:
            found = [(("term", f"`{step.module}` is never applied: its input goes on unchanged"), Skip(step.site))]
        for (family, text), rewrite in found:
            yield ctx.rewritten(family, text, lambda i, rewrite=rewrite: rewrite)


@register_diagnoser("term-repeated")
def repeated_term(ctx: Context):
    """A named tensor added k times where it belongs once (``b_O`` added to each head's output, then summed)."""
    if not ctx.numeric:
        return
    for step in ctx.steps():
        if step.op != "add":
            continue
        for j in (0, 1):
            label = step.labels[j]
            if label is None or step.scalars[j] is not None or "(" in label or "+" in label:
                continue
            for k_name in ("2", "n_heads", "n_layers", "pos", "batch"):
                if k_name != "2" and k_name not in ctx.constants[ctx.first]:
                    continue
                k = (lambda i, k_name=k_name: 2.0 if k_name == "2" else ctx.constants[i][k_name])
                times = "twice" if k_name == "2" else f"{k_name} times ({k(ctx.first):g}×)"
                yield ctx.rewritten("term", f"`{label}` is added {times} where it belongs once",
                                    lambda i, step=step, j=j, k=k: Times(step.site, j, k(i)))
