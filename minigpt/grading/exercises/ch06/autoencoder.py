"""Chapter 6 checks: the SAE's encoder, the TopK activation and the ReLU SAE's training loss."""

from __future__ import annotations

import functools

import torch

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import register_exercise, sae_inputs, sae_weights

# ---------------------------------------------------------------------------
# sae_encode
# ---------------------------------------------------------------------------


def encode_cases() -> list[Case]:
    g = torch.Generator().manual_seed(611)
    cases = []
    for shape, d_in, d_sae in (((12,), 6, 16), ((3, 5), 4, 10)):
        w = sae_weights(g, d_in, d_sae)
        cases.append(dict(x=sae_inputs(g, *shape, b_dec=w["b_dec"]), W_enc=w["W_enc"], b_enc=w["b_enc"],
                          b_dec=w["b_dec"]))
    return cases


def _encode(x, W_enc, b_enc, b_dec, *, centre=-1.0, relu=True, bias="inside"):
    pre = (x + centre * b_dec) @ W_enc
    if bias == "inside":
        pre = pre + b_enc
    out = torch.relu(pre) if relu else pre
    return out + b_enc if bias == "after" else out


register_exercise(
    id="ch06.sae_encode", name="sae_encode", title="The SAE's encoder", points=1, difficulty=1,
    hints=["Centre first (x - b_dec), then the encoder's matrix and bias, then the ReLU.",
           "torch.relu((x - b_dec) @ W_enc + b_enc)"],
    make_cases=encode_cases,
    mutants=[
        Mutant("no-b_dec", "b_dec was not subtracted before encoding: the encoder reads x - b_dec, the input "
               "centred by the decoder's bias.", functools.partial(_encode, centre=0.0)),
        Mutant("b_dec-added", "b_dec was added; subtract it: (x - b_dec) @ W_enc + b_enc (the decoder adds it "
               "back after decoding).", functools.partial(_encode, centre=1.0)),
        Mutant("no-relu", "these are the pre-activations, some negative: the latents' activations are "
               "ReLU((x - b_dec) @ W_enc + b_enc).", functools.partial(_encode, relu=False)),
        Mutant("bias-after-relu", "b_enc was added after the ReLU; it goes inside, as the threshold each latent "
               "must pass: ReLU((x - b_dec) @ W_enc + b_enc).", functools.partial(_encode, bias="after")),
    ],
)


# ---------------------------------------------------------------------------
# topk_activation
# ---------------------------------------------------------------------------


def topk_cases() -> list[Case]:
    g = torch.Generator().manual_seed(612)
    flat = _randn(g, 5, 8, shift=-0.6)  # some rows have fewer than k positive entries
    return [dict(pre=flat, k=3), dict(pre=_randn(g, 3, 4, 7, shift=-0.3), k=2)]


def _topk(pre, k, *, dim=-1, relu=True, out="values", by="value"):
    key = pre.abs() if by == "magnitude" else pre
    indices = key.topk(k, dim=dim).indices
    values = pre.gather(dim, indices)
    if relu:
        values = values.relu()
    if out == "mask":
        return torch.zeros_like(pre).scatter(dim, indices, 1.0)
    return torch.zeros_like(pre).scatter(dim, indices, values)


register_exercise(
    id="ch06.topk_activation", name="topk_activation", title="The TopK activation", points=2, difficulty=2,
    hints=["Per token, over the latents (the last axis): find the k largest pre-activations, keep them ReLU'd, "
           "zero the rest.",
           "values, indices = pre.topk(k, dim=-1); torch.zeros_like(pre).scatter(-1, indices, values.relu())"],
    make_cases=topk_cases,
    mutants=[
        Mutant("wrong-axis", "the top k were taken over the batch (dim 0): TopK picks, for each token, its k "
               "largest latents, over the last axis (dim=-1).", functools.partial(_topk, dim=0)),
        Mutant("no-relu", "negative pre-activations survive where a token has fewer than k positive ones: "
               "ReLU the kept values (values.relu()).", functools.partial(_topk, relu=False)),
        Mutant("mask", "this is a 0/1 mask of the kept latents; return their (ReLU'd) pre-activation values "
               "there, 0 elsewhere.", functools.partial(_topk, out="mask")),
        Mutant("largest-magnitude", "the k largest in absolute value were kept; TopK keeps the k largest values "
               "(a large negative pre-activation is a latent that is off).",
               functools.partial(_topk, by="magnitude")),
    ],
)


# ---------------------------------------------------------------------------
# sae_loss
# ---------------------------------------------------------------------------


def loss_cases() -> list[Case]:
    g = torch.Generator().manual_seed(613)
    cases = []
    for batch, d_in, d_sae, l1_coeff in ((12, 6, 16, 0.3), (8, 4, 12, 1.5)):
        w = sae_weights(g, d_in, d_sae)
        cases.append(dict(x=sae_inputs(g, batch, b_dec=w["b_dec"]), **w, l1_coeff=l1_coeff))
    return cases


def _loss(x, W_enc, b_enc, W_dec, b_dec, l1_coeff, *, l1_on="post", mse="sum", add_b_dec=True, square=True,
          reduce="mean"):
    pre = (x - b_dec) @ W_enc + b_enc
    acts = torch.relu(pre)
    x_hat = acts @ W_dec + (b_dec if add_b_dec else 0.0)
    err = (x_hat - x).pow(2)
    per_token = {"sum": err.sum(-1), "mean": err.mean(-1), "norm": err.sum(-1).sqrt()}[mse]
    l1 = (pre if l1_on == "pre" else acts).abs().sum(-1)
    total = per_token + l1_coeff * l1
    return total.sum() if reduce == "sum" else total.mean()


register_exercise(
    id="ch06.sae_loss", name="sae_loss", title="The SAE's training loss", points=2, difficulty=2,
    hints=["acts = sae_encode(x, W_enc, b_enc, b_dec); x_hat = acts @ W_dec + b_dec. Per token: the squared error "
           "summed over d_in, plus l1_coeff times the L1 norm of acts; then the mean over the batch.",
           "(x_hat - x).pow(2).sum(-1).mean() + l1_coeff * acts.abs().sum(-1).mean()"],
    make_cases=loss_cases,
    mutants=[
        Mutant("l1-on-pre-activations", "the L1 penalty was taken on the pre-activations; it is on the latents' "
               "activations after the ReLU (acts), which are what must be sparse.",
               functools.partial(_loss, l1_on="pre")),
        Mutant("no-b_dec-in-decoder", "the reconstruction lacks b_dec: x_hat = acts @ W_dec + b_dec (the decoder "
               "adds back what the encoder subtracted).", functools.partial(_loss, add_b_dec=False)),
        Mutant("mse-averaged-over-d_in", "the squared error was averaged over d_in; this loss sums it over d_in "
               "(||x - x_hat||², as SAELens does) and averages over the batch only.",
               functools.partial(_loss, mse="mean")),
        Mutant("error-not-squared", "the reconstruction term is ||x - x_hat||, not squared: sum the squared "
               "errors over d_in.", functools.partial(_loss, mse="norm")),
        Mutant("summed-over-batch", "the loss was summed over the batch; average it over the batch, so that its "
               "size does not depend on the batch size.", functools.partial(_loss, reduce="sum")),
    ],
    depends_on=["ch06.sae_encode"],
)
