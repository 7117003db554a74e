"""Composition scores: how much a later head reads what an earlier head writes.

A layer-1 head can use a layer-0 head's output in three places (Elhage et
al., 2021): in its queries (**Q-composition**), its keys (**K-composition**) or
its values (**V-composition**). How much it does is measured on the weights
alone, as the fraction of the product's size that survives:

    score(W_A, W_B) = ||W_A @ W_B||_F / (||W_A||_F ||W_B||_F)     (between 0 and 1)

with ``W_A = W_V W_O`` of the earlier head and ``W_B`` the later head's
``W_Q W_K.T`` (Q), ``(W_Q W_K.T).T`` (K) or ``W_V W_O`` (V). An induction head
K-composes with a previous-token head: its keys read "which token came before
me", written there by the layer-0 head.

Random matrices already score above zero (about ``sqrt(d_head / d_model)``
for rank-``d_head`` factors), so compare with :func:`composition_baseline`.

>>> W = torch.eye(4)
>>> float(composition_score(W, W)), float(composition_score(W[:, :2] @ W[:2], W[:, 2:] @ W[2:]))
(0.5, 0.0)
"""

from __future__ import annotations

import torch
from torch import Tensor

from .circuits import analysis_model
from .factored import FactoredMatrix

__all__ = ["composition_baseline", "composition_score", "composition_scores"]

_KINDS = ("Q", "K", "V")


def _norm(M: Tensor | FactoredMatrix) -> Tensor:
    return M.norm() if isinstance(M, FactoredMatrix) else torch.linalg.matrix_norm(M)


def composition_score(W_A: Tensor | FactoredMatrix, W_B: Tensor | FactoredMatrix) -> Tensor:
    """``||W_A W_B||_F / (||W_A||_F ||W_B||_F)`` for ``[..., d, d]`` matrices (dense or factored): ``[...]``.

    A zero matrix (a head that reads or writes nothing) scores 0.
    """
    denominator = _norm(W_A) * _norm(W_B)
    return _norm(W_A @ W_B) / torch.where(denominator > 0, denominator, torch.ones_like(denominator))


@torch.no_grad()
def composition_scores(model, kind: str = "K", layer_a: int = 0, layer_b: int = 1) -> Tensor:
    """``kind``-composition score of every head of ``layer_a`` with every head of ``layer_b``: ``[n_heads, n_heads]``.

    Rows: the earlier heads (``layer_a``); columns: the later ones. LayerNorm
    weights are folded in first (:func:`minigpt.interp.circuits.analysis_model`).
    """
    kind = kind.upper()
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    if not layer_a < layer_b:
        raise ValueError(f"head A must sit in an earlier layer than head B, got layer_a={layer_a}, layer_b={layer_b}")
    m = analysis_model(model)
    a, b = m.blocks[layer_a].attn, m.blocks[layer_b].attn
    W_A = FactoredMatrix(a.W_V.detach()[:, None], a.W_O.detach()[:, None])  # [n_heads 1 d_model d_model]
    if kind == "V":
        W_B = FactoredMatrix(b.W_V.detach()[None], b.W_O.detach()[None])  # [1 n_heads d_model d_model]
    else:
        W_B = FactoredMatrix(b.W_Q.detach()[None], b.W_K.detach().transpose(-2, -1)[None])
        if kind == "K":
            W_B = W_B.T
    return composition_score(W_A, W_B)


def composition_baseline(d_model: int, d_head: int, n_samples: int = 200, seed: int = 0) -> tuple[float, float]:
    """Mean and standard deviation of the score of random rank-``d_head`` matrices ``[d_model, d_model]``.

    Each of ``W_A = L_A R_A`` and ``W_B = L_B R_B`` is a product of Gaussian
    factors ``[d_model, d_head] @ [d_head, d_model]``, the shapes of a head's
    circuits. A real score well above the mean (by several standard
    deviations) is composition; one near it is chance.
    """
    gen = torch.Generator().manual_seed(seed)

    def random_circuit() -> FactoredMatrix:
        return FactoredMatrix(torch.randn(n_samples, d_model, d_head, generator=gen),
                              torch.randn(n_samples, d_head, d_model, generator=gen))

    scores = composition_score(random_circuit(), random_circuit())
    return float(scores.mean()), float(scores.std())
