"""Running an exercise's reference on one case under a :class:`~.trace.Tracer`, as ``check`` would call it.

The probe knows the four kinds of exercise (see :mod:`minigpt.grading.registry`): a
function is called with the case's keywords; a module is built from ``cfg``, loaded with
``state_dict`` and called with the rest; a sampler's reference is its probability table
(``expected_fn``); a model exercise runs through :func:`~minigpt.grading._child.call_with_model`.
It names what a diagnosis may mention: the case's tensors and numbers by their keyword,
a module's parameters by their name, and the sizes behind them (``d_model``, ``d_head``, ...).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor

from ..registry import Case, Exercise
from .trace import Rewrite, Tracer

# minigpt's axis names for the arguments the exercises take, aligned to the last axes
AXES = {"W_E": ("d_vocab", "d_model"), "W_pos": ("n_ctx", "d_model"), "W_U": ("d_model", "d_vocab"),
        "W_in": ("d_model", "d_mlp"), "W_out": ("d_mlp", "d_model"), "b_in": ("d_mlp",), "b_out": ("d_model",),
        "w": ("d_model",), "b": ("d_model",), "logits": ("d_vocab",), "tokens": ("batch", "pos")}
SIZES = ("d_model", "d_head", "n_heads", "d_mlp", "d_vocab", "n_ctx", "n_layers", "batch", "pos")


@dataclass
class Probe:
    ex: Exercise
    fn: Callable  # the reference: a function, a class, or a sampler's probability table
    files: set[str]  # where its code lives: steps are calls made from these files

    @classmethod
    def of(cls, ex: Exercise) -> Probe:
        from ..reference import reference

        fn = ex.expected_fn or reference(ex)
        return cls(ex, fn, {inspect.getsourcefile(fn)})

    @property
    def entry(self) -> str:
        """The name of the exercise's own function: steps made elsewhere are in helpers."""
        return "forward" if self.ex.kind == "module" else self.fn.__name__

    # -- names --------------------------------------------------------------------------------

    def sizes(self, case: Case) -> dict[str, int]:
        """The named sizes of a case: a module's config fields, or the axes of known arguments."""
        if "cfg" in case:
            from ...config import GPTConfig

            cfg = GPTConfig(**case["cfg"])
            return {name: getattr(cfg, name) for name in SIZES if isinstance(getattr(cfg, name, None), int)}
        sizes: dict[str, int] = {}
        for key, value in case.items():
            if isinstance(value, Tensor) and key in AXES and value.ndim >= len(AXES[key]):
                for axis, n in zip(AXES[key], value.shape[value.ndim - len(AXES[key]):]):
                    sizes.setdefault(axis, int(n))
        return sizes

    def constants(self, case: Case) -> dict[str, float]:
        """Every number a diagnosis may name: the case's numbers by keyword, the sizes and their square roots."""
        named = {k: float(v) for k, v in case.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                 and k != "seed"}
        for name, n in self.sizes(case).items():
            named.setdefault(name, float(n))
        named.update({f"sqrt({k})": math.sqrt(v) for k, v in list(named.items()) if v > 0 and k in SIZES})
        return named

    def inputs(self, case: Case) -> list[str]:
        """The case's tensors that are the exercise's inputs (not weights): ``x``, ``resid``, ``tokens``, ``logits``."""
        return [k for k, v in case.items() if isinstance(v, Tensor) and k != "state_dict"
                and (self.ex.kind == "module" or not (k[:2] in ("W_", "b_") or k in ("w", "b")))]

    # -- running ------------------------------------------------------------------------------

    def run(self, case: Case, rewrite: Rewrite | None = None) -> tuple[Any, Tracer]:
        """The reference's output on ``case`` (``rewrite`` applied), and the tracer that watched it."""
        tracer = Tracer(self.files, rewrite or Rewrite(), scalars=self.constants(case))
        kwargs = dict(case)
        if self.ex.kind == "model":  # one call per dict of ``calls``: each call's steps have the same sites
            from .._child import call_with_model

            def each_call(**call_kwargs):
                tracer.restart()
                return self.fn(**call_kwargs)

            with tracer:
                return call_with_model(each_call, kwargs), tracer
        if self.ex.kind == "module":
            from ...config import GPTConfig

            module = self.fn(GPTConfig(**kwargs.pop("cfg")))
            module.load_state_dict(kwargs.pop("state_dict"))
            for name, p in module.named_parameters():
                tracer.name(p, name)
            handles = tracer.watch(module)
            call: Callable = module
        else:
            handles, call = [], self.fn
            if self.ex.kind == "sampler" and "seed" in kwargs:
                kwargs["generator"] = torch.Generator().manual_seed(kwargs.pop("seed"))
        for key, value in kwargs.items():
            if isinstance(value, Tensor):
                tracer.name(value, key)
        try:
            with torch.no_grad(), tracer:
                out = call(**kwargs)
        finally:
            for handle in handles:
                handle.remove()
        if self.ex.kind == "sampler" and isinstance(out, Tensor):  # multinomial renormalises each row
            out = out / out.sum(dim=-1, keepdim=True)
        return out, tracer
