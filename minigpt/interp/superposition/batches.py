"""Synthetic feature batches for the toy models: sparse, correlated and anticorrelated features.

Every feature is a number in ``[0, 1)``. A feature is *present* with probability ``p`` (its
*density*; the paper's sparsity is ``S = 1 - p``), and then takes a value drawn uniformly from
``[0, 1)``; otherwise it is exactly 0. Each instance of a batched model has its own
probabilities, so a batch is ``[batch n_instances n_features]``.

>>> g = torch.Generator().manual_seed(0)
>>> x = sparse_features(4096, torch.tensor([[1.0, 1.0], [0.1, 0.1]]), generator=g)
>>> x.shape
torch.Size([4096, 2, 2])
>>> [[round(share, 1) for share in row] for row in (x > 0).float().mean(0).tolist()]   # present, per instance, feature
[[1.0, 1.0], [0.1, 0.1]]

Correlated pairs (ARENA's semantics): both features of a pair are present together or absent
together. Anticorrelated pairs: the two features of a pair are never present together, and
each is still present with probability ``p`` (so ``p <= 1/2``).

>>> x = anticorrelated_features(4096, torch.tensor([[0.3]]), generator=g)     # one pair, one instance
>>> bool(((x[..., 0] > 0) & (x[..., 1] > 0)).any())                          # never together
False
"""

from __future__ import annotations

import einops
import torch
from torch import Tensor

__all__ = ["anticorrelated_features", "check_layout", "correlated_features", "sparse_features", "toy_batch"]


def _check_probability(p: Tensor, what: str) -> None:
    if p.ndim != 2:
        raise ValueError(f"{what}: expected probabilities [n_instances n], got shape {list(p.shape)}")
    if bool(((p < 0) | (p > 1)).any()):
        raise ValueError(f"{what}: probabilities must lie in [0, 1], got min {p.min().item():.3g}, "
                         f"max {p.max().item():.3g}")


def sparse_features(batch_size: int, feature_probability: Tensor,
                    generator: torch.Generator | None = None) -> Tensor:
    """Independent features: each present with its probability ``[n_instances n_features]``.

    Returns ``[batch n_instances n_features]``: ``U[0, 1)`` where present, 0 elsewhere.
    """
    _check_probability(feature_probability, "sparse_features")
    p = feature_probability
    shape = (batch_size, *p.shape)
    value = torch.rand(shape, generator=generator, device=p.device)
    present = torch.rand(shape, generator=generator, device=p.device) < p
    return torch.where(present, value, 0.0)


def correlated_features(batch_size: int, pair_probability: Tensor,
                        generator: torch.Generator | None = None) -> Tensor:
    """Pairs of features present together: ``pair_probability [n_instances n_pairs]``.

    Returns ``[batch n_instances 2*n_pairs]``; features ``2k`` and ``2k+1`` are both present or
    both absent (each with its own value in ``[0, 1)``).
    """
    _check_probability(pair_probability, "correlated_features")
    p = pair_probability
    value = torch.rand((batch_size, p.shape[0], 2 * p.shape[1]), generator=generator, device=p.device)
    pair_present = torch.rand((batch_size, *p.shape), generator=generator, device=p.device) < p
    present = einops.repeat(pair_present, "batch n_instances n_pairs -> batch n_instances (n_pairs two)", two=2)
    return torch.where(present, value, 0.0)


def anticorrelated_features(batch_size: int, pair_probability: Tensor,
                            generator: torch.Generator | None = None) -> Tensor:
    """Pairs of features never present together, each present with probability ``p <= 1/2``.

    ``pair_probability [n_instances n_pairs]``. Feature ``2k`` is present with probability
    ``p``; feature ``2k+1`` only when ``2k`` is absent, then with probability ``p / (1 - p)``,
    so its own probability is ``(1 - p) · p / (1 - p) = p`` too.
    Returns ``[batch n_instances 2*n_pairs]``.
    """
    _check_probability(pair_probability, "anticorrelated_features")
    p = pair_probability
    if bool((p > 0.5).any()):
        raise ValueError(f"anticorrelated_features: two features that are never present together need "
                         f"p <= 1/2 each, got p = {p.max().item():.3g}")
    value = torch.rand((batch_size, p.shape[0], 2 * p.shape[1]), generator=generator, device=p.device)
    first_seed, second_seed = torch.rand((2, batch_size, *p.shape), generator=generator, device=p.device)
    first = first_seed < p
    second = ~first & (second_seed < p / (1 - p))
    present = einops.rearrange([first, second], "two batch n_instances n_pairs -> batch n_instances (n_pairs two)")
    return torch.where(present, value, 0.0)


def check_layout(feature_probability: Tensor, n_correlated_pairs: int = 0, n_anticorrelated_pairs: int = 0) -> None:
    """Raise a ``ValueError`` unless :func:`toy_batch` can draw from these probabilities and pairs."""
    _check_probability(feature_probability, "toy_batch")
    n_features = feature_probability.shape[1]
    n_paired = 2 * (n_correlated_pairs + n_anticorrelated_pairs)
    if min(n_correlated_pairs, n_anticorrelated_pairs) < 0 or n_paired > n_features:
        raise ValueError(f"toy_batch: {n_correlated_pairs} correlated and {n_anticorrelated_pairs} anticorrelated "
                         f"pairs need {n_paired} features, the model has {n_features}")
    anti = feature_probability[:, 2 * n_correlated_pairs:n_paired:2]  # [n_instances n_anticorrelated_pairs]
    if anti.numel() and bool((anti > 0.5).any()):
        raise ValueError(f"anticorrelated_features: two features that are never present together need "
                         f"p <= 1/2 each, got p = {anti.max().item():.3g}")


def toy_batch(batch_size: int, feature_probability: Tensor, n_correlated_pairs: int = 0,
              n_anticorrelated_pairs: int = 0, generator: torch.Generator | None = None) -> Tensor:
    """A batch ``[batch n_instances n_features]`` laid out as ARENA's: correlated pairs first, then
    anticorrelated pairs, then independent features.

    A pair takes the probability of its first feature: ``feature_probability[:, 2k]``.
    """
    check_layout(feature_probability, n_correlated_pairs, n_anticorrelated_pairs)
    n_features = feature_probability.shape[1]
    n_paired = 2 * (n_correlated_pairs + n_anticorrelated_pairs)
    p_pairs = feature_probability[:, 0:n_paired:2]  # [n_instances n_pairs]
    parts = []
    if n_correlated_pairs:
        parts.append(correlated_features(batch_size, p_pairs[:, :n_correlated_pairs], generator))
    if n_anticorrelated_pairs:
        parts.append(anticorrelated_features(batch_size, p_pairs[:, n_correlated_pairs:], generator))
    if n_paired < n_features:
        parts.append(sparse_features(batch_size, feature_probability[:, n_paired:], generator))
    return torch.cat(parts, dim=-1)
