"""Family ``swap``: two operands in each other's place, or one transposed.

Each candidate reruns the reference with:

- two arguments of the same shape swapped (``w`` and ``b``);
- two groups of a module's weights swapped, named alike but for their last letter
  (``W_Q``, ``b_Q`` and ``W_K``, ``b_K``: queries and keys trade places), or two
  sub-modules of the same make (``ln1`` and ``ln2``);
- the two operands of a product swapped when they have the same shape (``k·q`` for ``q·k``);
- a square weight or argument transposed.
"""

from __future__ import annotations

import re
from itertools import combinations

from torch import Tensor

from . import Context, register_diagnoser
from .trace import Call, Rewrite


def _swapped(case: dict, a: str, b: str, within: str | None = None) -> dict:
    case = dict(case)
    if within is None:
        case[a], case[b] = case[b], case[a]
    else:
        state = dict(case[within])
        state[a], state[b] = state[b], state[a]
        case[within] = state
    return case


def _weight_groups(state: dict) -> dict[tuple[str, str], dict[str, str]]:
    """{(module path, letter): {stem: name}}: ``attn.W_Q`` is stem ``W`` of group ``(attn., Q)``."""
    groups: dict = {}
    for name in state:
        match = re.fullmatch(r"(.*?)([A-Za-z]+)_([A-Za-z]+)", name)
        if match:
            path, stem, letter = match.groups()
            groups.setdefault((path, letter), {})[stem] = name
    return groups


def _modules(state: dict) -> dict[str, dict[str, str]]:
    """{sub-module path: {parameter: full name}} for the parameters of each sub-module."""
    modules: dict = {}
    for name in state:
        path, _, param = name.rpartition(".")
        if path:
            modules.setdefault(path, {})[param] = name
    return modules


def _swap_all(case: dict, pairs: list[tuple[str, str]]) -> dict:
    for a, b in pairs:
        case = _swapped(case, a, b, within="state_dict")
    return case


@register_diagnoser("swap-arguments")
def swapped_arguments(ctx: Context):
    """Two same-shaped arguments, weight groups or sub-modules in each other's place."""
    if ctx.deep or ctx.ex.kind not in ("function", "module"):
        return
    case = ctx.cases[ctx.first]
    tensors = {k: v for k, v in case.items() if isinstance(v, Tensor) and v.is_floating_point()}
    for a, b in combinations(tensors, 2):
        if tensors[a].shape == tensors[b].shape:
            yield ctx.rewritten("swap", f"`{a}` and `{b}` are swapped", case_fn=lambda c, a=a, b=b: _swapped(c, a, b))
    state = case.get("state_dict", {})
    groups = _weight_groups(state)
    for (path1, x), (path2, y) in combinations(groups, 2):
        g, h = groups[path1, x], groups[path2, y]
        if path1 == path2 and g.keys() == h.keys() and all(state[g[s]].shape == state[h[s]].shape for s in g):
            pairs = [(g[s], h[s]) for s in sorted(g)]
            names = lambda grp: ", ".join(f"`{grp[s]}`" for s in sorted(grp))  # noqa: E731
            yield ctx.rewritten("swap", f"the {x} and {y} weights are swapped: {names(g)} are used where "
                                f"{names(h)} belong, and the other way round",
                                case_fn=lambda c, pairs=pairs: _swap_all(c, pairs))
    modules = _modules(state)
    for m1, m2 in combinations(modules, 2):
        p1, p2 = modules[m1], modules[m2]
        if p1.keys() == p2.keys() and all(state[p1[k]].shape == state[p2[k]].shape for k in p1):
            pairs = [(p1[k], p2[k]) for k in sorted(p1)]
            yield ctx.rewritten("swap", f"`{m1}` and `{m2}` are swapped", case_fn=lambda c, pairs=pairs:
                                _swap_all(c, pairs))


class SwapOperands(Rewrite):
    """The two operands of the product at ``site`` in each other's place."""

    def __init__(self, site: tuple) -> None:
        self.sites = frozenset({site})

    def op(self, call: Call):
        args = list(call.args)
        if call.step.op == "matmul":
            args[0], args[1] = args[1], args[0]
        elif len(args) == 2 and isinstance(args[1], (list, tuple)):
            args[1] = [args[1][1], args[1][0], *args[1][2:]]
        else:
            args[1], args[2] = args[2], args[1]
        return call.func(*args, **call.kwargs)


@register_diagnoser("swap-product")
def swapped_product(ctx: Context):
    """The two same-shaped operands of a product taken the other way round (``k·q`` for ``q·k``)."""
    for step in ctx.steps():
        if step.op in ("einsum", "matmul") and len(step.inputs) == 2 and None not in step.inputs:
            a, b = step.labels
            if step.shapes[0] != step.shapes[1] or a is None or b is None:
                continue
            yield ctx.rewritten("swap", f"the operands of a product are swapped: `{b}` · `{a}` where the reference "
                                f"has `{a}` · `{b}` (the result comes out transposed)",
                                lambda i, step=step: SwapOperands(step.site))


def _transposed(case: dict, name: str, within: str | None) -> dict:
    case = dict(case)
    if within is None:
        case[name] = case[name].transpose(-1, -2)
    else:
        case[within] = {**case[within], name: case[within][name].transpose(-1, -2)}
    return case


@register_diagnoser("swap-transpose")
def transposed_weight(ctx: Context):
    """A square weight (or argument) transposed."""
    if ctx.deep or ctx.ex.kind not in ("function", "module"):
        return
    case = ctx.cases[ctx.first]
    for within, tensors in ((None, case), ("state_dict", case.get("state_dict", {}))):
        for name, value in tensors.items():
            if isinstance(value, Tensor) and value.ndim >= 2 and value.shape[-1] == value.shape[-2] > 1:
                yield ctx.rewritten("swap", f"`{name}` is transposed", case_fn=lambda c, n=name, w=within:
                                    _transposed(c, n, w))
