"""Ablation: switch a head off and see what breaks.

A head's output at a position is ``z @ W_O`` with ``z: [d_head]`` (its
pattern-weighted values, ``blocks.{L}.attn.hook_z``). Ablating the head
replaces its ``z``:

- **zero ablation** by zeros (the head writes nothing but ``b_O``'s share);
- **mean ablation** by its mean over a batch (the head writes what it writes
  on average, so only the information specific to each input is removed).

The hooks below plug into ``model.run_with_hooks``::

    hook = ("blocks.1.attn.hook_z", zero_ablation_hook(head=2))
    loss = model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[hook])

:func:`ablation_scores` ablates every head in turn and returns the loss
increase, ``[n_layers, n_heads]``: large for heads the task needs.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import Tensor

from .losses import repeat_positions

__all__ = ["ablate_heads", "ablation_hooks", "ablation_scores", "mean_ablation_hook", "zero_ablation_hook"]


def zero_ablation_hook(head: int | list[int]) -> Callable:
    """A ``hook_z`` hook that sets ``z[:, :, head] = 0`` (``z: [batch pos n_heads d_head]``)."""

    def hook(z: Tensor, hook=None) -> Tensor:
        z = z.clone()
        z[:, :, head] = 0.0
        return z

    return hook


def mean_ablation_hook(head: int | list[int], mean: Tensor | None = None) -> Callable:
    """A ``hook_z`` hook that replaces ``z[:, :, head]`` by a mean.

    ``mean``: ``[pos, d_head]`` or ``[d_head]`` (e.g. averaged over a reference
    batch), or ``None`` for the mean over the batch being run, at each position.
    """

    def hook(z: Tensor, hook=None) -> Tensor:
        z = z.clone()
        value = z[:, :, head].mean(dim=0, keepdim=True) if mean is None else mean.to(z)
        z[:, :, head] = value.expand_as(z[:, :, head])
        return z

    return hook


def ablation_hooks(heads: Iterable[tuple[int, int]], kind: str = "zero") -> list[tuple[str, Callable]]:
    """``fwd_hooks`` for ``run_with_hooks`` ablating each ``(layer, head)`` in ``heads`` (``kind``: zero/mean)."""
    make = {"zero": zero_ablation_hook, "mean": mean_ablation_hook}.get(kind)
    if make is None:
        raise ValueError(f"kind must be 'zero' or 'mean', got {kind!r}")
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)
    return [(f"blocks.{layer}.attn.hook_z", make(hs)) for layer, hs in sorted(by_layer.items())]


@torch.no_grad()
def ablate_heads(model, tokens: Tensor, heads: Iterable[tuple[int, int]], kind: str = "zero") -> Tensor:
    """Per-token loss ``[batch, pos - 1]`` with the given ``(layer, head)`` pairs ablated together."""
    return model.run_with_hooks(tokens, return_type="loss", loss_per_token=True,
                                fwd_hooks=ablation_hooks(heads, kind))


@torch.no_grad()
def ablation_scores(model, tokens: Tensor, kind: str = "zero", positions: slice | Tensor | str | None = None,
                    seq_len: int | None = None) -> Tensor:
    """Loss increase when each head alone is ablated: ``[n_layers, n_heads]``.

    ``positions`` picks the entries of the per-token loss ``[batch, pos - 1]``
    to average: ``None`` (all), ``"repeat"`` (the predictable part of a
    repeated sequence, see :func:`minigpt.interp.losses.repeat_positions`), a
    slice, or a bool mask ``[batch, pos - 1]``.
    """
    if isinstance(positions, str):
        if positions != "repeat":
            raise ValueError(f"positions: None, 'repeat', a slice or a bool mask; got {positions!r}")
        positions = repeat_positions(tokens.shape[-1], seq_len)

    def loss(per_token: Tensor) -> Tensor:
        if positions is None:
            return per_token.mean()
        if isinstance(positions, Tensor):
            return per_token[positions].mean()
        return per_token[:, positions].mean()

    clean = loss(model(tokens, return_type="loss", loss_per_token=True))
    cfg = model.cfg
    scores = torch.zeros(cfg.n_layers, cfg.n_heads)
    for layer in range(cfg.n_layers):
        for head in range(cfg.n_heads):
            scores[layer, head] = loss(ablate_heads(model, tokens, [(layer, head)], kind)) - clean
    return scores
