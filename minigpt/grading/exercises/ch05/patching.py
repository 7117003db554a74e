"""Chapter 5 checks: activation patching of the residual stream, of heads' outputs and of their patterns.

Every mutant here is one generic patching loop (:func:`_patch_grid`) with one choice made wrong:
the direction, the activation, the slice patched, or the metric.
"""

from __future__ import annotations

import functools
import itertools

import torch

from ...registry import Case, Mutant
from ._common import CFG, mean_diff, prompt_pair, random_state, register_exercise

_DEPENDS = ["ch05.logit_diff", "ch05.patching_metric"]


def patch_cases() -> list[Case]:
    g = torch.Generator().manual_seed(504)
    cases = []
    for cfg, batch, pos, changed in ((CFG, 3, 6, [3]), (dict(CFG, n_layers=2, n_heads=3, d_head=4, d_vocab=10), 2, 5, [1, 3])):
        state = random_state(g, cfg)
        cases.append(dict(cfg=cfg, state_dict=state, calls=[prompt_pair(g, cfg, state, batch, pos, changed)]))
    return cases


def _patch_grid(model, clean, corrupted, io, s, *, site, hook_of, setter, reverse=False, raw=False):
    """``grid[index]``: the metric of one run with ``setter(act, source_act, index)`` at ``hook_of(index)``.

    The corrupted run takes the clean activations (``reverse``: the clean run takes the corrupted
    ones); ``site`` is ``"resid"`` (``[n_layers pos]``) or ``"head"`` (``[n_layers n_heads]``).
    """
    n_layers, n_heads, n_pos = model.cfg.n_layers, model.cfg.n_heads, clean.shape[1]
    shape = (n_layers, n_pos) if site == "resid" else (n_layers, n_heads)
    source, target = (corrupted, clean) if reverse else (clean, corrupted)
    grid = torch.zeros(shape)
    with torch.no_grad():
        clean_diff, corrupted_diff = mean_diff(model(clean), io, s), mean_diff(model(corrupted), io, s)
        _, cache = model.run_with_cache(source)
        for index in itertools.product(*map(range, shape)):
            name = hook_of(index)

            def patch(act, hook, index=index):
                return setter(act.clone(), cache[hook.name], index)

            diff = mean_diff(model.run_with_hooks(target, fwd_hooks=[(name, patch)]), io, s)
            grid[index] = diff if raw else (diff - corrupted_diff) / (clean_diff - corrupted_diff)
    return grid


def _set(act, source, where):
    act[where] = source[where]
    return act


# ---------------------------------------------------------------------------
# act_patch_resid_pre
# ---------------------------------------------------------------------------

_one_position = functools.partial(_patch_grid, site="resid", hook_of=lambda i: f"blocks.{i[0]}.hook_resid_pre",
                                  setter=lambda act, src, i: _set(act, src, (slice(None), i[1])))

register_exercise(
    id="ch05.act_patch_resid_pre", name="act_patch_resid_pre", title="Patching the residual stream", points=3,
    difficulty=2,
    hints=["Cache the clean run; then for each (layer, pos) run the *corrupted* prompts with a hook on "
           "blocks.{layer}.hook_resid_pre that copies the clean value at that one position: "
           "resid[:, pos] = clean_cache[hook.name][:, pos].",
           "Score each patched run with patching_metric(logits, io, s, clean_diff, corrupted_diff), the two "
           "differences taken from unpatched runs."],
    make_cases=patch_cases,
    mutants=[
        Mutant("wrong-direction", "the clean prompts were run with corrupted activations patched in; activation "
               "patching here runs the *corrupted* prompts and restores one *clean* activation.",
               functools.partial(_one_position, reverse=True)),
        Mutant("every-position", "every position of the layer was patched at once; patch one position per run "
               "(resid[:, pos] only), so the grid says *where* the information sits.",
               functools.partial(_patch_grid, site="resid", hook_of=lambda i: f"blocks.{i[0]}.hook_resid_pre",
                                 setter=lambda act, src, i: _set(act, src, slice(None)))),
        Mutant("resid-post", "the stream *leaving* each block (hook_resid_post) was patched; row L is the stream "
               "entering block L, blocks.{L}.hook_resid_pre.",
               functools.partial(_patch_grid, site="resid", hook_of=lambda i: f"blocks.{i[0]}.hook_resid_post",
                                 setter=lambda act, src, i: _set(act, src, (slice(None), i[1])))),
        Mutant("unnormalised", "the grid holds raw logit differences; score each run with patching_metric, so 0 "
               "means no effect and 1 a full restoration.", functools.partial(_one_position, raw=True)),
    ],
    depends_on=_DEPENDS, kind="model", atol=1e-4, rtol=1e-4,
)


