"""Chapter 6 checks: the toy model of superposition, its feature batches, its loss, feature dimensionality."""

from __future__ import annotations

import functools

import einops
import torch
from torch import Tensor

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import per_instance, register_exercise, sparse_batch

# ---------------------------------------------------------------------------
# toy_forward
# ---------------------------------------------------------------------------


def forward_cases() -> list[Case]:
    g = torch.Generator().manual_seed(601)
    cases = []
    for batch, probs, d_hidden, n_features in ((8, [1.0, 0.3, 0.1], 2, 5), (6, [0.5, 0.05], 3, 6)):
        p = per_instance(probs, n_features)
        cases.append(dict(W=_randn(g, len(probs), d_hidden, n_features, scale=0.8),
                          b_final=_randn(g, len(probs), n_features, scale=0.3), x=sparse_batch(g, batch, p)))
    return cases


def _toy(W, b_final, x, *, relu=True, bias="inside", hidden_relu=False):
    h = einops.einsum(x, W, "batch inst feat, inst hid feat -> batch inst hid")
    if hidden_relu:
        h = torch.relu(h)
    out = einops.einsum(h, W, "batch inst hid, inst hid feat -> batch inst feat")
    if bias == "inside":
        out = out + b_final
    if relu:
        out = torch.relu(out)
    return out + b_final if bias == "after" else out


register_exercise(
    id="ch06.toy_forward", name="toy_forward", title="The toy model's forward pass", points=1, difficulty=1,
    hints=["h = W x squeezes each instance's features into d_hidden dimensions; Wᵀ h brings them back; then add "
           "b_final and apply the ReLU.",
           "einops.einsum(x, W, 'batch inst feat, inst hid feat -> batch inst hid'), then "
           "einops.einsum(h, W, 'batch inst hid, inst hid feat -> batch inst feat')."],
    make_cases=forward_cases,
    mutants=[
        Mutant("no-relu", "the output has negative entries: the toy model ends with a ReLU, "
               "x' = ReLU(Wᵀ W x + b_final), which is what lets it hold more features than dimensions.",
               functools.partial(_toy, relu=False)),
        Mutant("bias-after-relu", "b_final was added after the ReLU; it goes inside: ReLU(Wᵀ W x + b_final), so a "
               "negative bias can silence the interference from other features.",
               functools.partial(_toy, bias="after")),
        Mutant("no-bias", "b_final is missing: x' = ReLU(Wᵀ W x + b_final).", functools.partial(_toy, bias="none")),
        Mutant("hidden-relu", "there is a ReLU on the hidden layer too (ReLU(W x)): that is the paper's "
               "privileged-basis (neuron) model; this one's hidden layer h = W x is linear.",
               functools.partial(_toy, hidden_relu=True)),
    ],
)


# ---------------------------------------------------------------------------
# generate_batch
# ---------------------------------------------------------------------------


def batch_cases() -> list[Case]:
    g = torch.Generator().manual_seed(602)
    per_feature = torch.rand(2, 6, generator=g) * 0.8 + 0.1  # a probability for every instance and feature
    return [dict(batch_size=64, feature_probability=per_instance([1.0, 0.3, 0.05], 5), seed=0),
            dict(batch_size=40, feature_probability=per_feature, seed=7)]


def _batch(batch_size, feature_probability, seed, *, how="reference"):
    g = torch.Generator().manual_seed(seed)
    shape = (batch_size, *feature_probability.shape)
    if how == "one-draw":  # one draw for presence and value: present features are all below p
        u = torch.rand(shape, generator=g)
        return torch.where(u < feature_probability, u, 0.0)
    if how == "ones":  # presence only
        return (torch.rand(shape, generator=g) < feature_probability).float()
    values = torch.randn(shape, generator=g) if how == "gaussian" else torch.rand(shape, generator=g)
    seeds = torch.rand(feature_probability.shape if how == "one-mask" else shape, generator=g)
    present = seeds > feature_probability if how == "sparsity" else seeds < feature_probability
    return torch.where(present, values, 0.0)


register_exercise(
    id="ch06.generate_batch", name="generate_batch", title="Sparse feature batches", points=1, difficulty=1,
    hints=["Two draws of the full shape (batch_size, n_instances, n_features) from one generator: the values "
           "first, then the presence seeds.",
           "g = torch.Generator().manual_seed(seed); values = torch.rand(shape, generator=g); seeds = "
           "torch.rand(shape, generator=g); torch.where(seeds < feature_probability, values, 0.0)."],
    make_cases=batch_cases,
    mutants=[
        Mutant("sparsity-for-probability", "features are present with probability 1 - p: feature_probability is "
               "the chance a feature is present (the paper's sparsity is S = 1 - p), so keep a feature where its "
               "seed is *below* p.", functools.partial(_batch, how="sparsity")),
        Mutant("one-mask-per-batch", "the same features are present in every row of the batch: draw the presence "
               "seeds with the batch's full shape, one per row, instance and feature.",
               functools.partial(_batch, how="one-mask")),
        Mutant("one-draw", "presence and value come from one draw, so every present feature is smaller than its "
               "probability; draw the values and the presence seeds separately (values first).",
               functools.partial(_batch, how="one-draw")),
        Mutant("ones", "present features are all 1: a present feature takes a value uniform in [0, 1) "
               "(torch.rand), drawn before the presence seeds.", functools.partial(_batch, how="ones")),
        Mutant("gaussian-values", "the values are Gaussian (torch.randn), some negative; features are magnitudes "
               "uniform in [0, 1): torch.rand.", functools.partial(_batch, how="gaussian")),
    ],
)


# ---------------------------------------------------------------------------
# importance_weighted_mse
# ---------------------------------------------------------------------------


