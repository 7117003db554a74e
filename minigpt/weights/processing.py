"""Weight processing as TransformerLens does it: same log-probs, weights easier to read.

Each function takes a :class:`~minigpt.GPT` and returns a NEW model; its input is
never modified. The structure may change (LayerNorms become :class:`LayerNormPre`,
the unembedding is untied and gets a bias), so the new model is built from a
new config, on the input's device, dtype and attention kernel, with its
tokenizer; hooks attached to the input are not carried over. The arithmetic
runs in fp32 on state dicts in TransformerLens's shapes. Calls chain::

    model = fold_value_biases(center_unembed(center_writing_weights(fold_ln(model))))
    model = process_weights(model)          # the same, in one pass

Why each step leaves ``log_softmax(logits)`` unchanged (fp32 rounding aside):

``fold_ln``
    ``LN(x) = x̂ * w + b`` with ``x̂ = (x - mean(x)) / scale``, so for every weight
    ``W: [..., d_model, d_out]`` reading it, ``LN(x) @ W + c = x̂ @ (w[:, None] * W)
    + (b @ W + c)``: fold ``w`` into ``W`` and ``b @ W`` into the bias (ln1 → ``W_Q/K/V``,
    ``b_Q/K/V``; ln2 → ``W_in``, ``b_in``; ln_final → ``W_U``, ``b_U``). ``x̂`` has zero
    mean over ``d_model``, so ``x̂ @ 1 m^T = 0`` for any row ``m``: subtracting the mean
    over ``d_model`` from each reading weight (``center_weights``) changes nothing.
``center_writing_weights``
    Everything added to the residual stream (``W_E: [d_vocab, d_model]``, ``W_pos:
    [n_ctx, d_model]``, ``W_O: [n_heads, d_head, d_model]``, ``b_O``, ``W_out: [d_mlp,
    d_model]``, ``b_out``) loses its mean over ``d_model``. The residual changes by a
    multiple of the all-ones vector per position, which every reader (a LayerNorm)
    subtracts first, so only valid when every reader of the residual is one.
``center_unembed``
    ``softmax(l + c) = softmax(l)`` for a constant ``c`` per position: subtracting
    the mean over ``d_vocab`` from ``W_U: [d_model, d_vocab]`` (and ``b_U``) shifts
    every logit of a position by the same amount. Logits change, log-probs do not.
``fold_value_biases``
    Each row of an attention pattern sums to 1, so a head's output ``pattern @ (v +
    b_V) = pattern @ v + b_V``: ``b_V``'s share is the same at every position.
    ``b_O += sum_h b_V[h] @ W_O[h]`` (``[n_heads, d_head] x [n_heads, d_head, d_model]
    -> [d_model]``) and ``b_V = 0``.

An embedding tied to the unembedding (GPT-2's ``W_U = W_E.T``) is untied first
wherever a step would change one but not the other: ``W_U`` starts as the old
``W_E.T``.

A worked example: give the first LayerNorm ``w = 3`` and ``b = 0.5`` everywhere and
fold it. Without centering, ``W_Q`` must come out exactly three times the old one
and ``b_Q`` must gain ``b @ W_Q``, i.e. half the sum of ``W_Q`` over ``d_model``:

>>> import torch
>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=1, d_model=8, n_heads=2, d_vocab=11, n_ctx=6, seed=0)).eval()
>>> with torch.no_grad():
...     _ = model.blocks[0].ln1.w.fill_(3.0)
...     _ = model.blocks[0].ln1.b.fill_(0.5)
>>> folded = fold_ln(model, center_weights=False)
>>> folded.cfg.normalization_type, "blocks.0.ln1.w" in folded.state_dict()
('LNPre', False)
>>> W_Q, b_Q = model.blocks[0].attn.W_Q, model.blocks[0].attn.b_Q  # [n_heads d_model d_head], [n_heads d_head]
>>> torch.allclose(folded.blocks[0].attn.W_Q, 3 * W_Q), torch.allclose(folded.blocks[0].attn.b_Q, b_Q + 0.5 * W_Q.sum(1))
(True, True)
>>> tokens = torch.tensor([[1, 2, 3, 4]])
>>> torch.allclose(model(tokens).log_softmax(-1), process_weights(model)(tokens).log_softmax(-1), atol=1e-5)
True
"""

from __future__ import annotations

import einops
import torch
from torch import Tensor

from ..config import GPTConfig
from ..model import GPT

StateDict = dict[str, Tensor]
_LN_TYPES = ("LN", "LNPre")


# -- the maths, on state dicts in TransformerLens's shapes ----------------------------------
def _untie(sd: StateDict) -> None:
    """Give the unembedding its own ``W_U: [d_model, d_vocab]`` (the old ``W_E.T``) if it shares ``W_E``."""
    if "unembed.W_U" not in sd:
        sd["unembed.W_U"] = sd["embed.W_E"].T.clone()


