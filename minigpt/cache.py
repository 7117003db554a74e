"""``ActivationCache``: the activations of one forward pass, by name.

Besides full names, a cache takes TransformerLens's short keys:
``(name, layer)``, or ``(name, layer, "ln1" | "ln2")`` for a LayerNorm.

>>> act_name("pattern", 0)
'blocks.0.attn.hook_pattern'
>>> act_name("normalized", 1, "ln2"), act_name("embed")
('blocks.1.ln2.hook_normalized', 'hook_embed')
>>> cache = ActivationCache(
...     {"blocks.0.hook_resid_post": torch.zeros(1, 3, 4), "blocks.1.hook_resid_post": torch.ones(1, 3, 4)},
...     n_layers=2,
... )
>>> cache["resid_post", -1] is cache["blocks.1.hook_resid_post"]  # negative layers count from the end
True
>>> cache.stack("resid_post").shape                               # [n_layers batch pos d_model]
torch.Size([2, 1, 3, 4])
"""

from __future__ import annotations

from typing import Callable, Iterator, Mapping

import torch
from torch import Tensor

from .cache_analysis import CacheAnalysis

_ATTN = {"q", "k", "v", "z", "attn_scores", "pattern", "result"}
_MLP = {"pre", "post", "pre_linear"}
_BLOCK = {"resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out"}
_LN = {"scale", "normalized"}
_ALIASES = {"attn": "pattern", "attn_logits": "attn_scores"}


def act_name(name: str, layer: int | None = None, layer_type: str | None = None) -> str:
    """The full hook name for a short one: ``act_name("pattern", 0)`` → ``blocks.0.attn.hook_pattern``."""
    if "." in name or name.startswith("hook_"):
        return name
    name = _ALIASES.get(name, name)
    if layer is None:
        if name in _LN:
            return f"ln_final.hook_{name}"
        return f"hook_{name}"
    if name in _ATTN:
        return f"blocks.{layer}.attn.hook_{name}"
    if name in _MLP:
        return f"blocks.{layer}.mlp.hook_{name}"
    if name in _LN:
        return f"blocks.{layer}.{layer_type or 'ln1'}.hook_{name}"
    return f"blocks.{layer}.hook_{name}"


class ActivationCache(CacheAnalysis, Mapping[str, Tensor]):
    """A read-only mapping from hook names to the activations they saw.

    ``model`` is the model that made it (``run_with_cache`` passes itself): the
    analysis methods of :mod:`minigpt.cache_analysis` (``accumulated_resid``,
    ``decompose_resid``, ``logit_attrs``, ...) read its config and weights.
    ``has_batch_dim`` is ``False`` after :meth:`remove_batch_dim`.

    Some entries may be *lazy*: ``lazy[name] = (source, fn)`` is computed as
    ``fn(source)`` the first time it is read (the per-head attention results,
    ``[batch pos n_heads d_model]``, are ``n_heads`` times the size of
    ``attn_out``, and most analyses never read them).
    """

    def __init__(
        self, store: dict[str, Tensor], n_layers: int | None = None,
        lazy: dict[str, tuple[Tensor, Callable[[Tensor], Tensor]]] | None = None,
        *, model=None, has_batch_dim: bool = True,
    ) -> None:
        self._store = store
        self._lazy = dict(lazy or {})
        self.model = model
        self.n_layers = model.cfg.n_layers if n_layers is None and model is not None else n_layers
        self.has_batch_dim = has_batch_dim

    def _key(self, key) -> str:
        if isinstance(key, str):
            return act_name(key) if key not in self._store else key
        if isinstance(key, tuple) and key and isinstance(key[0], str):
            name, layer, layer_type = (list(key) + [None, None])[:3]
            if isinstance(layer, int) and layer < 0:
                if self.n_layers is None:
                    raise KeyError(f"negative layer {layer} needs the cache to know n_layers")
                layer += self.n_layers
            return act_name(name, layer, layer_type)
        raise KeyError(f"cache keys are names or (name, layer[, layer_type]) tuples, got {key!r}")

    def _names(self) -> list[str]:
        return list(self._store) + [n for n in self._lazy if n not in self._store]

    def __getitem__(self, key) -> Tensor:
        full = self._key(key)
        if full in self._lazy and full not in self._store:
            source, fn = self._lazy.pop(full)
            with torch.no_grad():
                self._store[full] = fn(source)
        if full not in self._store:
            import difflib

            close = difflib.get_close_matches(full, self._names(), n=3, cutoff=0.5)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise KeyError(
                f"{full!r} is not in the cache ({len(self)} activations were cached; "
                f"check names_filter).{hint}"
            )
        return self._store[full]

    def __contains__(self, key) -> bool:
        try:
            full = self._key(key)
        except KeyError:
            return False
        return full in self._store or full in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return f"ActivationCache({len(self)} activations: {', '.join(self._names()[:4])}, ...)"

    def to(self, device) -> ActivationCache:
        """A copy on ``device`` (lazy entries are computed first)."""
        store = {k: self[k].to(device) for k in self._names()}
        return ActivationCache(store, self.n_layers, model=self.model, has_batch_dim=self.has_batch_dim)

    def remove_batch_dim(self) -> ActivationCache:
        """Drop a batch axis of size one from every activation."""
        if not self.has_batch_dim:
            raise ValueError("this cache has no batch axis left to remove")
        out = {}
        for k in self._names():
            v = self[k]
            if v.ndim == 0 or v.shape[0] != 1:
                raise ValueError(f"{k} has batch size {tuple(v.shape)[:1]}, not 1: cannot remove it")
            out[k] = v[0]
        return ActivationCache(out, self.n_layers, model=self.model, has_batch_dim=False)

    def stack(self, name: str) -> Tensor:
        """``cache.stack("pattern")``: one activation across layers, ``[n_layers, ...]``."""
        if self.n_layers is None:
            raise ValueError("this cache does not know n_layers")
        return torch.stack([self[name, layer] for layer in range(self.n_layers)])
