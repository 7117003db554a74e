"""Chapter 1 checks: LayerNorm, token and position embeddings."""

from __future__ import annotations

import torch

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import register_exercise


# ---------------------------------------------------------------------------
# layer_norm
# ---------------------------------------------------------------------------


def layer_norm_cases() -> list[Case]:
    g = torch.Generator().manual_seed(101)
    return [
        dict(x=_randn(g, 2, 3, 7, scale=2.0, shift=1.5), w=_randn(g, 7), b=_randn(g, 7), eps=1e-5),
        # variance ~ eps: where eps goes matters
        dict(x=_randn(g, 1, 4, 5, scale=1e-3, shift=2e-3), w=_randn(g, 5), b=_randn(g, 5), eps=1e-5),
        dict(x=_randn(g, 3, 2, 6, shift=0.5), w=_randn(g, 6), b=_randn(g, 6), eps=0.5),
        # stability: far from 0 (and exact in float32), where E[x²] - E[x]² cancels to noise; centre x first
        dict(x=1024.0 + torch.randint(-40, 41, (2, 3, 16), generator=g) / 8, w=_randn(g, 16), b=_randn(g, 16),
             eps=1e-5),
    ]


def _ln_stats(x, dim=-1, correction=0):
    mean = x.mean(dim=dim, keepdim=True)
    return mean, (x - mean).pow(2).sum(dim=dim, keepdim=True) / (x.shape[dim] - correction)


def _ln_eps_outside(x, w, b, eps=1e-5):
    mean, var = _ln_stats(x)
    return (x - mean) / (var.sqrt() + eps) * w + b


def _ln_unbiased(x, w, b, eps=1e-5):
    mean, var = _ln_stats(x, correction=1)
    return (x - mean) / (var + eps).sqrt() * w + b


def _ln_not_centred(x, w, b, eps=1e-5):
    _, var = _ln_stats(x)
    return x / (var + eps).sqrt() * w + b


def _ln_rms(x, w, b, eps=1e-5):
    return x / (x.pow(2).mean(dim=-1, keepdim=True) + eps).sqrt() * w + b


def _ln_whole_tensor(x, w, b, eps=1e-5):
    return (x - x.mean()) / (x.var(correction=0) + eps).sqrt() * w + b


def _ln_pos_axis(x, w, b, eps=1e-5):
    mean, var = _ln_stats(x, dim=-2)
    return (x - mean) / (var + eps).sqrt() * w + b


def _ln_no_affine(x, w, b, eps=1e-5):
    mean, var = _ln_stats(x)
    return (x - mean) / (var + eps).sqrt()


register_exercise(
    id="ch01.layer_norm", name="layer_norm", title="LayerNorm", points=2, difficulty=1,
    hints=["Mean and variance over the last axis only: x.mean(dim=-1, keepdim=True).",
           "Biased variance (divide by d_model) and eps inside the square root: (var + eps).sqrt()."],
    make_cases=layer_norm_cases,
    mutants=[
        Mutant("eps-outside-sqrt", "epsilon is added outside the square root, x / (std + eps); "
               "add it to the variance instead: (x - mean) / sqrt(var + eps).", _ln_eps_outside),
        Mutant("unbiased-variance", "the variance is the unbiased one (divided by d_model - 1, torch.var's "
               "default); LayerNorm uses the biased one: var(..., correction=0) or mean of squares.", _ln_unbiased),
        Mutant("not-centred", "the output is not centred: you divide x itself by the standard deviation; "
               "subtract the mean first: (x - mean) / sqrt(var + eps).", _ln_not_centred),
        Mutant("rms-norm", "no mean is subtracted anywhere (this is RMSNorm): centre x before taking "
               "the variance and before dividing.", _ln_rms),
        Mutant("whole-tensor-stats", "mean and variance are taken over the whole tensor; take them over the "
               "last axis only, at each position: dim=-1, keepdim=True.", _ln_whole_tensor),
        Mutant("pos-axis-stats", "mean and variance are taken over the positions (dim=-2); LayerNorm "
               "normalises each position's vector over d_model: dim=-1.", _ln_pos_axis),
        Mutant("no-affine", "w and b are not applied: multiply the normalised x by w and add b.", _ln_no_affine),
    ],
)


