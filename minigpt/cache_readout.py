"""Reading a stack of residual-stream pieces out through a LayerNorm and the unembedding.

The half of :class:`~minigpt.cache.ActivationCache`'s analysis that turns terms of the
residual stream into what the model reads: :meth:`CacheReadout.apply_ln_to_stack`
(each term through a LayerNorm whose scale is frozen at the cached ``hook_scale``, so
the terms still sum to the normalised whole) and :meth:`CacheReadout.logit_attrs`
(each term dotted with ``W_U[:, token]``: direct logit attribution), with the model-side
pieces they need (:func:`accumulated_bias`, :func:`tokens_to_residual_directions`).
The other half, taking the stream apart, is :mod:`minigpt.cache_analysis`. Names,
arguments and results are TransformerLens 3.9's.

>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=1, d_model=8, n_heads=2, d_mlp=8, d_vocab=10, n_ctx=4, seed=0))
>>> _, cache = model.run_with_cache(torch.tensor([[1, 2, 3]]))
>>> parts = cache.decompose_resid()                       # [n_components batch pos d_model]
>>> attrs = cache.logit_attrs(parts, tokens=torch.tensor([[2, 3, 4]]))
>>> attrs.shape                                           # one logit share per component and position
torch.Size([4, 1, 3])
"""

from __future__ import annotations

import operator

import einops
import torch
from torch import Tensor

from .functional import layer_norm
from .slice import Slice

__all__ = ["CacheReadout", "LayerOutOfRange", "accumulated_bias", "tokens_to_residual_directions"]


