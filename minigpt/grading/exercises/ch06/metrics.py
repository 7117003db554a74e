"""Chapter 6 checks: how sparse an SAE is (L0) and how well it reconstructs (fraction of variance explained)."""

from __future__ import annotations

import functools

import torch

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import register_exercise

# ---------------------------------------------------------------------------
# l0
# ---------------------------------------------------------------------------


def l0_cases() -> list[Case]:
    g = torch.Generator().manual_seed(631)
    return [dict(acts=torch.relu(_randn(g, 6, 10, shift=-0.7))),
            dict(acts=torch.relu(_randn(g, 2, 5, 7, shift=-0.3)))]


def _l0(acts, *, how="reference"):
    fired = (acts != 0).float()
    return {"reference": fired.sum(-1).mean(), "latent-axis": fired.sum(0).mean(), "total": fired.sum(),
            "l1": acts.sum(-1).mean(), "density": fired.mean()}[how].item()


register_exercise(
    id="ch06.l0", name="l0", title="L0: latents firing per token", points=1, difficulty=1,
    hints=["Count the non-zero latents of each token (over the last axis), then average those counts over every "
           "token.",
           "(acts != 0).float().sum(dim=-1).mean().item()"],
    make_cases=l0_cases,
    mutants=[
        Mutant("latent-axis", "the non-zeros were counted over the tokens (dim 0), per latent; L0 counts over the "
               "latents (the last axis), per token, then averages over tokens.",
               functools.partial(_l0, how="latent-axis")),
        Mutant("total", "this is the total number of non-zero entries; divide by the number of tokens: the mean "
               "over tokens of each token's count.", functools.partial(_l0, how="total")),
        Mutant("l1", "this sums the activations' values (the L1 norm); L0 counts how many are non-zero, "
               "whatever their size.", functools.partial(_l0, how="l1")),
        Mutant("density", "this is the fraction of entries that are non-zero (L0 / d_sae); sum over the latents "
               "before averaging over tokens.", functools.partial(_l0, how="density")),
    ],
)


# ---------------------------------------------------------------------------
# fraction_variance_explained
# ---------------------------------------------------------------------------


def fve_cases() -> list[Case]:
    g = torch.Generator().manual_seed(632)
    cases = []
    for shape in ((16, 5), (2, 6, 4)):
        d_in = shape[-1]
        x = _randn(g, *shape) * (torch.rand(d_in, generator=g) * 2 + 0.3) + _randn(g, d_in, scale=2.0)
        noise = _randn(g, *shape, scale=0.5) * (torch.rand(*shape[:-1], 1, generator=g) + 0.2)
        cases.append(dict(x=x, x_hat=x + noise))
    return cases


def _fve(x, x_hat, *, how="reference"):
    x, x_hat = x.reshape(-1, x.shape[-1]), x_hat.reshape(-1, x.shape[-1])
    error = (x - x_hat).pow(2)
    spread = {"zero": x, "token-mean": x - x.mean(dim=-1, keepdim=True)}.get(how, x - x.mean(dim=0)).pow(2)
    if how == "per-token":
        return (1 - error.sum(-1) / spread.sum(-1)).mean().item()
    if how == "per-dimension":
        return (1 - error.sum(0) / spread.sum(0)).mean().item()
    if how == "unexplained":
        return (error.sum() / spread.sum()).item()
    return (1 - error.sum() / spread.sum()).item()


register_exercise(
    id="ch06.fraction_variance_explained", name="fraction_variance_explained", title="Fraction of variance explained",
    points=1, difficulty=1,
    hints=["Flatten the tokens to [n_tokens, d_in]. The baseline is the mean activation vector over tokens, "
           "x.mean(dim=0): the variance is the squared distance to it, summed over tokens and d_in.",
           "1 - (x - x_hat).pow(2).sum() / (x - x.mean(dim=0)).pow(2).sum()"],
    make_cases=fve_cases,
    mutants=[
        Mutant("variance-around-zero", "the baseline is 0 (Σ ||x||²): measure the variance around the mean "
               "activation, Σ ||x - mean(x)||², or a constant offset counts as explained.",
               functools.partial(_fve, how="zero")),
        Mutant("mean-over-d_in", "each token's own mean over d_in was subtracted; the baseline is the mean over "
               "tokens, a vector [d_in]: x.mean(dim=0) after flattening the tokens.",
               functools.partial(_fve, how="token-mean")),
        Mutant("mean-of-token-ratios", "each token's ratio was averaged; pool instead: one sum of squared errors "
               "over every token and d_in, divided by one sum of squared deviations.",
               functools.partial(_fve, how="per-token")),
        Mutant("mean-of-dimension-ratios", "each dimension's fraction was averaged (sklearn's uniform average); "
               "pool the sums over every dimension before dividing.", functools.partial(_fve, how="per-dimension")),
        Mutant("unexplained", "this is the fraction *unexplained*; return 1 minus it.",
               functools.partial(_fve, how="unexplained")),
    ],
)