def _fold_into(sd: StateDict, W: str, bias: str, w: Tensor | None, b: Tensor | None, center: bool) -> None:
    """Fold LN weights ``w, b: [d_model]`` into ``sd[W]: [..., d_model, d_out]`` and ``sd[bias]: [..., d_out]``."""
    weight = sd[W]
    if w is not None:
        sd[bias] = sd[bias] + einops.einsum(weight, b, "... d_model d_out, d_model -> ... d_out")
        weight = weight * w[:, None]
    if center:
        weight = weight - weight.mean(dim=-2, keepdim=True)  # zero mean over d_model
    sd[W] = weight


def fold_ln_state_dict(sd: StateDict, cfg: GPTConfig, center_weights: bool = True) -> StateDict:
    """``fold_ln`` on a state dict of a ``cfg`` model; returns one for ``cfg`` with LNPre, untied, ``b_U``."""
    _untie(sd)
    sd.setdefault("unembed.b_U", sd["unembed.W_U"].new_zeros(cfg.d_vocab))

    def pop_ln(prefix: str) -> tuple[Tensor | None, Tensor | None]:  # None, None when already LNPre
        return sd.pop(prefix + ".w", None), sd.pop(prefix + ".b", None)

    for L in range(cfg.n_layers):
        p = f"blocks.{L}."
        w, b = pop_ln(p + "ln1")
        for n in "QKV":  # W_Q: [n_heads d_model d_head], b_Q: [n_heads d_head]
            _fold_into(sd, p + f"attn.W_{n}", p + f"attn.b_{n}", w, b, center_weights)
        if not cfg.attn_only:  # W_in: [d_model d_mlp], b_in: [d_mlp]
            w, b = pop_ln(p + "ln2")
            _fold_into(sd, p + "mlp.W_in", p + "mlp.b_in", w, b, center_weights)
    w, b = pop_ln("ln_final")  # W_U: [d_model d_vocab], b_U: [d_vocab]
    _fold_into(sd, "unembed.W_U", "unembed.b_U", w, b, center_weights)
    return sd


def _sub_mean(sd: StateDict, key: str, dim: int = -1) -> None:
    sd[key] = sd[key] - sd[key].mean(dim=dim, keepdim=True)


def center_writing_weights_state_dict(sd: StateDict, cfg: GPTConfig) -> StateDict:
    """Zero mean over ``d_model`` for every tensor that writes to the residual stream."""
    _untie(sd)  # W_E changes, W_U must not
    writers = ["embed.W_E"] + (["pos_embed.W_pos"] if cfg.positional_embedding else [])
    for L in range(cfg.n_layers):
        writers += [f"blocks.{L}.attn.W_O", f"blocks.{L}.attn.b_O"]  # [n_heads d_head d_model], [d_model]
        if not cfg.attn_only:
            writers += [f"blocks.{L}.mlp.W_out", f"blocks.{L}.mlp.b_out"]  # [d_mlp d_model], [d_model]
    for key in writers:
        _sub_mean(sd, key)  # d_model is the last axis of each
    return sd


def center_unembed_state_dict(sd: StateDict, cfg: GPTConfig) -> StateDict:
    """Zero mean over ``d_vocab`` for ``W_U: [d_model, d_vocab]`` and ``b_U: [d_vocab]``."""
    _untie(sd)  # W_U changes, W_E must not
    _sub_mean(sd, "unembed.W_U")
    if "unembed.b_U" in sd:
        _sub_mean(sd, "unembed.b_U")
    return sd


def fold_value_biases_state_dict(sd: StateDict, cfg: GPTConfig) -> StateDict:
    """``b_O += sum_h b_V[h] @ W_O[h]``, then ``b_V = 0`` (pattern rows sum to 1)."""
    for L in range(cfg.n_layers):
        p = f"blocks.{L}.attn."
        b_V, W_O = sd[p + "b_V"], sd[p + "W_O"]  # [n_heads d_head], [n_heads d_head d_model]
        sd[p + "b_O"] = sd[p + "b_O"] + einops.einsum(b_V, W_O, "n_heads d_head, n_heads d_head d_model -> d_model")
        sd[p + "b_V"] = torch.zeros_like(b_V)
    return sd


# -- models in, new models out ---------------------------------------------------------------
def _fp32_state_dict(model: GPT) -> StateDict:
    """Copies (never views) of ``model``'s tensors in fp32, so processing cannot touch the input."""
    return {k: v.detach().to(torch.float32, copy=True) for k, v in model.state_dict().items()}


def _untied_cfg(cfg: GPTConfig) -> GPTConfig:
    return cfg.replace(tie_embeddings=False)


