"""Chapter 6 checks: what SAE training does besides gradient steps (unit decoder rows, resampling dead latents)."""

from __future__ import annotations

import functools

import torch

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import register_exercise, sae_inputs, sae_weights

# ---------------------------------------------------------------------------
# normalise_decoder
# ---------------------------------------------------------------------------


def decoder_cases() -> list[Case]:
    g = torch.Generator().manual_seed(621)
    scales = torch.rand(12, 1, generator=g) * 3 + 0.2  # rows of very different norms
    return [dict(W_dec=_randn(g, 12, 5) * scales), dict(W_dec=_randn(g, 6, 9, scale=0.4))]


def _normalise(W_dec, *, how="rows"):
    norm = {"rows": W_dec.norm(dim=-1, keepdim=True), "columns": W_dec.norm(dim=0, keepdim=True),
            "matrix": W_dec.norm(), "squared": W_dec.pow(2).sum(-1, keepdim=True), "none": 1.0}[how]
    return W_dec / norm


register_exercise(
    id="ch06.normalise_decoder", name="normalise_decoder", title="Unit decoder rows", points=1, difficulty=1,
    hints=["W_dec is [d_sae, d_in]: latent i's direction is row i, so each row gets its own norm (over d_in, the "
           "last axis).",
           "W_dec / W_dec.norm(dim=-1, keepdim=True)"],
    make_cases=decoder_cases,
    mutants=[
        Mutant("columns", "the columns were normalised (over d_sae, dim 0); a latent's direction is a row of W_dec "
               "[d_sae, d_in]: W_dec.norm(dim=-1, keepdim=True).", functools.partial(_normalise, how="columns")),
        Mutant("not-normalised", "the decoder is not normalised: its rows must have norm 1, else the L1 penalty is "
               "dodged by shrinking acts and growing W_dec.", functools.partial(_normalise, how="none")),
        Mutant("whole-matrix", "the whole matrix was divided by one norm (its Frobenius norm); each row needs its "
               "own: keepdim=True over the last axis.", functools.partial(_normalise, how="matrix")),
        Mutant("squared-norm", "the rows were divided by their squared norm (the sum of squares); divide by the "
               "norm itself, its square root.", functools.partial(_normalise, how="squared")),
    ],
)


# ---------------------------------------------------------------------------
# remove_parallel_grad
# ---------------------------------------------------------------------------


def grad_cases() -> list[Case]:
    g = torch.Generator().manual_seed(622)
    cases = []
    for d_sae, d_in in ((10, 4), (5, 8)):
        scales = torch.rand(d_sae, 1, generator=g) + 0.6  # rows drifted away from norm 1
        cases.append(dict(W_dec=_randn(g, d_sae, d_in) * scales, grad=_randn(g, d_sae, d_in)))
    return cases


def _remove(W_dec, grad, *, unit=True, dim=-1, keep="perpendicular"):
    w = W_dec / W_dec.norm(dim=dim, keepdim=True) if unit else W_dec
    parallel = (grad * w).sum(dim, keepdim=True) * w
    return {"perpendicular": grad - parallel, "parallel": parallel, "added": grad + parallel}[keep]


register_exercise(
    id="ch06.remove_parallel_grad", name="remove_parallel_grad", title="The decoder's tangent gradient", points=1,
    difficulty=2,
    hints=["Row by row: w = W_dec[i] / ||W_dec[i]||, then grad[i] - (grad[i] · w) w.",
           "unit = W_dec / W_dec.norm(dim=-1, keepdim=True); grad - (grad * unit).sum(-1, keepdim=True) * unit"],
    make_cases=grad_cases,
    mutants=[
        Mutant("rows-not-unit", "the projection used W_dec's rows as they are; divide each by its norm first: "
               "(grad · w) w is the component along w only when ||w|| = 1.", functools.partial(_remove, unit=False)),
        Mutant("columns", "the projection ran over the columns (dim 0); each latent's direction is a row of W_dec: "
               "dot products and norms over the last axis.", functools.partial(_remove, dim=0)),
        Mutant("parallel-kept", "this is the component along each row, the part to remove: return "
               "grad - (grad · w) w.", functools.partial(_remove, keep="parallel")),
        Mutant("parallel-added", "the parallel component was added; subtract it: grad - (grad · w) w.",
               functools.partial(_remove, keep="added")),
    ],
)


