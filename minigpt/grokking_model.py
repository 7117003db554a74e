"""The grokking model: its config preset, its init, a forward pass that computes only what its loss needs, its loss.

The model is minigpt's own :class:`~minigpt.GPT`: one layer, four heads, ReLU,
no LayerNorm, untied embeddings, reading ``a b =`` and predicting ``a + b mod p``
at the ``=`` position (Nanda et al., 2023).

>>> cfg = grokking_config(7, d_model=32, n_heads=4, d_mlp=64)
>>> cfg.modulus, cfg.d_vocab, cfg.n_ctx, cfg.n_layers, cfg.normalization_type, cfg.act_fn
(7, 8, 3, 1, None, 'relu')

Only the logits at the last position enter the loss, and in a one-layer model
nothing at positions ``0`` and ``1`` after the attention's keys and values
reaches them. :func:`last_position_logits` therefore runs the query, the MLP
and the unembedding at the last position only, and computes the keys and
values once per (position, token) pair (``3 × (p+1)`` rows) instead of once
per example: the same function of the same weights, with about a third of the
work of ``model(tokens)[:, -1]``.

>>> from minigpt import GPT
>>> model = GPT(cfg.replace(seed=0))
>>> tokens = torch.tensor([[1, 2, 7], [3, 6, 7]])
>>> torch.allclose(last_position_logits(model, tokens), model(tokens)[:, -1], atol=1e-5)
True
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .config import GPTConfig

__all__ = ["grokking_config", "init_grokking_", "last_position_logits", "modular_loss"]


def grokking_config(p: int = 113, *, d_model: int = 128, n_heads: int = 4, d_mlp: int = 512,
                    seed: int | None = 0, init_range: float | None = None, **overrides) -> GPTConfig:
    """The one-layer, LayerNorm-free ReLU transformer of Nanda et al. for ``Z_p`` (tokens ``0..p``, ``=`` is ``p``).

    ``init_range`` defaults to TransformerLens's ``0.8 / sqrt(d_model)``.
    """
    return GPTConfig(
        n_layers=1, d_model=d_model, n_heads=n_heads, d_mlp=d_mlp, d_vocab=p + 1, n_ctx=3, act_fn="relu",
        normalization_type=None, tie_embeddings=False, positional_embedding=True,
        init_range=0.8 / math.sqrt(d_model) if init_range is None else init_range, seed=seed,
        name=f"grokking-p{p}", modulus=p, **overrides)


@torch.no_grad()
def init_grokking_(model, scheme: str = "gpt2", seed: int | None = None) -> None:
    """Initialise ``model``'s weights in place: ``"gpt2"`` or ``"tl"``.

    ``"gpt2"`` is :meth:`GPT.init_weights` (GPT-2's: ``N(0, init_range)``, with ``W_O`` and ``W_out``
    scaled by ``1/sqrt(2 n_layers)``). ``"tl"`` is TransformerLens's, which Nanda et al.'s models
    used: ``N(0, init_range)`` for every ``W_*``, no scaling, biases zero. Measured here, the residual
    scaling alone slows grokking down: at p = 59 (40 %, lr 1e-3) 99 % test accuracy comes at epoch
    5,850 instead of 3,000, and the canonical p = 113 run had only 11 % test accuracy at epoch
    25,000 with ``"gpt2"``. The grokking recipes use ``"tl"``.
    """
    if scheme == "gpt2":
        model.init_weights(seed)
        return
    if scheme != "tl":
        raise ValueError(f"init scheme must be 'gpt2' or 'tl', got {scheme!r}")
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    for name, param in model.named_parameters():
        if name.split(".")[-1].startswith("W_"):
            param.copy_(torch.randn(param.shape, generator=gen) * model.cfg.init_range)
        else:
            param.zero_()


def last_position_logits(model, tokens: Tensor) -> Tensor:
    """Logits at the last position, ``[batch d_vocab]``, equal to ``model(tokens)[:, -1]``.

    For a one-layer GPT without LayerNorm (the grokking model). Differentiable:
    the training step calls it.
    """
    cfg = model.cfg
    if cfg.n_layers != 1 or cfg.normalization_type is not None or cfg.attn_only:
        raise ValueError("last_position_logits computes a one-layer, LayerNorm-free model with an MLP only; "
                         "use model(tokens)[:, -1] for others")
    batch, pos = tokens.shape
    attn, mlp = model.blocks[0].attn, model.blocks[0].mlp
    n_heads, d_model, d_head = attn.W_Q.shape
    # The training step's hot path (benchmarks/grokking.py): raw transposes and views, each with its
    # shapes, rather than einops. First the weights as F.linear takes them, [(n_heads d_head) d_model].
    W_Q = attn.W_Q.transpose(1, 2).reshape(n_heads * d_head, d_model)
    W_K = attn.W_K.transpose(1, 2).reshape(n_heads * d_head, d_model)
    W_V = attn.W_V.transpose(1, 2).reshape(n_heads * d_head, d_model)
    W_O = attn.W_O.permute(2, 0, 1).reshape(d_model, n_heads * d_head)  # [d_model (n_heads d_head)]
    # The residual stream before the block, per (position, token): [pos d_vocab d_model].
    table = model.embed.W_E[None] + model.pos_embed.W_pos[:pos, None]
    # Keys and values for every (position, token), queries for the last position: [.. (n_heads d_head)].
    k_table = F.linear(table, W_K, attn.b_K.reshape(n_heads * d_head))
    v_table = F.linear(table, W_V, attn.b_V.reshape(n_heads * d_head))
    q_table = F.linear(table[-1], W_Q, attn.b_Q.reshape(n_heads * d_head))
    rows = tokens + torch.arange(pos, device=tokens.device) * cfg.d_vocab  # [batch pos]: rows of the tables
    k = F.embedding(rows, k_table.reshape(-1, n_heads * d_head)).view(batch, pos, n_heads, d_head)
    v = F.embedding(rows, v_table.reshape(-1, n_heads * d_head)).view(batch, pos, n_heads, d_head)
    q = F.embedding(tokens[:, -1], q_table).view(batch, n_heads, d_head)
    # d_head-long dot products: elementwise, as a bmm of 1-row matrices is slow on the CPU.
    scores = (q[:, None] * k).sum(-1) / cfg.attn_scale  # [batch key_pos n_heads]
    z = (scores.softmax(dim=1)[..., None] * v).sum(1)  # [batch n_heads d_head]
    resid = F.embedding(tokens[:, -1], table[-1])  # [batch d_model]
    resid = resid + F.linear(z.reshape(batch, n_heads * d_head), W_O, attn.b_O)
    pre = F.linear(resid, mlp.W_in.T, mlp.b_in)  # [batch d_mlp]
    post = F.relu(pre) if cfg.act_fn == "relu" else mlp.act(pre)
    resid = resid + F.linear(post, mlp.W_out.T, mlp.b_out)
    return F.linear(resid, model.unembed.W_U.T, model.unembed.b_U)  # [batch d_vocab]


def modular_loss(logits: Tensor, labels: Tensor, p: int, per_example: bool = False) -> Tensor:
    """Cross-entropy over the ``p`` residues (the ``=`` logit is dropped), in float64 as Nanda et al. do.

    ``logits``: ``[batch d_vocab]`` (the last position) or ``[batch pos d_vocab]``.
    """
    if logits.ndim == 3:
        logits = logits[:, -1]
    wide = torch.float32 if logits.device.type == "mps" else torch.float64  # MPS has no float64
    log_probs = logits[:, :p].to(wide).log_softmax(dim=-1)
    nll = -log_probs.gather(-1, labels[:, None]).squeeze(-1)
    return nll if per_example else nll.mean()
