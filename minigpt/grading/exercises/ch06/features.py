"""Chapter 6 checks: reading a feature, by its top-activating contexts and by its direct effect on the logits."""

from __future__ import annotations

import functools

import torch

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import random_state, register_exercise, unit_rows

# ---------------------------------------------------------------------------
# top_activating_contexts
# ---------------------------------------------------------------------------


def context_cases() -> list[Case]:
    g = torch.Generator().manual_seed(641)
    acts = torch.relu(_randn(g, 6, 12, shift=-0.5))
    acts[0, 5], acts[0, 7] = 6.0, 5.5  # sequence 0 peaks twice: its second peak beats every other sequence
    acts[2, 1] = 5.0  # a peak near the start (the window is cut there)
    acts[4, 11] = 4.0  # and one at the very end
    first = dict(acts=acts, tokens=torch.randint(0, 50, (6, 12), generator=g), k=4, before=3, after=1)
    acts = torch.relu(_randn(g, 5, 10, shift=-0.3))
    acts[3, 0], acts[3, 2] = 4.0, 3.9
    acts[1, 8] = 3.5
    second = dict(acts=acts, tokens=torch.randint(0, 50, (5, 10), generator=g), k=3, before=2, after=4)
    return [first, second]


def _contexts(acts, tokens, k, before, after, *, one_per_sequence=True, clip=True, last=True, swap=False):
    if swap:
        before, after = after, before
    if one_per_sequence:
        values, peaks = acts.max(dim=1)
        top = [(b, int(peaks[b])) for b in values.topk(k).indices.tolist()]
    else:
        top = [divmod(i, acts.shape[1]) for i in acts.flatten().topk(k).indices.tolist()]
    out = []
    for b, p in top:
        start = max(0, p - before) if clip else p - before
        end = p + after + 1 if last else p + after
        out.append((b, p, float(acts[b, p]), tokens[b, start:end].tolist()))
    return out


register_exercise(
    id="ch06.top_activating_contexts", name="top_activating_contexts", title="Top-activating contexts", points=2,
    difficulty=2,
    hints=["One peak per sequence: values, peaks = acts.max(dim=1) gives each sequence's largest activation and "
           "where it is; the top k of values pick the sequences.",
           "start = max(0, pos - before) (a negative start would wrap around); tokens[b, start:pos + after + 1]."],
    make_cases=context_cases,
    mutants=[
        Mutant("not-deduplicated", "one sequence appears twice: the top k were taken over every token, so a long "
               "run of the feature fills the list. Keep each sequence's peak only (acts.max(dim=1)), then the top k "
               "of those.", functools.partial(_contexts, one_per_sequence=False)),
        Mutant("window-not-clipped", "a peak near the start got the wrong window: pos - before was negative, and "
               "a negative slice start counts from the end. Clip it: start = max(0, pos - before).",
               functools.partial(_contexts, clip=False)),
        Mutant("window-one-short", "the window stops one token early: it runs from pos - before to pos + after "
               "both included, so slice up to pos + after + 1.", functools.partial(_contexts, last=False)),
        Mutant("before-after-swapped", "before and after are swapped: the window starts `before` tokens before the "
               "peak and ends `after` tokens after it.", functools.partial(_contexts, swap=True)),
    ],
)


# ---------------------------------------------------------------------------
# latent_logit_effect
# ---------------------------------------------------------------------------

# untied, with an unembedding bias that must stay out; LayerNorm gains away from 1
_EFFECT_CFG = dict(n_layers=2, d_model=16, n_heads=2, d_mlp=24, d_vocab=13, n_ctx=8, tie_embeddings=False,
                   unembed_bias=True)


def effect_cases() -> list[Case]:
    g = torch.Generator().manual_seed(642)
    cases = []
    for calls in (((0, 3), (1, 0)), ((1, 7),)):
        state = random_state(g, _EFFECT_CFG)
        cases.append(dict(cfg=_EFFECT_CFG, state_dict=state, calls=[
            dict(layer=layer, W_dec=unit_rows(_randn(g, 10, _EFFECT_CFG["d_mlp"])), latent=latent)
            for layer, latent in calls]))
    return cases


def _effect(model, layer, W_dec, latent, *, through="W_out", centre=True, gain=True, unembed=True, b_U=False):
    with torch.no_grad():
        mlp = model.blocks[layer].mlp
        direction = W_dec[latent] @ mlp.W_out if through == "W_out" else mlp.W_in @ W_dec[latent]
        if centre:
            direction = direction - direction.mean()
        if gain:
            direction = direction * model.ln_final.w
        if not unembed:
            return direction
        return direction @ model.W_U + (model.unembed.b_U if b_U else 0.0)


register_exercise(
    id="ch06.latent_logit_effect", name="latent_logit_effect", title="A latent's direct logit effect", points=2,
    difficulty=2,
    hints=["The latent writes W_dec[latent] into the MLP's hidden space; the MLP's output matrix W_out carries it "
           "to the residual stream; ln_final centres it and scales it by its w; W_U reads it.",
           "direction = W_dec[latent] @ model.blocks[layer].mlp.W_out; "
           "((direction - direction.mean()) * model.ln_final.w) @ model.W_U"],
    make_cases=effect_cases,
    mutants=[
        Mutant("through-W_in", "the direction went through the MLP's input matrix W_in; the latent lives in the "
               "MLP's hidden space (hook_post), which reaches the residual stream through W_out: "
               "W_dec[latent] @ W_out.", functools.partial(_effect, through="W_in")),
        Mutant("no-unembedding", "this is the residual-stream direction [d_model]; the logit effect is what W_U "
               "makes of it: [d_vocab], one number per token.", functools.partial(_effect, unembed=False)),
        Mutant("not-centred", "the direction was not centred: ln_final subtracts the mean over d_model before "
               "anything else, so subtract direction.mean().", functools.partial(_effect, centre=False)),
        Mutant("no-ln-gain", "ln_final's gain is missing: after centring, ln_final multiplies by model.ln_final.w "
               "before W_U reads the direction.", functools.partial(_effect, gain=False)),
        Mutant("b_U-added", "the unembedding's bias b_U was added (model.unembed does that); a direction's effect "
               "leaves the biases out, as they add the same whatever fires.", functools.partial(_effect, b_U=True)),
    ],
    kind="model", atol=1e-4, rtol=1e-4,
)
