"""Hook points: named identity modules where activations can be read or changed.

Every interesting activation in :class:`minigpt.GPT` passes through a
``HookPoint`` (``x = self.hook_q(x)``). With no hook attached a HookPoint is
a plain identity call; attach a function and it sees (and may replace) the
activation::

    def zero_head_0(z, hook):          # z: [batch pos n_heads d_head]
        z[:, :, 0] = 0
        return z

    logits = model.run_with_hooks(tokens, fwd_hooks=[("blocks.1.attn.hook_z", zero_head_0)])

Names follow TransformerLens (``blocks.{L}.attn.hook_pattern``, ...).

A hook that returns ``None`` only reads; one that returns a tensor replaces
the activation:

>>> hook_point = HookPoint()
>>> shapes = []
>>> remove = hook_point.add_hook(lambda x, hook: shapes.append(tuple(x.shape)))  # reads
>>> hook_point(torch.zeros(2, 3)).shape, shapes
(torch.Size([2, 3]), [(2, 3)])
>>> remove()
>>> _ = hook_point.add_hook(lambda x, hook: x + 1)                                # replaces
>>> hook_point(torch.zeros(2))
tensor([1., 1.])

On a model, by name, for one call:

>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=1, d_model=8, n_heads=2, d_vocab=10, n_ctx=4, seed=0))
>>> seen = []
>>> _ = model.run_with_hooks(
...     torch.tensor([[1, 2, 3]]),
...     fwd_hooks=[("blocks.0.attn.hook_pattern", lambda pattern, hook: seen.append(pattern.detach()))],
... )
>>> seen[0].shape                                # [batch n_heads query_pos key_pos]
torch.Size([1, 2, 3, 3])
>>> seen[0][0, 0, 0]                             # the first query can only attend to itself
tensor([1., 0., 0.])
"""

from __future__ import annotations

import contextlib
import difflib
from typing import Callable, Iterable, Iterator, Union

import torch
from torch import Tensor, nn

from .cache import ActivationCache

HookFn = Callable[..., Union[Tensor, None]]  # fn(activation, hook=HookPoint) -> Tensor | None
NameOrFilter = Union[str, Callable[[str], bool]]


class HookPoint(nn.Module):
    """An identity module that hooks attach to: ``hook_fn(activation, hook=self)``."""

    def __init__(self) -> None:
        super().__init__()
        self.name: str | None = None  # set by HookedModule.setup_hooks()
        self._fwd_fns: list[HookFn] = []
        self._bwd_fns: list[HookFn] = []

    @property
    def has_hooks(self) -> bool:
        return bool(self._fwd_fns or self._bwd_fns)

    def add_hook(self, fn: HookFn, dir: str = "fwd") -> Callable[[], None]:
        """Attach ``fn``; returns a function that removes it again."""
        fns = {"fwd": self._fwd_fns, "bwd": self._bwd_fns}.get(dir)
        if fns is None:
            raise ValueError(f"dir must be 'fwd' or 'bwd', got {dir!r}")
        fns.append(fn)

        def remove() -> None:
            if fn in fns:
                fns.remove(fn)

        return remove

    def remove_hooks(self, dir: str = "both") -> None:
        if dir in ("fwd", "both"):
            self._fwd_fns.clear()
        if dir in ("bwd", "both"):
            self._bwd_fns.clear()

    def forward(self, x: Tensor) -> Tensor:
        if not (self._fwd_fns or self._bwd_fns):
            return x
        for fn in list(self._fwd_fns):
            out = fn(x, hook=self)
            if out is not None:
                if not isinstance(out, Tensor):
                    raise TypeError(
                        f"hook {getattr(fn, '__name__', fn)!r} on {self.name} returned "
                        f"{type(out).__name__}; return a Tensor or None"
                    )
                x = out
        if self._bwd_fns and x.requires_grad:
            x = x.view_as(x)  # a fresh node, so the gradient hook belongs to this point
            for fn in list(self._bwd_fns):
                x.register_hook(lambda grad, fn=fn: fn(grad, hook=self))
        return x

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