def _lnpre_cfg(cfg: GPTConfig) -> GPTConfig:
    return cfg.replace(normalization_type="LNPre", tie_embeddings=False, unembed_bias=True)


def _check_layer_norm(cfg: GPTConfig, what: str) -> None:
    if cfg.normalization_type not in _LN_TYPES:
        raise ValueError(
            f"{what} needs every reader of the residual stream to be a LayerNorm, but this model has "
            f"normalization_type={cfg.normalization_type!r}; it only applies to 'LN' or 'LNPre' models"
        )


@torch.no_grad()
def _build(like: GPT, cfg: GPTConfig, sd: StateDict) -> GPT:
    """A new ``GPT(cfg)`` holding ``sd``, on ``like``'s device, dtype and kernel, weights in the stored layout.

    Built on the meta device (no time spent on a random init), then given real
    empty storage (``to_empty`` keeps each parameter's nn.Linear layout) and
    filled with ``load_state_dict``, which copies in place and checks every key.
    """
    with torch.device("meta"):
        new = GPT(cfg, attention=like.attention)
    if set(dict(new.named_buffers())) - set(sd):  # a buffer the state dict does not fill: build for real
        new = GPT(cfg, attention=like.attention).to(device=like.device, dtype=like.dtype)
    else:
        new = new.to_empty(device=like.device).to(like.dtype)
    new.load_state_dict(sd, strict=True)
    new.tokenizer = like.tokenizer
    return new.train(like.training)


def fold_ln(model: GPT, center_weights: bool = True) -> GPT:
    """A new model with every LayerNorm's ``w`` and ``b`` folded into the weights that read it.

    Returns ``GPT(model.cfg.replace(normalization_type="LNPre", tie_embeddings=False,
    unembed_bias=True), attention=model.attention)``: LayerNorms without weights,
    ``W_U`` folded with ``ln_final`` (so no longer ``W_E.T``) and a ``b_U``. With
    ``center_weights`` the reading weights (``W_Q/K/V``, ``W_in``, ``W_U``) also get
    zero mean over ``d_model``. Raises ``ValueError`` for a model without LayerNorm.
    """
    _check_layer_norm(model.cfg, "fold_ln")
    sd = fold_ln_state_dict(_fp32_state_dict(model), model.cfg, center_weights)
    return _build(model, _lnpre_cfg(model.cfg), sd)


def center_writing_weights(model: GPT) -> GPT:
    """A new model whose residual-stream writers (``W_E, W_pos, W_O, b_O, W_out, b_out``) have zero mean over ``d_model``.

    Only valid when every reader of the residual is a LayerNorm: raises
    ``ValueError`` for ``normalization_type=None``. A tied unembedding is untied
    first (``W_U`` keeps the old ``W_E.T``).
    """
    _check_layer_norm(model.cfg, "center_writing_weights")
    sd = center_writing_weights_state_dict(_fp32_state_dict(model), model.cfg)
    return _build(model, _untied_cfg(model.cfg), sd)


def center_unembed(model: GPT) -> GPT:
    """A new model whose ``W_U`` (and ``b_U``, if any) has zero mean over ``d_vocab``; untied first if tied."""
    sd = center_unembed_state_dict(_fp32_state_dict(model), model.cfg)
    return _build(model, _untied_cfg(model.cfg), sd)


def fold_value_biases(model: GPT) -> GPT:
    """A new model with each layer's ``b_V`` folded into ``b_O`` (``b_V`` becomes 0); same structure."""
    sd = fold_value_biases_state_dict(_fp32_state_dict(model), model.cfg)
    return _build(model, model.cfg, sd)


def process_weights(
    model: GPT,
    fold_ln: bool = True,
    center_writing_weights: bool = True,
    center_unembed: bool = True,
    fold_value_biases: bool = True,
) -> GPT:
    """The steps TransformerLens's ``from_pretrained`` applies, in its order; one new model.

    ``fold_ln`` → ``center_writing_weights`` → ``center_unembed`` → ``fold_value_biases``,
    all on one state dict, so the new model is built once. As in TransformerLens,
    the two steps that need LayerNorms are skipped for a model without them
    (``normalization_type=None``) instead of raising. The input is left untouched.
    """
    cfg, sd = model.cfg, _fp32_state_dict(model)
    has_ln = cfg.normalization_type in _LN_TYPES
    if fold_ln and has_ln:
        sd, cfg = fold_ln_state_dict(sd, cfg), _lnpre_cfg(cfg)
    if center_writing_weights and has_ln:
        sd, cfg = center_writing_weights_state_dict(sd, cfg), _untied_cfg(cfg)
    if center_unembed:
        sd, cfg = center_unembed_state_dict(sd, cfg), _untied_cfg(cfg)
    if fold_value_biases:
        sd = fold_value_biases_state_dict(sd, cfg)
    return _build(model, cfg, sd)
