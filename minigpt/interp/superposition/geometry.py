"""The geometry of a trained toy model: which features it keeps, and how they share dimensions.

Column ``W_i = W[:, i]`` is feature ``i``'s direction. Its norm says whether the model
represents the feature at all (about 1) or drops it (about 0). Elhage et al. §"Geometry" measure
how much of a dimension each feature gets, its *feature dimensionality*:

    D_i = ||W_i||² / Σ_j (Ŵ_i · W_j)²          (Ŵ_i = W_i / ||W_i||; the sum includes j = i)

A feature alone in its dimension has ``D_i = 1``; an antipodal pair has 1/2 each; a pentagon in 2
dimensions 2/5 each; a dropped feature 0. The dimensionalities add up to at most ``d_hidden``.

>>> W = torch.tensor([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]])      # [d_hidden=2 n_features=3]
>>> feature_dimensionality(W).tolist()                           # an antipodal pair, and a feature alone
[0.5, 0.5, 1.0]
>>> angles = 2 * torch.pi * torch.arange(5) / 5
>>> pentagon = torch.stack([angles.cos(), angles.sin()])          # [d_hidden=2 n_features=5]
>>> [round(d, 3) for d in feature_dimensionality(pentagon).tolist()]   # five features share 2 dimensions
[0.4, 0.4, 0.4, 0.4, 0.4]
>>> neighbour_angles(pentagon).round().tolist()
[72.0, 72.0, 72.0, 72.0, 72.0]
"""

from __future__ import annotations

import einops
import torch
from torch import Tensor

__all__ = ["dimensions_per_feature", "feature_angles", "feature_dimensionality", "feature_norms", "interference",
           "neighbour_angles", "neuron_feature_share"]

EPS = 1e-12


def _instances(W: Tensor, what: str) -> Tensor:
    """``W`` as ``[n_instances d_hidden n_features]`` (one instance ``[d_hidden n_features]`` gets an axis)."""
    W = W.detach()
    if W.ndim == 2:
        return W[None]
    if W.ndim != 3:
        raise ValueError(f"{what}: expected W [n_instances d_hidden n_features] or [d_hidden n_features], "
                         f"got shape {list(W.shape)}")
    return W


def _squeeze(x: Tensor, W: Tensor) -> Tensor:
    return x[0] if W.ndim == 2 else x


def feature_norms(W: Tensor) -> Tensor:
    """``||W_i||`` per feature: ``[n_instances n_features]`` (or ``[n_features]`` for one instance)."""
    return _squeeze(_instances(W, "feature_norms").norm(dim=-2), W)


def _overlaps(W: Tensor) -> Tensor:
    """``Ŵ_i · W_j``: ``[n_instances n_features n_features]`` (row ``i``, column ``j``)."""
    W_hat = W / W.norm(dim=-2, keepdim=True).clamp_min(EPS)
    return einops.einsum(W_hat, W, "n_instances d_hidden i, n_instances d_hidden j -> n_instances i j")


def feature_dimensionality(W: Tensor) -> Tensor:
    """``D_i = ||W_i||² / Σ_j (Ŵ_i · W_j)²``: ``[n_instances n_features]`` (``[n_features]`` for one instance).

    A zero column (a dropped feature) gets 0.
    """
    W3 = _instances(W, "feature_dimensionality")
    norm_sq = W3.pow(2).sum(-2)  # [n_instances n_features]
    return _squeeze(norm_sq / _overlaps(W3).pow(2).sum(-1).clamp_min(EPS), W)


def interference(W: Tensor) -> Tensor:
    """``Σ_{j≠i} (Ŵ_i · W_j)²``: how much other features write along feature ``i``'s direction.

    ``[n_instances n_features]``. 0 for a feature with a dimension of its own; the paper colours
    its W-norm bars by this (its "superposition").
    """
    W3 = _instances(W, "interference")
    overlaps_sq = _overlaps(W3).pow(2)
    return _squeeze(overlaps_sq.sum(-1) - overlaps_sq.diagonal(dim1=-2, dim2=-1), W)


def dimensions_per_feature(W: Tensor) -> Tensor:
    """The paper's ``d_hidden / ||W||_F²``: ``[n_instances]``. 1 without superposition, 2/5 for a pentagon."""
    W3 = _instances(W, "dimensions_per_feature")
    return _squeeze(W3.shape[-2] / W3.pow(2).sum((-2, -1)).clamp_min(EPS), W)


def feature_angles(W: Tensor) -> Tensor:
    """The angle of each column in a 2-D hidden space, in degrees in ``(-180, 180]``: ``[n_instances n_features]``."""
    W3 = _instances(W, "feature_angles")
    if W3.shape[-2] != 2:
        raise ValueError(f"feature_angles: angles need d_hidden = 2, got d_hidden = {W3.shape[-2]}")
    return _squeeze(torch.rad2deg(torch.atan2(W3[:, 1], W3[:, 0])), W)


def neighbour_angles(W: Tensor, min_norm: float = 0.5) -> Tensor:
    """Angles in degrees between neighbouring represented features of one 2-D instance, round the circle.

    ``W [d_hidden=2 n_features]``; features with ``||W_i|| < min_norm`` are left out. Returns
    ``[n_represented]`` gaps that add up to 360: five of 72 for a pentagon, two of 180 for an
    antipodal pair, and four of 90 for two antipodal pairs at right angles.
    """
    if W.ndim != 2:
        raise ValueError(f"neighbour_angles: expected one instance W [d_hidden=2 n_features], got {list(W.shape)}")
    kept = feature_norms(W) >= min_norm
    angles = feature_angles(W)[kept].sort().values  # [n_represented]
    if angles.numel() == 0:
        return angles
    return torch.diff(torch.cat([angles, angles[:1] + 360]))


def neuron_feature_share(W: Tensor) -> Tensor:
    """What makes each neuron fire, split over features: ``W⁺[n, f]² / Σ_f W⁺[n, f]²`` with ``W⁺ = max(W, 0)``.

    ``[n_instances d_hidden n_features]``, for :class:`ToyModelNeurons`, where the hidden
    dimensions are neurons ``ReLU(W x)`` of features ``x >= 0``: only positive weights make a
    neuron fire (a negative one only keeps it off). A neuron whose largest share is near 1 is
    *monosemantic*; one that fires for several features, *polysemantic*.
    """
    W3 = _instances(W, "neuron_feature_share").clamp_min(0)
    share = W3.pow(2) / W3.pow(2).sum(-1, keepdim=True).clamp_min(EPS)
    return _squeeze(share, W)
