"""Splicing an SAE into a model: the activation at a hook is replaced by the SAE's reconstruction.

The model runs as usual up to ``hook_name`` (say ``blocks.1.mlp.hook_post``); there the activation ``x``
goes through the SAE and ``x_hat`` goes on in its place. The SAE's own hooks fire on the way, so they can be
read or patched; by the convention of SAELens's ``HookedSAETransformer``, :func:`run_with_sae` and
:func:`run_with_cache_with_sae` name them after the splice point, ``blocks.1.mlp.hook_post.hook_sae_acts_post``.

>>> from minigpt import GPT, GPTConfig
>>> from minigpt.sae import SAE
>>> model = GPT(GPTConfig(n_layers=1, d_model=8, d_mlp=16, n_heads=2, d_vocab=10, n_ctx=6, seed=0))
>>> sae = SAE(d_in=16, d_sae=32, kind="topk", k=4, hook_name="blocks.0.mlp.hook_post")
>>> tokens = torch.tensor([[1, 2, 3, 4]])
>>> loss = run_with_sae(model, tokens, sae)                        # the SAE's x_hat replaces hook_post
>>> _, cache = run_with_cache_with_sae(model, tokens, sae)
>>> cache["blocks.0.mlp.hook_post.hook_sae_acts_post"].shape     # [batch pos d_sae]
torch.Size([1, 4, 32])
>>> with_error = run_with_sae(model, tokens, sae, use_error_term=True)
>>> torch.allclose(with_error, model(tokens, return_type="loss"))  # x_hat + error = x: unchanged
True
>>> kill_all = lambda acts, hook: torch.zeros_like(acts)          # a patch inside the SAE, by its spliced name
>>> ablated = run_with_sae(model, tokens, sae, use_error_term=True,
...                        fwd_hooks=[("blocks.0.mlp.hook_post.hook_sae_acts_post", kill_all)])
>>> bool(ablated != with_error)                                    # now the latents' share is gone
True
"""

from __future__ import annotations

import contextlib
from typing import Iterable, Iterator

import torch
from torch import Tensor

from ..cache import ActivationCache

__all__ = ["model_activations", "run_with_cache_with_sae", "run_with_sae", "spliced"]


def _hook_name(sae, hook_name: str | None) -> str:
    name = hook_name or sae.cfg.hook_name
    if name is None:
        raise ValueError("name the hook to splice at (hook_name='blocks.1.mlp.hook_post'): this SAE records none")
    return name


@contextlib.contextmanager
def spliced(model, sae, hook_name: str | None = None, use_error_term: bool = False) -> Iterator:
    """Inside the ``with``, every forward of ``model`` runs ``sae`` at ``hook_name`` (default: ``sae.cfg.hook_name``).

    ``use_error_term``: add back ``x - x_hat`` (through ``hook_sae_error``), so the output is ``x`` exactly
    unless a hook inside the SAE changed something: an edit of a latent then moves only that latent's share.
    """
    def replace(x: Tensor, hook) -> Tensor:
        return sae(x.to(sae.W_dec.dtype), use_error_term=use_error_term).to(x.dtype)

    with model.hooks(fwd_hooks=[(_hook_name(sae, hook_name), replace)]):
        yield model


def _split_hooks(fwd_hooks: Iterable, prefix: str) -> tuple[list, list]:
    """``(model's hooks, SAE's hooks)``: names starting with ``prefix + "."`` belong to the SAE, unprefixed."""
    ours, theirs = [], []
    for name, fn in fwd_hooks:
        if isinstance(name, str) and name.startswith(prefix + "."):
            theirs.append((name[len(prefix) + 1:], fn))
        else:
            ours.append((name, fn))
    return ours, theirs


def run_with_sae(model, tokens: Tensor, sae, hook_name: str | None = None, *, return_type: str | None = "loss",
                 use_error_term: bool = False, fwd_hooks: Iterable = ()):
    """``model(tokens, return_type=...)`` with ``sae`` spliced in at ``hook_name``.

    ``fwd_hooks`` may name the model's hooks and the SAE's, the latter after the splice point
    (``"blocks.1.mlp.hook_post.hook_sae_acts_post"``).
    """
    name = _hook_name(sae, hook_name)
    model_hooks, sae_hooks = _split_hooks(fwd_hooks, name)
    with sae.hooks(fwd_hooks=sae_hooks), model.hooks(fwd_hooks=model_hooks), spliced(model, sae, name, use_error_term):
        return model(tokens, return_type=return_type)


def run_with_cache_with_sae(model, tokens: Tensor, sae, hook_name: str | None = None, *,
                            return_type: str | None = "logits", use_error_term: bool = False,
                            names_filter=None) -> tuple[object, ActivationCache]:
    """Like ``model.run_with_cache`` with ``sae`` spliced in; the cache holds the SAE's activations too,
    named ``f"{hook_name}.hook_sae_acts_post"`` and so on. ``names_filter`` picks among all those names."""
    name = _hook_name(sae, hook_name)
    sae_names = [f"{name}.{n}" for n in sae.hook_names()]
    wanted = _wanted(names_filter, list(model.hook_names()) + sae_names)
    store: dict[str, Tensor] = {}

    def save(x: Tensor, hook) -> None:
        store[f"{name}.{hook.name}"] = x.detach()

    sae_fwd = [(n[len(name) + 1:], save) for n in sae_names if n in wanted]
    model_names = [n for n in model.hook_names() if n in wanted]
    with sae.hooks(fwd_hooks=sae_fwd), spliced(model, sae, name, use_error_term):
        out, cache = model.run_with_cache(tokens, return_type=return_type, names_filter=model_names)
    merged = {n: cache[n] for n in cache}
    merged.update(store)
    return out, ActivationCache(merged, model=model)


def _wanted(names_filter, names: list[str]) -> set[str]:
    if names_filter is None:
        return set(names)
    if isinstance(names_filter, str):
        return {names_filter}
    if callable(names_filter):
        return {n for n in names if names_filter(n)}
    return set(names_filter)


@torch.no_grad()
def model_activations(model, tokens: Tensor, hook_name: str, batch_size: int = 32) -> Tensor:
    """The activation at ``hook_name`` on ``tokens [batch pos]``: ``[batch pos ...]`` (what an SAE trains on)."""
    out = []
    for chunk in tokens.split(batch_size):
        _, cache = model.run_with_cache(chunk, return_type=None, names_filter=hook_name)
        out.append(cache[hook_name])
    return torch.cat(out)
