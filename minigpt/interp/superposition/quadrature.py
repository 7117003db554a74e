"""The expected loss, computed instead of sampled: a deterministic batch for sparse features.

A sampled batch of 1,024 holds about 10 examples of a feature of density 0.01, so its loss is
noisy and training on it slow. For a few features the expectation can be written out instead.
Each feature is absent (probability ``1 - p``) or present with a value uniform in ``[0, 1)``;
so the expected loss is a sum over the ``2^n_features`` presence patterns, weighted
``Π p_i^present (1 - p_i)^absent``, of an average over the present values, which the midpoint
rule on ``n_points`` values per present feature approximates:

    E[L] ≈ Σ_points weight[point] · L(x[point])

The points are shared by every instance; only the weights depend on each instance's
probabilities. One set of points serves every density at once, with no noise.

>>> x, weight = feature_quadrature(torch.tensor([[1.0, 1.0], [0.5, 0.5]]), n_points=2)
>>> x.tolist()                      # [point n_features]: no feature, feature 0, feature 1, both
[[0.0, 0.0], [0.25, 0.0], [0.75, 0.0], [0.0, 0.25], [0.0, 0.75], [0.25, 0.25], [0.25, 0.75], [0.75, 0.25], [0.75, 0.75]]
>>> weight.sum(0).tolist()          # [point n_instances]: a probability distribution per instance
[1.0, 1.0]
>>> weight[:, 0].tolist()[-4:]       # dense instance: only the points with both features present
[0.25, 0.25, 0.25, 0.25]
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor

__all__ = ["expected_loss", "feature_quadrature"]


def feature_quadrature(feature_probability: Tensor, n_points: int = 16) -> tuple[Tensor, Tensor]:
    """Points ``x [point n_features]`` and weights ``[point n_instances]`` of the feature distribution.

    ``feature_probability [n_instances n_features]`` (independent features). There are
    ``Σ_k C(n_features, k) · n_points^k = (1 + n_points)^n_features`` points, so keep
    ``n_features`` small (2 or 3).
    """
    if feature_probability.ndim != 2:
        raise ValueError(f"feature_quadrature: expected [n_instances n_features], got "
                         f"{list(feature_probability.shape)}")
    n_features = feature_probability.shape[1]
    if (1 + n_points) ** n_features > 1_000_000:
        raise ValueError(f"feature_quadrature: {(1 + n_points) ** n_features:,} points for {n_features} features at "
                         f"n_points={n_points}; use fewer features or points (or sampled batches)")
    values = (torch.arange(n_points) + 0.5) / n_points  # midpoints of [0, 1)
    xs, presents = [], []
    for k in range(n_features + 1):
        for subset in itertools.combinations(range(n_features), k):
            grid = torch.cartesian_prod(*[values] * k).reshape(-1, k) if k else torch.zeros(1, 0)
            x = torch.zeros(grid.shape[0], n_features)
            x[:, list(subset)] = grid
            present = torch.zeros(n_features, dtype=torch.bool)
            present[list(subset)] = True
            xs.append(x)
            presents.append(present.expand(grid.shape[0], n_features))
    x, present = torch.cat(xs), torch.cat(presents)  # [point n_features] each
    p = feature_probability.to(torch.float32)  # [n_instances n_features]
    pattern = torch.where(present[:, None, :], p, 1 - p).prod(-1)  # [point n_instances]
    value_weight = n_points ** -present.sum(-1, keepdim=True).float()  # [point 1]: 1 / n_points^k
    return x.to(feature_probability.device), pattern * value_weight


def expected_loss(model, n_points: int = 16, quadrature: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Each instance's expected :func:`importance_weighted_mse`, by :func:`feature_quadrature`: ``[n_instances]``.

    ``quadrature``: the ``(x, weight)`` pair, computed once and reused by a training loop.
    Independent features only (no correlated or anticorrelated pairs).
    """
    if model.n_correlated_pairs or model.n_anticorrelated_pairs:
        raise ValueError("expected_loss: the quadrature is for independent features; this model has "
                         "correlated or anticorrelated pairs (train it on sampled batches)")
    x, weight = quadrature if quadrature is not None else feature_quadrature(model.feature_probability, n_points)
    batch = x[:, None, :].expand(-1, model.n_instances, -1)  # [point n_instances n_features]
    error = model.importance * (batch - model(batch)).pow(2)  # [point n_instances n_features]
    return (weight * error.mean(-1)).sum(0)