# ---------------------------------------------------------------------------
# embed, pos_embed
# ---------------------------------------------------------------------------


def embed_cases() -> list[Case]:
    g = torch.Generator().manual_seed(102)
    # token ids below d_model, so that the columns mistake (W_E[:, tokens]) runs rather than crashing
    return [dict(tokens=torch.randint(0, min(v, d), (b, p), generator=g), W_E=_randn(g, v, d))
            for b, p, v, d in ((2, 5, 7, 10), (3, 4, 13, 8), (1, 7, 9, 12))]


def _embed_columns(tokens, W_E):
    return W_E[:, tokens]


def _embed_positions(tokens, W_E):
    return W_E[: tokens.shape[1]].expand(tokens.shape[0], -1, -1)


def _embed_flat(tokens, W_E):
    return W_E[tokens.flatten()]


register_exercise(
    id="ch01.embed", name="embed", title="Token embedding", points=1, difficulty=1,
    hints=["W_E has one row per token id: W_E[tokens] gives [batch pos d_model]."],
    make_cases=embed_cases,
    mutants=[
        Mutant("columns", "you picked columns of W_E (W_E[:, tokens], or one_hot @ W_E.T); W_E is "
               "[d_vocab, d_model], one *row* per token: W_E[tokens].", _embed_columns),
        Mutant("positions", "you looked up the positions 0..pos-1 instead of the token ids; the token "
               "embedding is W_E[tokens] (positions are pos_embed's job).", _embed_positions),
        Mutant("flattened", "the batch and pos axes were flattened into one; index with the [batch pos] "
               "tokens directly so the result is [batch pos d_model].", _embed_flat),
    ],
)


def pos_embed_cases() -> list[Case]:
    g = torch.Generator().manual_seed(103)
    # token ids below n_ctx, so that looking up W_pos[tokens] runs (and is wrong) rather than crashing
    return [dict(tokens=torch.randint(0, n, (b, p), generator=g), W_pos=_randn(g, n, d))
            for b, p, n, d in ((2, 5, 16, 6), (3, 4, 10, 8), (1, 7, 12, 5))]


def _pos_by_token(tokens, W_pos):
    return W_pos[tokens]


def _pos_no_batch(tokens, W_pos):
    return W_pos[: tokens.shape[1]]


def _pos_whole_table(tokens, W_pos):
    return W_pos.expand(tokens.shape[0], -1, -1)


def _pos_off_by_one(tokens, W_pos):
    return W_pos[1 : tokens.shape[1] + 1].expand(tokens.shape[0], -1, -1)


register_exercise(
    id="ch01.pos_embed", name="pos_embed", title="Position embedding", points=1, difficulty=1,
    hints=["Only tokens.shape matters: W_pos[:pos], repeated over the batch."],
    make_cases=pos_embed_cases,
    mutants=[
        Mutant("by-token-id", "you indexed W_pos with the token ids; the position embedding depends on where "
               "a token is, not what it is: W_pos[:pos] for every sequence.", _pos_by_token),
        Mutant("no-batch-axis", "the result has no batch axis ([pos d_model]); repeat it over the batch "
               "(einops.repeat or .expand(batch, -1, -1)).", _pos_no_batch),
        Mutant("whole-table", "you returned all n_ctx rows of W_pos; keep only the first pos rows, "
               "W_pos[:pos].", _pos_whole_table),
        Mutant("off-by-one", "positions start at 1; the first token is at position 0: W_pos[:pos], "
               "not W_pos[1:pos+1].", _pos_off_by_one),
    ],
)