# ---------------------------------------------------------------------------
# resample_dead
# ---------------------------------------------------------------------------


def resample_cases() -> list[Case]:
    g = torch.Generator().manual_seed(623)
    cases = []
    for n, d_in, d_sae, dead_latents, seed in ((24, 6, 10, [1, 4, 6, 8], 0), (16, 5, 8, [0, 2, 5], 3)):
        w = sae_weights(g, d_in, d_sae)
        dead = torch.zeros(d_sae, dtype=torch.bool)
        dead[dead_latents] = True
        w["W_enc"][:, dead] *= 4.0  # dead latents' columns are large: counting them in the mean norm shows
        x = sae_inputs(g, n, b_dec=w["b_dec"])
        error_scale = torch.rand(n, 1, generator=g) + 0.3  # some inputs reconstructed worse than others
        cases.append(dict(W_enc=w["W_enc"], b_enc=w["b_enc"], W_dec=w["W_dec"], x=x,
                          x_hat=x + _randn(g, n, d_in) * error_scale, dead=dead, seed=seed))
    return cases


def _resample(W_enc, b_enc, W_dec, x, x_hat, dead, seed, encoder_scale=0.2, *, power=2, unit=True, scaled=True,
              reset_bias=True, norm_over="alive"):
    W_enc, b_enc, W_dec = W_enc.clone(), b_enc.clone(), W_dec.clone()
    index = dead.nonzero().squeeze(-1)
    residual = x - x_hat
    loss = residual.pow(2).sum(-1)
    rows = torch.multinomial(loss.pow(power), len(index), replacement=True,
                             generator=torch.Generator().manual_seed(seed))
    direction = residual[rows] / residual[rows].norm(dim=-1, keepdim=True) if unit else residual[rows]
    columns = W_enc[:, ~dead] if norm_over == "alive" else W_enc
    scale = encoder_scale * columns.norm(dim=0).mean() if scaled else 1.0
    W_dec[index] = direction
    W_enc[:, index] = (direction * scale).T
    if reset_bias:
        b_enc[index] = 0.0
    return W_enc, b_enc, W_dec


register_exercise(
    id="ch06.resample_dead", name="resample_dead", title="Resampling dead latents", points=3, difficulty=3,
    hints=["index = dead.nonzero().squeeze(-1); residual = x - x_hat; loss = residual.pow(2).sum(-1); draw "
           "rows = torch.multinomial(loss ** 2, len(index), replacement=True, generator=g).",
           "direction = residual[rows] / its norm (dim=-1); W_dec[index] = direction; W_enc[:, index] = "
           "(direction * encoder_scale * W_enc[:, ~dead].norm(dim=0).mean()).T; b_enc[index] = 0 (on clones)."],
    make_cases=resample_cases,
    mutants=[
        Mutant("loss-not-squared", "the inputs were drawn with probability proportional to their loss; "
               "Towards Monosemanticity draws them proportional to the loss squared: torch.multinomial(loss ** 2, "
               "...).", functools.partial(_resample, power=1)),
        Mutant("decoder-row-not-unit", "the new decoder rows are the raw residuals; divide each by its norm, "
               "since decoder rows have norm 1.", functools.partial(_resample, unit=False)),
        Mutant("encoder-not-scaled", "the new encoder columns are the unit directions themselves; scale them by "
               "encoder_scale times the mean norm of the alive latents' encoder columns, so a resampled latent "
               "starts small.", functools.partial(_resample, scaled=False)),
        Mutant("bias-kept", "the dead latents kept their b_enc; set it to 0 so that a resampled latent starts "
               "from its new direction alone.", functools.partial(_resample, reset_bias=False)),
        Mutant("norm-over-every-latent", "the mean encoder norm counted the dead latents too; average the norms "
               "of the alive latents' columns only: W_enc[:, ~dead].norm(dim=0).mean().",
               functools.partial(_resample, norm_over="all")),
    ],
)
