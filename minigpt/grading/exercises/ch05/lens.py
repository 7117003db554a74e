"""Chapter 5 checks: the accumulated residual stream and the logit lens (functions of a model)."""

from __future__ import annotations

import functools

import torch

from ...registry import Case, Mutant
from ._common import random_state, register_exercise

# untied, with an unembedding bias: the lens must use the model's whole unembedding
_LENS_CFG = dict(n_layers=3, d_model=16, n_heads=2, d_mlp=32, d_vocab=11, n_ctx=8, tie_embeddings=False,
                 unembed_bias=True)


def lens_cases() -> list[Case]:
    g = torch.Generator().manual_seed(503)
    cases = []
    for cfg, batch, pos in ((_LENS_CFG, 2, 5), (dict(_LENS_CFG, n_layers=2), 3, 4)):
        tokens = torch.randint(0, cfg["d_vocab"], (batch, pos), generator=g)
        cases.append(dict(cfg=cfg, state_dict=random_state(g, cfg), calls=[dict(tokens=tokens)]))
    return cases


def _names(n_layers: int, kind: str) -> list[str]:
    if kind == "post":  # after every block: the embeddings are missing
        return [f"blocks.{layer}.hook_resid_post" for layer in range(n_layers)]
    if kind == "pre":  # before every block: the last block's output is missing
        return [f"blocks.{layer}.hook_resid_pre" for layer in range(n_layers)]
    names = []
    for layer in range(n_layers):
        names.append(f"blocks.{layer}.hook_resid_pre")
        if kind == "mid":
            names.append(f"blocks.{layer}.hook_resid_mid")
    return names + [f"blocks.{n_layers - 1}.hook_resid_post"]


def _accumulated(model, tokens, *, kind="pre+final", ln=False, dim=0):
    names = _names(model.cfg.n_layers, kind)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=names)
        resids = torch.stack([cache[name] for name in names], dim=dim)
        return model.ln_final(resids) if ln else resids


register_exercise(
    id="ch05.accumulated_resid", name="accumulated_resid", title="The accumulated residual stream", points=1,
    difficulty=1,
    hints=["n_layers + 1 snapshots: blocks.{L}.hook_resid_pre for L = 0 .. n_layers - 1, then "
           "blocks.{n_layers - 1}.hook_resid_post.",
           "model.run_with_cache(tokens, names_filter=names), then torch.stack([cache[n] for n in names])."],
    make_cases=lens_cases,
    mutants=[
        Mutant("no-embeddings", "the stream was read after every block (resid_post), so the first snapshot, "
               "the embeddings before block 0 (blocks.0.hook_resid_pre), is missing.",
               functools.partial(_accumulated, kind="post")),
        Mutant("no-final", "only the streams entering each block are there; add the last block's output, "
               "blocks.{n_layers - 1}.hook_resid_post, which ln_final reads.",
               functools.partial(_accumulated, kind="pre")),
        Mutant("with-mid", "the streams between attention and MLP (hook_resid_mid) are in too; keep one "
               "snapshot per block boundary: n_layers + 1 of them.", functools.partial(_accumulated, kind="mid")),
        Mutant("ln-final-applied", "the snapshots went through ln_final; return the raw residual stream (the "
               "logit lens applies ln_final afterwards).", functools.partial(_accumulated, ln=True)),
        Mutant("stacked-on-dim-1", "the snapshots were stacked along dim 1; the layer axis comes first: "
               "torch.stack(resids) with dim=0 gives [n_layers + 1, batch, pos, d_model].",
               functools.partial(_accumulated, dim=1)),
    ],
    kind="model", atol=1e-4, rtol=1e-4,
)


def _lens(model, tokens, *, ln=True, bias=True, out="log_softmax", dim=-1):
    resids = _accumulated(model, tokens)
    with torch.no_grad():
        x = model.ln_final(resids) if ln else resids
        logits = model.unembed(x) if bias else x @ model.W_U
        return {"log_softmax": logits.log_softmax(dim=dim), "logits": logits, "softmax": logits.softmax(dim=-1)}[out]


register_exercise(
    id="ch05.logit_lens", name="logit_lens", title="The logit lens", points=2, difficulty=1,
    hints=["The model reads its own last stream as log_softmax(unembed(ln_final(resid))): do the same to every "
           "snapshot of accumulated_resid.",
           "model.unembed(model.ln_final(resids)).log_softmax(dim=-1): both modules take any leading axes."],
    make_cases=lens_cases,
    mutants=[
        Mutant("no-ln-final", "ln_final was skipped: the unembedding reads the *normalised* stream, so put "
               "each snapshot through model.ln_final first.", functools.partial(_lens, ln=False)),
        Mutant("logits", "these are logits; the lens returns log-probabilities: log_softmax over the vocabulary.",
               functools.partial(_lens, out="logits")),
        Mutant("probabilities", "these are probabilities (softmax); return log-probabilities (log_softmax), as the "
               "last entry must equal the model's own log-probs.", functools.partial(_lens, out="softmax")),
        Mutant("no-unembed-bias", "the unembedding's bias b_U is missing (x @ W_U alone); use model.unembed(x), "
               "which adds it.", functools.partial(_lens, bias=False)),
        Mutant("softmax-over-layers", "the log_softmax ran over the layers (dim 0); normalise over the vocabulary, "
               "the last axis.", functools.partial(_lens, dim=0)),
    ],
    depends_on=["ch05.accumulated_resid"], kind="model", atol=1e-4, rtol=1e-4,
)
