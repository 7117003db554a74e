"""Watching the reference run: each torch call its own code makes, as a :class:`Step` that can be changed.

A generic diagnoser asks "what if the reference had done *this* step differently?" To
ask it, the reference runs under a :class:`Tracer`, a ``torch.overrides.TorchFunctionMode``
that sees each torch function called from the reference's own source file
(``x.mean(dim=-1)``, ``scores.softmax(-1)``, ``x @ W + b``) and each call of one of its
sub-modules (``self.ln1(resid)``, see :mod:`.probe`). Calls made inside torch, einops or
minigpt's library (a ``GPT`` a training step runs) are not steps of the exercise and pass
through untouched.

Each step has a *site*: its file, line, operation and how many times that line has
made that call in this run. The same site names the same step in another case's run, so
a :class:`Rewrite` keyed by sites changes one step everywhere.

Tensors the exercise received by name (``w``, ``b_O``, ``resid``) carry that name as a
*label*; views keep it, a sub-module's output is labelled ``"attn(…)"``, and a sum or a
product of labelled tensors gets an expression (``"resid + attn(…)"``). Labels are what
a diagnosis can name.

>>> import torch
>>> tracer = Tracer(files=None)
>>> with tracer:
...     _ = torch.ones(2, 3).softmax(dim=0)
>>> [(s.op, s.dim, s.shape) for s in tracer.steps]
[('softmax', -2, (2, 3))]
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import einops
import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode

from .ops import OPS, VIEW_DESCRIPTORS, VIEWS, OpSpec

_LOOK_THROUGH = (os.path.dirname(torch.__file__), os.path.dirname(einops.__file__), os.path.dirname(__file__))


@dataclass
class Step:
    """One call of the exercise's own code: a torch operation or a sub-module."""

    site: tuple  # (file, line, op, occurrence) or ("module", name, occurrence)
    op: str  # "softmax", "add", ... or "module"
    depth: int  # sub-module calls open around it (0: the exercise's own code)
    inputs: tuple[int | None, ...] = ()  # id of each operand (None: not a tensor), the main one first
    output: int = 0  # id of its result
    dim: int | None = None  # the axis of a reduction, counted from the end (-1: the last)
    shape: tuple[int, ...] = ()  # the main input's shape
    shapes: tuple[tuple[int, ...] | None, ...] = ()  # each operand's shape (None: not a tensor)
    out_shape: tuple[int, ...] | None = None
    labels: tuple[str | None, ...] = ()  # of each operand (None: unnamed)
    scalars: tuple[float | None, ...] = ()  # each operand's value when it is a Python number
    module: str | None = None  # op == "module": the sub-module's name
    peak: float = 0.0  # the largest finite |value| of the main input (reductions and unary ops)
    reflected: bool = False  # binary ops: operand 0 is the right-hand one (``1 - x`` calls ``x.__rsub__(1)``)
    function: str = ""  # the name of the function whose code made the call (``forward``, ``gelu_new``)

    def right(self) -> int:
        """The index of the right-hand operand of a binary op (the one subtracted, the divisor)."""
        return 0 if self.reflected else 1

    @property
    def ndim(self) -> int:
        return len(self.shape)


@dataclass
class Call:
    """A step as it happens in one run: its function and arguments, which a rewrite may change."""

    step: Step
    spec: OpSpec | None
    func: Callable
    args: list
    kwargs: dict

    def operand(self, i: int) -> Any:
        return self.args[self.spec.operands[i]] if self.spec.operands[i] < len(self.args) else None

    def run(self, operands: dict[int, Any] | None = None, dim: Any = ..., func: Callable | None = None) -> Any:
        """Call again, with some operands (by index in ``spec.operands``), the axis or the function replaced."""
        args, kwargs = list(self.args), dict(self.kwargs)
        for i, value in (operands or {}).items():
            args[self.spec.operands[i]] = value
        if dim is not ...:
            if "dim" in kwargs or len(args) <= self.spec.dim_pos:
                kwargs["dim"] = dim
            else:
                args[self.spec.dim_pos] = dim
        return (func or self.func)(*args, **kwargs)