class HookedModule(nn.Module):
    """Mixin for the root model: finds its HookPoints and runs with hooks or a cache."""

    def setup_hooks(self) -> None:
        self.hook_dict: dict[str, HookPoint] = {}
        for name, module in self.named_modules():
            if isinstance(module, HookPoint):
                module.name = name
                self.hook_dict[name] = module

    # -- resolving names ---------------------------------------------------------------
    def hook_names(self) -> list[str]:
        return list(self.hook_dict)

    def _resolve(self, name_or_filter: NameOrFilter) -> list[HookPoint]:
        if callable(name_or_filter):
            return [hp for name, hp in self.hook_dict.items() if name_or_filter(name)]
        if name_or_filter in self.hook_dict:
            return [self.hook_dict[name_or_filter]]
        close = difflib.get_close_matches(name_or_filter, self.hook_dict, n=3, cutoff=0.5)
        hint = self._missing_hook_hint(name_or_filter)
        hint = hint or (f" Did you mean {' or '.join(map(repr, close))}?" if close else "")
        raise KeyError(
            f"no hook point named {name_or_filter!r}.{hint} "
            f"(model.hook_names() lists all {len(self.hook_dict)})"
        )

    def _missing_hook_hint(self, name: str) -> str:
        """A hint for an unknown hook name (e.g. which flag adds it); subclasses override."""
        return ""

    # -- attaching -----------------------------------------------------------------------
    @contextlib.contextmanager
    def hooks(
        self,
        fwd_hooks: Iterable[tuple[NameOrFilter, HookFn]] = (),
        bwd_hooks: Iterable[tuple[NameOrFilter, HookFn]] = (),
    ) -> Iterator["HookedModule"]:
        """Context manager: the hooks are attached inside and removed on exit, even on error."""
        removers: list[Callable[[], None]] = []
        try:
            for direction, pairs in (("fwd", fwd_hooks), ("bwd", bwd_hooks)):
                for name_or_filter, fn in pairs:
                    for hp in self._resolve(name_or_filter):
                        removers.append(hp.add_hook(fn, dir=direction))
            yield self
        finally:
            for remove in removers:
                remove()

    def reset_hooks(self) -> None:
        """Remove every hook from every hook point."""
        for hp in self.hook_dict.values():
            hp.remove_hooks()

    def run_with_hooks(self, *args, fwd_hooks=(), bwd_hooks=(), **kwargs):
        """``self(*args, **kwargs)`` with the hooks attached for this call only.

        A backward hook is fastened to the activation's gradient during this
        forward pass, so it fires when you later call ``.backward()`` on the
        output (once per backward); later forward passes do not see it.
        """
        with self.hooks(fwd_hooks=fwd_hooks, bwd_hooks=bwd_hooks):
            return self(*args, **kwargs)

    def derived_activations(self, names: Iterable[str]) -> dict[str, tuple[str, Callable[[Tensor], Tensor]]]:
        """Those of ``names`` a cache can compute later from another activation: ``{name: (source, fn)}``.

        Subclasses override this. ``run_with_cache`` caches ``source`` and calls
        ``fn(source_activation)`` only when ``name`` is first read, so big
        activations that are rarely looked at cost nothing until they are.
        """
        return {}

    def run_with_cache(
        self,
        *args,
        names_filter: NameOrFilter | Iterable[str] | None = None,
        device: torch.device | str | None = None,
        incl_bwd: bool = False,
        remove_batch_dim: bool = False,
        **kwargs,
    ):
        """Run the model and keep every activation named by ``names_filter``.

        Returns ``(output, ActivationCache)``. With ``incl_bwd=True`` the output
        is backpropagated (``output.sum()`` unless it is a scalar loss) and the
        gradients are cached under ``name + "_grad"``. Per-head results
        (``hook_result``) are computed from ``hook_z`` when first read.
        """
        names = self._filter_names(names_filter)
        derived = {} if incl_bwd else {
            name: recipe for name, recipe in self.derived_activations(names).items()
            if not self.hook_dict[name].has_hooks  # a user's hook may change it: compute it for real
        }
        hooked = [n for n in names if n not in derived]
        hooked += [src for src, _ in derived.values() if src not in hooked]
        store: dict[str, Tensor] = {}

        def save(x: Tensor, hook: HookPoint) -> None:
            store[hook.name] = x.detach().to(device) if device is not None else x.detach()

        def save_grad(g: Tensor, hook: HookPoint) -> None:
            store[hook.name + "_grad"] = g.detach().to(device) if device is not None else g.detach()

        fwd = [(n, save) for n in hooked]
        bwd = [(n, save_grad) for n in names] if incl_bwd else []
        with self.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
            if incl_bwd:
                with torch.enable_grad():
                    out = self(*args, **kwargs)
                    loss = out if out.ndim == 0 else out.sum()
                    loss.backward()
            else:
                out = self(*args, **kwargs)
        lazy = {name: (store[src], fn) for name, (src, fn) in derived.items()}
        for src in set(hooked) - set(names):  # sources nobody asked for stay out of the cache's keys
            store.pop(src)
        cache = ActivationCache(store, n_layers=getattr(self.cfg, "n_layers", None), lazy=lazy, model=self)
        if remove_batch_dim:
            cache = cache.remove_batch_dim()
        return out, cache

    def _filter_names(self, names_filter) -> list[str]:
        if names_filter is None:
            return list(self.hook_dict)
        if isinstance(names_filter, str):
            return [hp.name for hp in self._resolve(names_filter)]
        if callable(names_filter):
            return [n for n in self.hook_dict if names_filter(n)]
        names = list(names_filter)
        for n in names:
            self._resolve(n)  # raises with a suggestion for unknown names
        return names
