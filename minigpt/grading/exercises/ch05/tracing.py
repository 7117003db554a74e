"""Chapter 5 checks: the noise hook of causal tracing, and restoring one state in the noised run."""

from __future__ import annotations

import functools

import torch

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import CFG, build, random_state, register_exercise

# ---------------------------------------------------------------------------
# noise_subject_hook
# ---------------------------------------------------------------------------


def noise_cases() -> list[Case]:
    g = torch.Generator().manual_seed(507)
    return [dict(embed=_randn(g, 3, 6, 5), positions=[1, 2], noise=0.5, seed=0),
            dict(embed=_randn(g, 2, 5, 4), positions=[3], noise=2.0, seed=7),
            dict(embed=_randn(g, 1, 4, 6), positions=[0, 1, 2], noise=3.0, seed=1)]


def _noise(embed, positions, noise, seed, hook=None, *, where="subject", op="add", std=lambda nu: nu,
           shared=False):
    gen = torch.Generator().manual_seed(seed)
    batch, n_pos, d_model = embed.shape
    n = n_pos if where == "all" else len(positions)
    eps = std(noise) * torch.randn(1 if shared else batch, n, d_model, generator=gen)
    embed = embed.clone()
    index = (slice(None), slice(None) if where == "all" else positions)
    embed[index] = (embed[index] + eps) if op == "add" else eps.expand_as(embed[index])
    return embed


register_exercise(
    id="ch05.noise_subject_hook", name="noise_subject_hook", title="Noising the subject", points=1, difficulty=1,
    hints=["gen = torch.Generator().manual_seed(seed); eps = noise * torch.randn(batch, len(positions), d_model, "
           "generator=gen).",
           "embed = embed.clone(); embed[:, positions] += eps; return embed."],
    make_cases=noise_cases,
    mutants=[
        Mutant("every-position", "noise was added at every position; corrupt only the subject's tokens, "
               "embed[:, positions], so the rest of the prompt stays as it was.",
               functools.partial(_noise, where="all")),
        Mutant("replaced", "the subject's embeddings were replaced by the noise; *add* the noise to them: "
               "embed[:, positions] += eps.", functools.partial(_noise, op="replace")),
        Mutant("variance-not-std", "the draws were scaled by sqrt(noise); noise is the standard deviation ν, "
               "so multiply the standard normal draws by noise itself.",
               functools.partial(_noise, std=lambda nu: nu ** 0.5)),
        Mutant("unscaled", "the noise was not scaled: multiply the standard normal draws by noise.",
               functools.partial(_noise, std=lambda nu: 1.0)),
        Mutant("one-draw-for-the-batch", "every prompt of the batch got the same noise; draw one per prompt, "
               "torch.randn(batch, len(positions), d_model, generator=gen), so the samples differ.",
               functools.partial(_noise, shared=True)),
    ],
)


# ---------------------------------------------------------------------------
# trace_state
# ---------------------------------------------------------------------------


def trace_cases() -> list[Case]:
    g = torch.Generator().manual_seed(508)
    cases = []
    for cfg, pos, positions, calls in ((CFG, 6, [2, 3], [(0, 3), (1, 2), (2, 5)]),
                                       (dict(CFG, n_layers=2, d_vocab=10), 5, [1], [(0, 1), (1, 4)])):
        state = random_state(g, cfg)
        tokens = torch.randint(0, cfg["d_vocab"], (pos,), generator=g)
        with torch.no_grad():
            answer = int(build(cfg, state)(tokens[None])[0, -1].argmax())
        cases.append(dict(cfg=cfg, state_dict=state,
                          calls=[dict(tokens=tokens, positions=positions, answer=answer, layer=layer,
                                      position=position, noise=1.5, samples=3, seed=layer) for layer, position in calls]))
    return cases


def _trace(model, tokens, positions, answer, layer, position, noise, samples=4, seed=0, *, all_positions=False,
           hook="resid_post", out="prob", reverse=False):
    name = f"blocks.{layer}.hook_{hook}"
    corrupt = functools.partial(_noise, positions=positions, noise=noise, seed=seed)
    batch = tokens[None].expand(samples, -1)
    where = slice(None) if all_positions else position
    with torch.no_grad():
        if reverse:  # the clean run, with the noised run's state put in
            _, cache = _noised_cache(model, batch, name, corrupt)
            source, hooks = cache[name], []
        else:
            _, cache = model.run_with_cache(tokens[None], names_filter=[name])
            source, hooks = cache[name].expand(samples, -1, -1), [("hook_embed", corrupt)]

        def restore(resid, hook):
            resid = resid.clone()
            resid[:, where] = source[:, where]
            return resid

        logits = model.run_with_hooks(batch, fwd_hooks=hooks + [(name, restore)])[:, -1]
        if out == "logit":
            return logits[:, answer].mean().item()
        p = logits.softmax(dim=-1)[:, answer].mean().item()
        if out == "effect":
            p_corrupted = model.run_with_hooks(batch, fwd_hooks=[("hook_embed", corrupt)])[:, -1].softmax(-1)
            return p - p_corrupted[:, answer].mean().item()
        return p


def _noised_cache(model, batch, name, corrupt):
    with model.hooks(fwd_hooks=[("hook_embed", corrupt)]):
        return model.run_with_cache(batch, names_filter=[name])


register_exercise(
    id="ch05.trace_state", name="trace_state", title="Restoring one state", points=2, difficulty=2,
    hints=["Cache blocks.{layer}.hook_resid_post on the clean prompt; then run tokens[None].expand(samples, -1) "
           "with two hooks: noise_subject_hook on hook_embed, and one that sets resid[:, position] to the clean "
           "value.",
           "Return logits[:, -1].softmax(dim=-1)[:, answer].mean().item()."],
    make_cases=trace_cases,
    mutants=[
        Mutant("every-position", "the whole layer's stream was restored (every position), which gives the clean "
               "run back whatever the layer; restore one state, resid[:, position].",
               functools.partial(_trace, all_positions=True)),
        Mutant("resid-pre", "the stream entering the block (hook_resid_pre) was restored; the state (layer, "
               "position) is the block's output, blocks.{layer}.hook_resid_post.",
               functools.partial(_trace, hook="resid_pre")),
        Mutant("logit-not-probability", "this is the answer's logit; causal tracing measures its probability: "
               "softmax over the vocabulary first.", functools.partial(_trace, out="logit")),
        Mutant("indirect-effect", "this is the indirect effect (restored minus corrupted probability); return the "
               "restored run's probability itself.", functools.partial(_trace, out="effect")),
        Mutant("wrong-direction", "the clean prompt was run with the *noised* run's state put in; causal tracing "
               "runs the noised prompt and restores the *clean* state.",
               functools.partial(_trace, reverse=True)),
    ],
    depends_on=["ch05.noise_subject_hook"], kind="model", atol=1e-5, rtol=1e-4,
)