# ---------------------------------------------------------------------------
# act_patch_head_out
# ---------------------------------------------------------------------------


def _z_hook(index):
    return f"blocks.{index[0]}.attn.hook_z"


_head_out = functools.partial(_patch_grid, site="head", hook_of=_z_hook,
                              setter=lambda act, src, i: _set(act, src, (slice(None), slice(None), i[1])))

register_exercise(
    id="ch05.act_patch_head_out", name="act_patch_head_out", title="Patching heads' outputs", points=2,
    difficulty=2,
    hints=["hook_z is [batch pos n_heads d_head]: head h is z[:, :, h], at every position.",
           "For each (layer, head): run the corrupted prompts with a hook on blocks.{layer}.attn.hook_z setting "
           "z[:, :, head] = clean_cache[hook.name][:, :, head]; score with patching_metric."],
    make_cases=patch_cases,
    mutants=[
        Mutant("wrong-direction", "the clean prompts were run with a corrupted head patched in; run the "
               "*corrupted* prompts and restore the head's *clean* output.",
               functools.partial(_head_out, reverse=True)),
        Mutant("whole-layer", "every head of the layer was patched at once; patch one head per run: "
               "z[:, :, head].", functools.partial(_patch_grid, site="head", hook_of=_z_hook,
                                                    setter=lambda act, src, i: _set(act, src, slice(None)))),
        Mutant("last-position-only", "the head was patched at the last position only; this grid patches it at "
               "every position: z[:, :, head] = clean z[:, :, head].",
               functools.partial(_patch_grid, site="head", hook_of=_z_hook,
                                 setter=lambda act, src, i: _set(act, src, (slice(None), -1, i[1])))),
        Mutant("d-head-axis", "z[..., head] patched one component of d_head in every head; the heads are the "
               "third axis of [batch pos n_heads d_head]: z[:, :, head].",
               functools.partial(_patch_grid, site="head", hook_of=_z_hook,
                                 setter=lambda act, src, i: _set(act, src, (..., i[1])))),
        Mutant("unnormalised", "the grid holds raw logit differences; score each run with patching_metric.",
               functools.partial(_head_out, raw=True)),
    ],
    depends_on=_DEPENDS, kind="model", atol=1e-4, rtol=1e-4,
)


# ---------------------------------------------------------------------------
# act_patch_head_pattern
# ---------------------------------------------------------------------------


def _pattern_hook(index):
    return f"blocks.{index[0]}.attn.hook_pattern"


_pattern = functools.partial(_patch_grid, site="head", hook_of=_pattern_hook,
                             setter=lambda act, src, i: _set(act, src, (slice(None), i[1])))

register_exercise(
    id="ch05.act_patch_head_pattern", name="act_patch_head_pattern", title="Patching heads' attention patterns",
    points=2, difficulty=2,
    hints=["hook_pattern is [batch n_heads query_pos key_pos]: head h's pattern is pattern[:, h].",
           "As act_patch_head_out, with the hook on blocks.{layer}.attn.hook_pattern and "
           "pattern[:, head] = clean_cache[hook.name][:, head]."],
    make_cases=patch_cases,
    mutants=[
        Mutant("wrong-direction", "the clean prompts were run with a corrupted pattern patched in; run the "
               "*corrupted* prompts and restore the head's *clean* pattern.",
               functools.partial(_pattern, reverse=True)),
        Mutant("output-not-pattern", "the head's output z was patched (where it looks *and* what it reads); patch "
               "only its attention pattern, blocks.{L}.attn.hook_pattern.",
               functools.partial(_head_out)),
        Mutant("query-axis", "pattern[:, :, head] patched one query row of every head; the pattern is "
               "[batch n_heads query_pos key_pos], so head h is pattern[:, h].",
               functools.partial(_patch_grid, site="head", hook_of=_pattern_hook,
                                 setter=lambda act, src, i: _set(act, src, (slice(None), slice(None), i[1])))),
        Mutant("whole-layer", "every head's pattern in the layer was patched at once; patch one head per run.",
               functools.partial(_patch_grid, site="head", hook_of=_pattern_hook,
                                 setter=lambda act, src, i: _set(act, src, slice(None)))),
        Mutant("unnormalised", "the grid holds raw logit differences; score each run with patching_metric.",
               functools.partial(_pattern, raw=True)),
    ],
    depends_on=_DEPENDS, kind="model", atol=1e-4, rtol=1e-4,
)
