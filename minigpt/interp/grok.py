"""A grokking model's activations over every input pair, ready for the Fourier tools.

The model reads ``a b =`` and answers at ``=``. Run it once on all ``p**2``
pairs (:func:`minigpt.data.all_pairs`, row ``a * p + b``) and every activation
at ``=`` becomes a function of ``(a, b)``: a ``[p, p, ...]`` grid that
:func:`~minigpt.interp.fourier.fft2d` reads.

>>> from minigpt import GPT
>>> from minigpt.grokking_model import grokking_config
>>> model = GPT(grokking_config(7, d_model=16, n_heads=2, d_mlp=32))
>>> grids = grok_grids(model)
>>> grids["logits"].shape, grids["neurons"].shape, grids["attention"].shape
(torch.Size([7, 7, 7]), torch.Size([7, 7, 32]), torch.Size([2, 7, 7]))
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..data.modular import all_pairs
from ..grokking_model import last_position_logits
from .fourier import fft1d

__all__ = ["grok_grids", "grok_p", "embedding_coeffs", "unembedding_coeffs", "last_logits"]


def grok_p(model) -> int:
    """The modulus of a grokking model (``cfg.modulus``): its vocabulary is the ``p`` residues and ``=``."""
    modulus = model.cfg.modulus
    return int(model.cfg.d_vocab - 1 if modulus is None else modulus)


def embedding_coeffs(model) -> Tensor:
    """``W_E`` of the residues (not ``=``) in the Fourier basis over tokens: ``[p, d_model]``."""
    p = grok_p(model)
    return fft1d(model.W_E[:p].detach().float())


def unembedding_coeffs(model) -> Tensor:
    """``W_U`` of the residues in the Fourier basis over output tokens: ``[p, d_model]``."""
    p = grok_p(model)
    return fft1d(model.W_U[:, :p].detach().float().T)


@torch.no_grad()
def last_logits(model, tokens: Tensor | None = None) -> Tensor:
    """Logits over the ``p`` residues at ``=``, ``[n, p]``, for ``tokens`` (default: every pair, ``[p*p, p]``)."""
    p = grok_p(model)
    if tokens is None:
        tokens = all_pairs(p).to(model.device)
    if model.cfg.n_layers == 1 and model.cfg.normalization_type is None and not model.cfg.attn_only:
        return last_position_logits(model, tokens)[:, :p].float()  # the cheap, equal forward
    return model(tokens)[:, -1, :p].float()


@torch.no_grad()
def grok_grids(model) -> dict[str, Tensor]:
    """Activations at ``=`` over every pair, each ``[p, p, ...]`` indexed by ``a`` then ``b``.

    - ``logits``: ``[p, p, p]`` (the last axis is the answer ``c``);
    - ``neurons``: MLP activations ``blocks.0.mlp.hook_post``, ``[p, p, d_mlp]``;
    - ``attention``: each head's attention from ``=`` to ``a``, ``[n_heads, p, p]`` (the rest goes to ``b`` and ``=``);
    - ``resid_mid``: the residual stream after attention, ``[p, p, d_model]``.
    """
    p = grok_p(model)
    tokens = all_pairs(p).to(model.device)
    names = ("blocks.0.mlp.hook_post", "blocks.0.attn.hook_pattern", "blocks.0.hook_resid_mid")
    logits, cache = model.run_with_cache(tokens, names_filter=lambda name: name in names)
    return {
        "logits": logits[:, -1, :p].float().reshape(p, p, p),
        "neurons": cache["blocks.0.mlp.hook_post"][:, -1].float().reshape(p, p, -1),
        "attention": cache["blocks.0.attn.hook_pattern"][:, :, -1, 0].float().T.reshape(-1, p, p),
        "resid_mid": cache["blocks.0.hook_resid_mid"][:, -1].float().reshape(p, p, -1),
    }