class LayerOutOfRange(KeyError):
    """A layer outside ``0..n_layers`` (or ``-1``/``None``); a ``KeyError``, as in TransformerLens."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


def accumulated_bias(model, layer: int, mlp_input: bool = False, include_mlp_biases: bool = True) -> Tensor:
    """``Σ_{l<layer} (b_O[l] + b_out[l])``, ``[d_model]``: the biases written before ``layer`` reads.

    ``mlp_input`` adds ``b_O[layer]`` (the MLP of ``layer`` reads it too);
    ``include_mlp_biases=False`` leaves out every ``b_out``.

    >>> from minigpt import GPT, GPTConfig
    >>> model = GPT(GPTConfig(n_layers=2, d_model=4, n_heads=1, d_vocab=5, n_ctx=4))
    >>> with torch.no_grad():
    ...     for block in model.blocks:
    ...         block.attn.b_O[:], block.mlp.b_out[:] = 1.0, 10.0
    >>> accumulated_bias(model, 1), accumulated_bias(model, 1, mlp_input=True, include_mlp_biases=False)
    (tensor([11., 11., 11., 11.]), tensor([2., 2., 2., 2.]))
    """
    bias = torch.zeros(model.cfg.d_model, device=model.W_E.device, dtype=model.W_E.dtype)
    for block in model.blocks[:layer]:
        bias += block.attn.b_O.detach()
        if include_mlp_biases and hasattr(block, "mlp"):  # attention-only blocks have no MLP
            bias += block.mlp.b_out.detach()
    if mlp_input:
        if not 0 <= layer < model.cfg.n_layers:
            raise LayerOutOfRange(f"mlp_input needs a block: layer must be in 0..{model.cfg.n_layers - 1}, got {layer}")
        bias += model.blocks[layer].attn.b_O.detach()
    return bias


def tokens_to_residual_directions(model, tokens) -> Tensor:
    """``W_U[:, tokens]``: the residual direction each token's logit reads, ``[*tokens.shape, d_model]``.

    ``tokens`` is a string of one token, an int, a one-element tensor (each gives
    ``[d_model]``) or a tensor of several tokens (``[batch]``, ``[batch pos]``).
    The final LayerNorm's ``w`` is not folded in (as in TransformerLens).
    """
    W_U = model.W_U.detach()  # [d_model d_vocab]
    if isinstance(tokens, Tensor) and tokens.numel() > 1:
        return einops.rearrange(W_U[:, tokens.to(W_U.device)], "d_model ... -> ... d_model")
    if isinstance(tokens, str):
        token = model.to_single_token(tokens)
    elif isinstance(tokens, int):
        token = tokens
    elif isinstance(tokens, Tensor) and tokens.numel() == 1:
        token = int(tokens.item())
    else:
        raise ValueError(f"tokens must be a string, an int or a tensor of token ids, got {type(tokens).__name__}")
    return W_U[:, token]


def _token_shape(tokens) -> torch.Size:
    return tokens.shape if isinstance(tokens, Tensor) else torch.Size([])

class CacheReadout:
    """The LayerNorm-and-logits methods, and the helpers every analysis method uses.

    They read the cache by name (``self[name]``, ``self._key``), the model's config and weights
    (``self.model``) and ``self.has_batch_dim``.
    """

    model = None
    has_batch_dim = True

    @property
    def _cfg(self):
        if self.model is None:
            raise ValueError("this cache does not know its model; make it with model.run_with_cache(...)")
        return self.model.cfg

    def _layer(self, layer) -> int:
        """``None`` and ``-1`` mean ``n_layers`` (the unembedding's input); else ``0..n_layers``."""
        n_layers = self._cfg.n_layers
        if layer is None or layer == -1:
            return n_layers
        layer = operator.index(layer)
        if not 0 <= layer <= n_layers:
            raise LayerOutOfRange(
                f"layer {layer} is out of range: use 0..{n_layers} (the input to that block; {n_layers} "
                "is the unembedding's input), -1 or None"
            )
        return layer

    def _read(self, *key) -> Tensor:
        """``self[key]``, failing fast (no name suggestions: these names are ours, not typed by a user)."""
        key = key[0] if len(key) == 1 else key
        if key not in self:
            raise KeyError(
                f"{self._key(key)!r} is not in the cache: names_filter may have left it out, or the "
                "model has no such activation (attention-only blocks have no resid_mid, ln2 or MLP)"
            )
        return self[key]
    # -- LayerNorm and logits ------------------------------------------------------------
    def apply_ln_to_stack(
        self, residual_stack: Tensor, layer=None, mlp_input: bool = False, pos_slice=None, batch_slice=None,
        has_batch_dim: bool = True, recompute_ln: bool = False,
    ) -> Tensor:
        """Each row as the LayerNorm of ``layer`` sees it: ``(row - mean(row)) / scale``, the scale cached.

        ``residual_stack``: ``[n_components *batch_and_pos d_model]`` (more leading axes
        are fine when ``batch_slice`` is ``None``). ``layer``: the block that reads it
        (``ln1``, or ``ln2`` with ``mlp_input``); ``n_layers``, ``-1`` or ``None``:
        ``ln_final``. ``pos_slice``/``batch_slice`` say which positions/rows the stack
        holds, to pick the matching scales (the stack itself is only batch-sliced, on
        axis 1, when ``has_batch_dim``). ``w`` and ``b`` are not applied, so the rows
        still sum to the normalised total. With ``recompute_ln`` at the unembedding, each
        row instead goes through ``ln_final`` whole, its own statistics and ``w``, ``b``
        included (the logit lens). A model without LayerNorm gets the stack back unchanged.
        """
        cfg = self._cfg
        if cfg.normalization_type not in ("LN", "LNPre"):
            return residual_stack
        pos_slice, batch_slice, layer = Slice.of(pos_slice), Slice.of(batch_slice), self._layer(layer)
        if has_batch_dim:
            residual_stack = batch_slice.apply(residual_stack, dim=1)
        if recompute_ln and layer == cfg.n_layers:
            ln = self.model.ln_final
            w, b = (getattr(ln, "w", None), getattr(ln, "b", None))
            w, b = (None, None) if w is None else (w.detach().to(residual_stack), b.detach().to(residual_stack))
            return layer_norm(residual_stack, w, b, ln.eps)
        centred = residual_stack - residual_stack.mean(dim=-1, keepdim=True)
        norm = "ln_final" if layer == cfg.n_layers else f"blocks.{layer}.ln{2 if mlp_input else 1}"
        scale = pos_slice.apply(self._read(f"{norm}.hook_scale"), dim=-2)  # [*batch_and_pos 1]
        if self.has_batch_dim:
            scale = batch_slice.apply(scale, dim=0)
        return centred / scale

    def logit_attrs(
        self, residual_stack: Tensor, tokens, incorrect_tokens=None, pos_slice=None, batch_slice=None,
        has_batch_dim: bool = True,
    ) -> Tensor:
        """How much each row of ``residual_stack`` adds to the logit of ``tokens``: ``[n_components *batch_and_pos]``.

        Each row goes through the final LayerNorm at its cached scale
        (:meth:`apply_ln_to_stack`) and is dotted with ``W_U[:, token]``; with
        ``incorrect_tokens`` (same shape as ``tokens``), with ``W_U[:, token] - W_U[:, incorrect]``:
        a logit difference. ``tokens``: a one-token string, an int, or a tensor whose shape
        matches the stack's batch and position axes (``[batch pos]``, or ``[batch]`` after a
        ``pos_slice`` of one position).
        """
        directions = tokens_to_residual_directions(self.model, tokens)
        if incorrect_tokens is not None:
            if _token_shape(tokens) != _token_shape(incorrect_tokens):
                raise ValueError(
                    f"tokens and incorrect_tokens must have the same shape, got {tuple(_token_shape(tokens))} "
                    f"and {tuple(_token_shape(incorrect_tokens))}"
                )
            directions = directions - tokens_to_residual_directions(self.model, incorrect_tokens)
        scaled = self.apply_ln_to_stack(
            residual_stack, -1, pos_slice=pos_slice, batch_slice=batch_slice, has_batch_dim=has_batch_dim
        )
        return (scaled * directions.to(scaled)).sum(dim=-1)
