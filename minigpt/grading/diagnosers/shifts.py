"""Family ``shift``: an input read one position off (targets not shifted, positions counted from 1).

Each candidate reruns the reference on a case whose input tensor is rolled by one
along one axis, so that where the reference reads entry ``j`` it reads entry ``j - 1``
(or ``j + 1``). The next-token loss scored against ``tokens[:, :-1]`` instead of
``tokens[:, 1:]`` is the reference reading ``tokens`` one position early. The entry
that wraps around is rarely read; when it is, the candidate simply does not match.
(A shift of the output itself is in :mod:`.outputs`.)
"""

from __future__ import annotations

from torch import Tensor

from . import Context, register_diagnoser
from .words import dim_text


def _rolled(case: dict, name: str, step: int, dim: int) -> dict:
    return {**case, name: case[name].roll(step, dims=dim)}


@register_diagnoser("shift-input")
def shifted_input(ctx: Context):
    """An input of the exercise read one position early or late along one axis."""
    if ctx.deep or ctx.ex.kind not in ("function", "module", "sampler"):
        return
    case = ctx.cases[ctx.first]
    for name in ctx.probe.inputs(case):
        value = case[name]
        if not isinstance(value, Tensor):
            continue
        for dim in range(-value.ndim, 0):
            if value.shape[dim] < 3:
                continue
            for step in (1, -1):
                j = "j - 1" if step > 0 else "j + 1"
                text = (f"`{name}` is read one position off along {dim_text(dim, value.ndim)}: where the reference "
                        f"reads entry j you read entry {j}")
                yield ctx.rewritten("shift", text, case_fn=lambda c, n=name, s=step, d=dim: _rolled(c, n, s, d))
