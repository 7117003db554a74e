"""The torch operations a diagnoser can see, by kind: what each one's operands and axis argument are.

``x + y``, ``x.add(y)`` and ``torch.add(x, y)`` all reach a ``TorchFunctionMode`` as
one of a few functions; :data:`OPS` maps each of them to one :class:`OpSpec`, so that
a step reads the same however the code spelled it.

>>> OPS[torch.Tensor.softmax].name, OPS[torch.nn.functional.softmax].dim_pos
('softmax', 1)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

T = torch.Tensor


@dataclass(frozen=True)
class OpSpec:
    name: str  # "add", "softmax", ...
    kind: str  # "binary" | "compare" | "reduce" | "unary" | "mask" | "index" | "product"
    operands: tuple[int, ...] = (0,)  # positions of the tensor operands in the call's arguments, main first
    dim_pos: int | None = None  # position of the ``dim`` argument (reductions)
    reflected: bool = False  # __rsub__(x, 1) means 1 - x: the operands' order is reversed


def _table() -> dict:
    table: dict = {}

    def add(spec: OpSpec, *funcs) -> None:
        for func in funcs:
            table[func] = spec

    for name in ("add", "sub", "mul", "div", "pow"):
        add(OpSpec(name, "binary", (0, 1)), getattr(T, name), getattr(torch, name))
    add(OpSpec("sub", "binary", (0, 1), reflected=True), T.__rsub__)
    add(OpSpec("div", "binary", (0, 1), reflected=True), T.__rdiv__, T.__rtruediv__)
    for name in ("ge", "gt", "le", "lt"):
        add(OpSpec(name, "compare", (0, 1)), getattr(T, name), getattr(torch, name))
    for name in ("mean", "sum", "var", "std", "softmax", "log_softmax", "logsumexp", "cumsum", "argmax", "amax",
                 "sort"):
        add(OpSpec(name, "reduce", (0,), dim_pos=1), getattr(T, name), getattr(torch, name), getattr(F, name, None))
    add(OpSpec("topk", "reduce", (0,), dim_pos=2), T.topk, torch.topk)
    for name in ("exp", "log", "tanh", "sqrt", "rsqrt", "relu", "sigmoid", "neg"):
        add(OpSpec(name, "unary"), getattr(T, name), getattr(torch, name), getattr(F, name, None))
    add(OpSpec("gelu", "unary"), F.gelu)
    add(OpSpec("masked_fill", "mask", (0, 1, 2)), T.masked_fill, torch.masked_fill)
    add(OpSpec("scatter", "index", (0, 2, 3)), T.scatter, torch.scatter)
    add(OpSpec("gather", "index", (0, 2)), T.gather, torch.gather)
    add(OpSpec("einsum", "product", ()), torch.einsum)
    add(OpSpec("matmul", "product", (0, 1)), T.matmul, T.__matmul__, torch.matmul)
    table.pop(None, None)
    return table


OPS: dict = _table()

# operations whose result is (a view of) their first argument: the result keeps its label
VIEWS = frozenset({T.__getitem__, T.unsqueeze, T.squeeze, T.view, T.reshape, T.expand, T.expand_as, T.transpose,
                   T.permute, T.contiguous, T.flatten, T.clone, T.detach, T.float, T.to, torch.unsqueeze,
                   torch.squeeze, torch.reshape, torch.transpose, torch.permute, torch.flatten})
VIEW_DESCRIPTORS = frozenset({T.T, T.mT})