class Rewrite:
    """What one wrong version does differently, at the sites it names; the default changes nothing.

    ``op`` gets each :class:`Call` at a site in ``sites`` and returns the result to use
    (``call.run()`` for the usual one). ``module_input`` and ``module_output`` see each
    sub-module call (``step.module`` its name) and may replace its input or its output.
    A rewrite may keep state within one run, so each run gets a fresh one; ``tracer`` is
    the run's :class:`Tracer` (to call a sub-module again, :meth:`Tracer.reapply`).
    """

    sites: frozenset = frozenset()
    every_call: bool = False  # see every call of the exercise's code, not only those at ``sites``
    tracer: Tracer | None = None

    def op(self, call: Call) -> Any:
        return call.run()

    def module_input(self, step: Step, module: torch.nn.Module, x: Tensor) -> Tensor:
        return x

    def module_output(self, step: Step, module: torch.nn.Module, x: Tensor, out: Tensor) -> Tensor:
        return out


def _caller(files: set[str] | None) -> tuple[str, int, str] | None:
    """The file, line and function of the code that made this torch call, looking through torch, einops and us."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_LOOK_THROUGH):
        frame = frame.f_back
    if frame is None or (files is not None and frame.f_code.co_filename not in files):
        return None
    return frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name


def _clip(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass
class Tracer(TorchFunctionMode):
    """Records the steps of a run (``steps``) and applies a :class:`Rewrite` at its sites."""

    files: set[str] | None  # the exercise's source files; None: any code outside torch and einops
    rewrite: Rewrite = field(default_factory=Rewrite)
    labels: dict[int, tuple[str, Any]] = field(default_factory=dict)  # id -> (label, the object, kept alive)
    scalars: dict[str, float] = field(default_factory=dict)  # named numbers: {"eps": 1e-5, "sqrt(d_head)": 2.2}
    steps: list[Step] = field(default_factory=list)
    depth: int = 0
    paused: bool = False  # while a rewrite re-applies a sub-module: nothing is recorded or changed
    _seen: dict[tuple, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__()
        self.rewrite.tracer = self

    # -- labels ---------------------------------------------------------------------------------

    def label(self, obj: Any) -> str | None:
        if isinstance(obj, (int, float)) and not isinstance(obj, bool):
            if obj in (-1, 0, 1, 2, 3, 4):  # a literal 1, 2 or 3 in the code, not a size that happens to be 3
                return None
            near = lambda v: abs(v - obj) <= 1e-9 * max(1.0, abs(v))  # noqa: E731
            return next((name for name, v in self.scalars.items() if near(v)),
                        next((f"1/{name}" for name, v in self.scalars.items() if v and near(1 / v)), None))
        entry = self.labels.get(id(obj))
        return entry[0] if entry is not None and entry[1] is obj else None

    def name(self, obj: Any, label: str) -> None:
        self.labels[id(obj)] = (label, obj)

    def restart(self) -> None:
        """Count occurrences afresh: the exercise's function is called again (a model exercise's second call)."""
        self._seen.clear()

    def occurrence(self, key: tuple) -> int:
        n = self._seen.get(key, 0)
        self._seen[key] = n + 1
        return n

    # -- the mode -------------------------------------------------------------------------------

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        spec = OPS.get(func)
        if spec is None or self.paused:
            out = func(*args, **kwargs)
            if args and (func in VIEWS or getattr(func, "__self__", None) in VIEW_DESCRIPTORS):
                source = self.label(args[0])
                if source is not None and isinstance(out, Tensor):
                    self.name(out, source)
            return out
        where = _caller(self.files)
        if where is None:
            return func(*args, **kwargs)
        key = (*where[:2], spec.name)
        call = Call(self._step(spec, key, args, kwargs), spec, func, list(args), kwargs)
        call.step.function = where[2]
        changed = self.rewrite.every_call or call.step.site in self.rewrite.sites
        out = self.rewrite.op(call) if changed else call.run()
        self._finish(call.step, out)
        return out

    def _step(self, spec: OpSpec, key: tuple, args: tuple, kwargs: dict) -> Step:
        operands = [args[i] if i < len(args) else None for i in spec.operands]
        if spec.name == "einsum":  # torch.einsum(equation, *operands) or (equation, [operands])
            operands = list(args[1]) if len(args) == 2 and isinstance(args[1], (list, tuple)) else list(args[1:])
        main = next((o for o in operands if isinstance(o, Tensor)), None)
        shape = tuple(main.shape) if main is not None else ()
        dim = kwargs.get("dim", args[spec.dim_pos] if spec.dim_pos is not None and spec.dim_pos < len(args) else None)
        if isinstance(dim, int) and shape:
            dim = dim - len(shape) if dim >= 0 else dim
        elif not isinstance(dim, int):
            dim = None
        peak = 0.0
        if spec.kind in ("reduce", "unary") and main is not None and main.is_floating_point() and main.numel():
            finite = main.detach()[torch.isfinite(main.detach())]
            peak = float(finite.abs().max()) if finite.numel() else 0.0
        return Step(site=(*key, self.occurrence(key)), op=spec.name, depth=self.depth, peak=peak,
                    reflected=spec.reflected,
                    inputs=tuple(id(o) if isinstance(o, Tensor) else None for o in operands), dim=dim, shape=shape,
                    shapes=tuple(tuple(o.shape) if isinstance(o, Tensor) else None for o in operands),
                    labels=tuple(self.label(o) for o in operands),
                    scalars=tuple(float(o) if isinstance(o, (int, float)) and not isinstance(o, bool) else None
                                  for o in operands))

    def _finish(self, step: Step, out: Any) -> None:
        first = out[0] if isinstance(out, tuple) and out and isinstance(out[0], Tensor) else out
        if isinstance(first, Tensor):
            step.output, step.out_shape = id(first), tuple(first.shape)
            self.labels.setdefault(id(first), (None, first))  # keeps it alive: ids stay unique in this run
            known = [lab for lab in step.labels if lab is not None]
            if step.op in ("add", "einsum", "matmul") and len(known) == 2 == len(step.labels):
                joiner = " + " if step.op == "add" else "·"
                self.name(first, _clip(joiner.join(f"({k})" if "+" in k and joiner == "·" else k for k in known)))
        self.steps.append(step)

    # -- sub-modules ----------------------------------------------------------------------------

    def watch(self, root: torch.nn.Module) -> list:
        """Hook every named sub-module of ``root``; returns the handles (``handle.remove()``)."""
        handles = []
        for name, module in root.named_modules():
            if name:
                handles.append(module.register_forward_pre_hook(self._pre_hook(name)))
                handles.append(module.register_forward_hook(self._post_hook(name)))
        return handles

    def _pre_hook(self, name: str):
        def hook(module, args):
            if self.paused or not args or not isinstance(args[0], Tensor):
                return None
            step = Step(site=("module", name, self.occurrence(("module", name))), op="module", depth=self.depth,
                        inputs=(id(args[0]),), shape=tuple(args[0].shape), labels=(self.label(args[0]),),
                        scalars=(None,), module=name)
            module._minigpt_step = step
            self.depth += 1
            x = self.rewrite.module_input(step, module, args[0])
            module._minigpt_input = x
            return (x, *args[1:]) if x is not args[0] else None

        return hook

    def _post_hook(self, name: str):
        def hook(module, args, out):
            step = getattr(module, "_minigpt_step", None)
            if self.paused or step is None or not isinstance(out, Tensor):
                return None
            self.depth -= 1
            module._minigpt_step = None
            new = self.rewrite.module_output(step, module, module._minigpt_input, out)
            self._finish(step, new)
            self.name(new, f"{name}(…)")
            return new

        return hook

    def reapply(self, module: torch.nn.Module, x: Tensor) -> Tensor:
        """``module(x)`` with nothing recorded or rewritten (a rewrite calling a sub-module again)."""
        self.paused = True
        try:
            return module(x)
        finally:
            self.paused = False
