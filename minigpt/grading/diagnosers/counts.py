"""Family ``term`` for counts: a number off by a product of the case's sizes, the same way in every case.

An exercise that returns a count (``count_parameters``) is wrong by a whole parameter
left out or counted twice. The difference from the reference is then a product of the
case's integer arguments times a small whole number, in every case: ``-n_layers ×
d_model`` is a ``[d_model]`` vector missing from each block. A difference that shows only
when a flag is set (``tie_embeddings``) is that product times the flag.

>>> list(_products({"a": 2, "b": 3}, 2))[:4]
[((), 1), (('a',), 2), (('b',), 3), (('a', 'a'), 4)]
"""

from __future__ import annotations

import inspect
from itertools import combinations_with_replacement

from . import Candidate, Context, register_diagnoser

COEFFICIENTS = (1, -1, 2, -2, 3, -3, 4, -4)


def _products(sizes: dict[str, int], degree: int):
    for n in range(degree + 1):
        for names in combinations_with_replacement(sorted(sizes), n):
            value = 1
            for name in names:
                value *= sizes[name]
            yield names, value


def _explain(names: tuple[str, ...], coefficient: int, flag: str | None) -> str:
    """``short by 2 × d_model × n_layers: 2 parameters of d_model numbers in every layer are left out``."""
    n = abs(coefficient)
    size = " × ".join(name for name in names if name != "n_layers") or "1"
    what = f"{'a parameter' if n == 1 else f'{n} parameters'} of {size} numbers"
    what += " in every layer" if "n_layers" in names else ""
    total = f"{f'{n} × ' if n != 1 else ''}{' × '.join(names)}{f' when {flag}' if flag else ''}"
    verb = "is" if n == 1 else "are"
    if coefficient < 0:
        return f"your count is short by {total}: {what} {verb} left out"
    return f"your count is over by {total}: {what} {verb} counted that should not be"


@register_diagnoser("count-difference")
def count_difference(ctx: Context):
    """The count differs from the reference by c × (a product of the case's sizes) [× a flag], in every case."""
    if ctx.deep or not all(isinstance(o, int) and isinstance(e, int) and not isinstance(o, bool)
                           for o, e in zip(ctx.outputs, ctx.expected)):
        return
    diffs = [o - e for o, e in zip(ctx.outputs, ctx.expected)]
    signature = inspect.signature(ctx.probe.fn)
    cases = [dict(signature.bind(**c).arguments, **{k: p.default for k, p in signature.parameters.items()
                                                     if k not in c and p.default is not p.empty}) for c in ctx.cases]
    sizes = [{k: v for k, v in c.items() if isinstance(v, int) and not isinstance(v, bool)} for c in cases]
    flags = [None] + sorted({f"{k} is {v}" for c in cases for k, v in c.items() if isinstance(v, bool)})
    for degree in (1, 2, 3):
        for names, _ in _products(sizes[0], degree):
            if len(names) != degree:
                continue
            for flag in flags:
                for coefficient in COEFFICIENTS:
                    if all(d == coefficient * _value(names, s) * _flag(flag, c) for d, s, c in
                           zip(diffs, sizes, cases)) and any(diffs):
                        yield Candidate("term", _explain(names, coefficient, flag), lambda i: True)
                        return


def _value(names: tuple[str, ...], sizes: dict[str, int]) -> int:
    value = 1
    for name in names:
        value *= sizes[name]
    return value


def _flag(flag: str | None, case: dict) -> int:
    if flag is None:
        return 1
    key, _, value = flag.partition(" is ")
    return int(str(case.get(key)) == value)
