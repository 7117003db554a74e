"""Direct logit attribution: which component pushed up the logit of the correct next token?

The final residual stream is a sum of what every component wrote:

    resid_final = embed + pos_embed + Σ_layers (Σ_heads head_out + b_O + mlp_out)

and the logits are linear in it, up to the final LayerNorm, whose *scale*
(one number per position) we read from the forward pass and hold fixed. So
the correct token's logit splits exactly into one term per component:

    logit[p, t] = Σ_c  LN(c)[p] @ W_U[:, t]  +  (ln_final.b @ W_U[:, t] + b_U[t])

with ``t = tokens[p + 1]`` and ``LN(c) = (c - mean(c)) / scale * w`` (no
centring or scale without LayerNorm). ``"bias"`` collects the constant
term, so the attributions sum to the logit (tested).

>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2, d_vocab=10, n_ctx=8, attn_only=True, seed=0))
>>> values, labels = logit_attribution(model, torch.tensor([[1, 2, 3]]))
>>> values.shape, labels                         # [component batch pos-1]
(torch.Size([5, 1, 2]), ['embed', 'pos_embed', 'L0H0', 'L0H1', 'bias'])
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["apply_ln_final", "head_attribution", "logit_attribution", "residual_stack"]


def _names(model) -> list[str]:
    cfg = model.cfg
    names = ["hook_embed"] + (["hook_pos_embed"] if cfg.positional_embedding else [])
    for layer in range(cfg.n_layers):
        names.append(f"blocks.{layer}.attn.hook_result")
        if not cfg.attn_only:
            names.append(f"blocks.{layer}.hook_mlp_out")
    if cfg.normalization_type is not None:
        names.append("ln_final.hook_scale")
    return names


def residual_stack(model, cache, layer: int | None = None) -> tuple[Tensor, list[str]]:
    """What each component wrote to the residual stream: ``[n_components, batch, pos, d_model]`` and labels.

    Components: ``embed``, ``pos_embed``, each head ``L{layer}H{head}``, each
    layer's ``b_O{layer}`` (left out when zero) and ``MLP{layer}``. They sum to
    the last ``hook_resid_post``; with ``layer=L``, only the blocks before
    block ``L``, which sum to ``blocks.{L}.hook_resid_pre`` (what block ``L``
    reads). ``cache`` must hold the embeddings, those blocks'
    ``attn.hook_result`` and ``hook_mlp_out``.
    """
    cfg = model.cfg
    n_blocks = cfg.n_layers if layer is None else layer
    if not 0 <= n_blocks <= cfg.n_layers:
        raise IndexError(f"layer must be in 0..{cfg.n_layers} (the model's n_layers: the final residual), got {layer}")
    parts, labels = [cache["hook_embed"]], ["embed"]
    if cfg.positional_embedding:
        parts.append(cache["hook_pos_embed"])
        labels.append("pos_embed")
    for block in range(n_blocks):
        result = cache["result", block]  # [batch pos n_heads d_model]
        parts.extend(result.unbind(dim=2))
        labels.extend(f"L{block}H{h}" for h in range(cfg.n_heads))
        b_O = model.blocks[block].attn.b_O.detach()
        if b_O.any():
            parts.append(b_O.expand_as(parts[0]))
            labels.append(f"b_O{block}")
        if not cfg.attn_only:
            parts.append(cache["mlp_out", block])
            labels.append(f"MLP{block}")
    return torch.stack(parts), labels


def apply_ln_final(model, stack: Tensor, cache) -> Tensor:
    """The final LayerNorm applied to each component separately, its scale frozen: ``[..., batch, pos, d_model]``.

    ``(c - mean(c)) / scale * w`` with the ``scale`` the forward pass used
    (``cache["ln_final.hook_scale"]``); the LayerNorm's bias is left out (a
    constant, the same for every input). The results sum to the normalised
    residual minus that bias. A model without LayerNorm gets ``stack`` back.
    """
    if model.cfg.normalization_type is None:
        return stack
    scale = cache["ln_final.hook_scale"]  # [batch pos 1]
    out = (stack - stack.mean(dim=-1, keepdim=True)) / scale
    w = getattr(model.ln_final, "w", None)
    return out if w is None else out * w.detach()


@torch.no_grad()
def logit_attribution(model, tokens: Tensor) -> tuple[Tensor, list[str]]:
    """Each component's direct contribution to the correct next token's logit: ``[n_components, batch, pos - 1]``.

    Returns ``(values, labels)``; the last label is ``"bias"`` (the final
    LayerNorm's bias and ``b_U``), and ``values.sum(0)`` equals the logits of
    the correct tokens, ``logits[b, p, tokens[b, p + 1]]``.
    """
    if tokens.ndim == 1:
        tokens = tokens[None]
    _, cache = model.run_with_cache(tokens, names_filter=_names(model))
    stack, labels = residual_stack(model, cache)  # [comp batch pos d_model]
    stack = apply_ln_final(model, stack, cache)[:, :, :-1].float()
    W_U = model.W_U.detach().float()  # [d_model d_vocab]
    directions = W_U[:, tokens[:, 1:]]  # [d_model batch pos-1]: the unembedding of each correct next token
    bias = torch.zeros(tokens.shape[0], tokens.shape[1] - 1, device=tokens.device)
    if hasattr(model.ln_final, "b"):
        bias = bias + torch.einsum("d,dbp->bp", model.ln_final.b.detach().float(), directions)
    b_U = getattr(model.unembed, "b_U", None)
    if b_U is not None:
        bias = bias + b_U.detach().float()[tokens[:, 1:]]
    values = torch.einsum("cbpd,dbp->cbp", stack, directions)
    return torch.cat([values, bias[None]]), labels + ["bias"]


def head_attribution(model, tokens: Tensor, positions: slice | None = None) -> Tensor:
    """Mean direct logit attribution of every head to the correct token: ``[n_layers, n_heads]``.

    ``positions`` selects entries of the ``pos - 1`` predictions (e.g.
    :func:`minigpt.interp.losses.repeat_positions` for the repeated half).
    """
    values, labels = logit_attribution(model, tokens)
    if positions is not None:
        values = values[:, :, positions]
    cfg = model.cfg
    heads = [labels.index(f"L{layer}H{head}") for layer in range(cfg.n_layers) for head in range(cfg.n_heads)]
    return values[heads].mean(dim=(1, 2)).reshape(cfg.n_layers, cfg.n_heads)