def mse_cases() -> list[Case]:
    g = torch.Generator().manual_seed(603)
    cases = []
    for batch, probs, n_features, full_table in ((16, [1.0, 0.2, 0.05], 5, False), (10, [0.5, 0.1], 6, True)):
        p = per_instance(probs, n_features)
        x = sparse_batch(g, batch, p)
        out = torch.relu(x + _randn(g, *x.shape, scale=0.3))
        importance = (torch.rand(len(probs), n_features, generator=g) * 1.5 + 0.2 if full_table
                      else 0.7 ** torch.arange(n_features))
        cases.append(dict(out=out, batch=x, importance=importance))
    return cases


def _mse(out, batch, importance, *, how="reference"):
    error = (batch - out).pow(2)
    if how == "unweighted":
        return error.mean(dim=(0, 2))
    if how == "inside-square":
        return (importance * (batch - out)).pow(2).mean(dim=(0, 2))
    weighted = importance * error
    if how == "sum-features":
        return weighted.mean(dim=0).sum(dim=-1)
    if how == "scalar":
        return weighted.mean()
    return weighted.mean(dim=(0, 2))


register_exercise(
    id="ch06.importance_weighted_mse", name="importance_weighted_mse", title="The importance-weighted loss",
    points=1, difficulty=1,
    hints=["Weight each squared error by its feature's importance, then average over the batch (dim 0) and the "
           "features (dim 2); each instance keeps its own loss.",
           "(importance * (batch - out) ** 2).mean(dim=(0, 2))"],
    make_cases=mse_cases,
    mutants=[
        Mutant("unweighted", "the squared errors are not weighted by importance: multiply each by its feature's "
               "importance, so the model cares most about the important features.",
               functools.partial(_mse, how="unweighted")),
        Mutant("importance-inside-square", "the importance went inside the square, weighting by importance²: "
               "the loss is importance * (batch - out)².", functools.partial(_mse, how="inside-square")),
        Mutant("summed-over-features", "the features were summed (the paper's Σ_i), not averaged: this chapter "
               "averages over the batch and the features (ARENA's reduction).",
               functools.partial(_mse, how="sum-features")),
        Mutant("one-number", "the instances were averaged too: return one loss per instance, [n_instances] "
               "(training sums them, so instances do not interact).", functools.partial(_mse, how="scalar")),
    ],
)


# ---------------------------------------------------------------------------
# feature_dimensionality
# ---------------------------------------------------------------------------


def dimensionality_cases() -> list[Case]:
    g = torch.Generator().manual_seed(604)
    angles = 2 * torch.pi * torch.arange(5) / 5
    pentagon = torch.stack([torch.cos(angles), torch.sin(angles)]) * 1.1  # [d_hidden=2 n_features=5]
    pairs = torch.tensor([[1.0, -0.8, 0.0, 0.3, 0.1], [0.0, 0.1, 1.2, -0.2, 0.4]])  # a near-antipodal pair, ...
    random = _randn(g, 2, 3, 6, scale=0.7)
    random[1, :, 2] = 0.0  # a dropped feature
    return [dict(W=torch.stack([pentagon, pairs])), dict(W=random)]


def _dimensionality(W, *, norm_dim=1, hat=True, self_term=True, square=True, clamp=True):
    def floor(t):
        return t.clamp_min(1e-12) if clamp else t

    W_hat = W / floor(W.norm(dim=norm_dim, keepdim=True)) if hat else W
    overlaps = einops.einsum(W_hat, W, "inst hid i, inst hid j -> inst i j")
    terms = overlaps.pow(2) if square else overlaps.abs()
    if not self_term:
        terms = terms - torch.diag_embed(terms.diagonal(dim1=-2, dim2=-1))
    return W.pow(2).sum(dim=1) / floor(terms.sum(dim=-1))


register_exercise(
    id="ch06.feature_dimensionality", name="feature_dimensionality", title="Feature dimensionality", points=2,
    difficulty=2,
    hints=["Feature i is the column W[:, :, i]: normalise over d_hidden (dim 1). Then overlaps[inst, i, j] = "
           "Ŵ_i · W_j, and D_i = ||W_i||² / Σ_j overlaps[i, j]².",
           "W_hat = W / W.norm(dim=1, keepdim=True).clamp_min(1e-12); einops.einsum(W_hat, W, "
           "'inst hid i, inst hid j -> inst i j'); W.pow(2).sum(1) / overlaps.pow(2).sum(-1).clamp_min(1e-12)."],
    make_cases=dimensionality_cases,
    mutants=[
        Mutant("rows-not-columns", "the norms were taken over the features (each row of W); a feature is a column, "
               "W[:, :, i], so divide by W.norm(dim=1, keepdim=True).", functools.partial(_dimensionality, norm_dim=2)),
        Mutant("unnormalised-overlaps", "the overlaps are W_i · W_j; the first vector is the unit one, Ŵ_i · W_j "
               "(W_i divided by its norm), so a feature alone in its dimension gets exactly 1.",
               functools.partial(_dimensionality, hat=False)),
        Mutant("without-self", "the sum leaves out j = i: Σ_j (Ŵ_i · W_j)² includes the feature itself, "
               "(Ŵ_i · W_i)² = ||W_i||², so D_i is at most 1.",
               functools.partial(_dimensionality, self_term=False)),
        Mutant("not-squared", "the overlaps were not squared: the denominator is Σ_j (Ŵ_i · W_j)².",
               functools.partial(_dimensionality, square=False)),
        Mutant("nan-for-dropped", "a dropped feature (a zero column) gives NaN: 0 / 0. Clamp the norms and the "
               "denominator with .clamp_min(1e-12) so that it gets 0.",
               functools.partial(_dimensionality, clamp=False)),
    ],
)
