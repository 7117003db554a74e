"""Path patching: the effect of some heads that reaches the output only through chosen receivers.

Activation patching a head measures its *total* effect, through every later component.
Path patching (Wang et al. 2022, "Interpretability in the Wild", §3.1 and Appendix B; ARENA
1.4.1) keeps only the paths ``sender → receiver``: the senders' change reaches the receivers'
named input (their queries, keys or values, or the residual stream) *directly*, through no
other attention head. Three runs, all on the **clean** prompt, the reference:

1. the clean and the corrupted runs, keeping every head's output ``z``;
2. the clean prompt with the **senders' outputs set to their corrupted values** and **every
   other head's output frozen to its clean value** (MLPs and LayerNorms recompute, as in the
   paper and ARENA, so ``sender → MLP → receiver`` counts as direct); the receivers' inputs
   are kept;
3. the clean prompt with **only the receivers' inputs** set to what run 2 gave them, and
   everything else computed afresh: ``metric(logits)`` is the result.

So it measures what corrupting the senders does through that path alone (compare it with
``metric`` on the clean logits). Receivers and ``receiver_input``:

- ``"q"``, ``"k"``, ``"v"``: ``receivers`` are ``(layer, head)`` pairs; their queries, keys or
  values (``blocks.L.attn.hook_q|k|v``) are patched. A head's query is a function of its
  query input alone (``ln1`` then ``W_Q``), so this equals patching the split input
  ``blocks.L.hook_q_input`` (``model.set_use_split_qkv_input(True)``) for those heads.
- ``"resid"``: ``receivers`` is ``"logits"`` (the final residual stream, read by
  ``ln_final`` and the unembedding: the senders' direct effect on the output) or a layer ``L``
  (the residual stream entering block ``L``, ``blocks.L.hook_resid_pre``, after which blocks
  ``L..`` compute afresh).

``senders`` are ``(layer, head)`` pairs: the output ``z`` of each (equivalently its
``hook_result``, ``z @ W_O``) is replaced. ``positions`` limits step 3 to some positions
(the IOI paper patches the name movers' queries at the last token only); all by default.

>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=2, d_model=16, n_heads=2, d_vocab=10, n_ctx=8, seed=0))
>>> clean, corrupted = torch.tensor([[1, 2, 3, 4]]), torch.tensor([[1, 5, 3, 4]])
>>> metric = lambda logits: logits[0, -1, 4]
>>> effect = path_patch(model, clean, corrupted, senders=[(0, 1)], receivers=[(1, 0)], metric=metric,
...                     receiver_input="q")
>>> float(effect) != metric(model(clean)).item()    # corrupting L0H1 moves the logit through L1H0's query
True
>>> same = path_patch(model, clean, clean, senders=[(0, 1)], receivers=[(1, 0)], metric=metric)
>>> abs(float(same) - metric(model(clean)).item()) < 1e-5   # nothing corrupted, nothing changes
True
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence, Union

import torch
from torch import Tensor

from ..cache import act_name

__all__ = ["path_patch"]

Head = tuple[int, int]  # (layer, head)
Receivers = Union[Sequence[Head], str, int]
RECEIVER_INPUTS = ("q", "k", "v", "resid")


def _check_heads(model, heads: Iterable[Head], what: str) -> list[Head]:
    heads = [(int(layer), int(head)) for layer, head in heads]
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    bad = [h for h in heads if not (0 <= h[0] < n_layers and 0 <= h[1] < n_heads)]
    if bad or not heads:
        raise ValueError(f"{what} must be (layer, head) pairs with layer < {n_layers} and head < {n_heads}, "
                         f"got {bad or 'none'}")
    return heads


def _receiver_hooks(model, receivers: Receivers, receiver_input: str) -> dict[str, list[int] | None]:
    """The hook names step 3 patches, each with the heads patched there (``None``: the whole activation)."""
    if receiver_input not in RECEIVER_INPUTS:
        raise ValueError(f"receiver_input must be one of {RECEIVER_INPUTS}, got {receiver_input!r}")
    if receiver_input == "resid":
        n_layers = model.cfg.n_layers
        if receivers == "logits" or receivers == n_layers:
            return {act_name("resid_post", n_layers - 1): None}
        if isinstance(receivers, int) and 0 <= receivers < n_layers:
            return {act_name("resid_pre", receivers): None}
        raise ValueError(f"with receiver_input='resid', receivers is 'logits' or a layer 0..{n_layers}, "
                         f"got {receivers!r}")
    hooks: dict[str, list[int]] = {}
    for layer, head in _check_heads(model, receivers, "receivers"):
        hooks.setdefault(act_name(receiver_input, layer), []).append(head)
    return hooks


def _as_batch(tokens: Tensor) -> Tensor:
    return tokens[None] if tokens.ndim == 1 else tokens


@torch.no_grad()
def path_patch(
    model,
    clean_tokens: Tensor,
    corrupted_tokens: Tensor,
    senders: Sequence[Head],
    receivers: Receivers,
    metric: Callable[[Tensor], Tensor],
    receiver_input: str = "q",
    *,
    positions: Sequence[int] | slice | None = None,
):
    """``metric`` of the clean run whose receivers' ``receiver_input`` sees the senders corrupted, directly.

    ``clean_tokens``, ``corrupted_tokens``: ``[batch pos]`` (or ``[pos]``), the same shape;
    ``senders``: ``(layer, head)`` pairs; ``receivers``: ``(layer, head)`` pairs for
    ``receiver_input`` ``"q"``, ``"k"`` or ``"v"``, and ``"logits"`` or a layer for
    ``"resid"`` (see the module docstring); ``metric``: logits ``[batch pos d_vocab]`` → a
    value, returned as it comes; ``positions``: where the receivers' inputs are patched
    (default: everywhere).
    """
    clean, corrupted = _as_batch(clean_tokens), _as_batch(corrupted_tokens)
    if clean.shape != corrupted.shape:
        raise ValueError(f"clean and corrupted tokens must have the same shape, got {tuple(clean.shape)} "
                         f"and {tuple(corrupted.shape)}")
    senders = _check_heads(model, senders, "senders")
    receiver_hooks = _receiver_hooks(model, receivers, receiver_input)
    where = slice(None) if positions is None else positions

    # 1. every head's output on both prompts
    z_names = [act_name("z", layer) for layer in range(model.cfg.n_layers)]
    _, clean_cache = model.run_with_cache(clean, names_filter=z_names)
    _, corrupted_cache = model.run_with_cache(corrupted, names_filter=z_names)

    # 2. senders corrupted, every other head frozen clean; keep the receivers' inputs
    def freeze(z: Tensor, hook) -> Tensor:  # [batch pos n_heads d_head]
        z = clean_cache[hook.name].clone()
        for layer, head in senders:
            if hook.name == act_name("z", layer):
                z[:, :, head] = corrupted_cache[hook.name][:, :, head]
        return z

    with model.hooks(fwd_hooks=[(name, freeze) for name in z_names]):
        _, sent = model.run_with_cache(clean, names_filter=list(receiver_hooks))

    # 3. the clean run with only the receivers' inputs patched
    def patch(activation: Tensor, hook) -> Tensor:  # [batch pos n_heads d_head] or [batch pos d_model]
        activation = activation.clone()
        heads = receiver_hooks[hook.name]
        if heads is None:
            activation[:, where] = sent[hook.name][:, where]
        else:
            for head in heads:
                activation[:, where, head] = sent[hook.name][:, where, head]
        return activation

    logits = model.run_with_hooks(clean, fwd_hooks=[(name, patch) for name in receiver_hooks])
    return metric(logits)
