"""Chapter 5 checks: path patching to the logits and to the receivers' queries, and a circuit's faithfulness.

The path-patching mutants are one loop (:func:`_path_grid`) with one step done wrong: the other
heads left to recompute, the runs swapped, the MLPs frozen too, step 3 skipped, keys for queries,
the receivers' whole layer patched, or the raw logit difference returned.
"""

from __future__ import annotations

import functools

import torch

from ...registry import Case, Mutant
from ._common import CFG, mean_diff, prompt_pair, random_state, register_exercise

_DEPENDS = ["ch05.logit_diff", "ch05.patching_metric"]


def path_cases() -> list[Case]:
    g = torch.Generator().manual_seed(505)
    cases = []
    for cfg, batch, pos, changed, receivers in ((CFG, 3, 6, [2], [[2, 0], [2, 1]]),
                                                (dict(CFG, n_heads=3, d_head=4, d_vocab=10), 2, 5, [1, 3], [[2, 1], [1, 2]])):
        state = random_state(g, cfg)
        call = prompt_pair(g, cfg, state, batch, pos, changed)
        cases.append(dict(cfg=cfg, state_dict=state, calls=[dict(call, receivers=receivers)]))
    return cases


def logits_cases() -> list[Case]:
    """The same models and prompts, without receivers: the logits receive."""
    cases = path_cases()
    for case in cases:
        case["calls"] = [{k: v for k, v in call.items() if k != "receivers"} for call in case["calls"]]
    return cases


def _path_grid(model, clean, corrupted, io, s, receivers=None, *, freeze=True, reverse=False, freeze_mlps=False,
               skip_step3=False, receiver_hook="q", whole_layer=False, raw=False):
    """Path patching from each sender head to the logits (``receivers=None``) or to the receivers' inputs."""
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    base, other = (corrupted, clean) if reverse else (clean, corrupted)
    z_names = [f"blocks.{layer}.attn.hook_z" for layer in range(n_layers)]
    mlp_names = [f"blocks.{layer}.hook_mlp_out" for layer in range(n_layers)]
    n_senders = n_layers if receivers is None else min(layer for layer, _ in receivers)
    receiver_names: dict[str, list[int]] = {}
    for layer, head in receivers or []:
        receiver_names.setdefault(f"blocks.{layer}.attn.hook_{receiver_hook}", []).append(head)
    grid = torch.zeros(n_senders, n_heads)
    with torch.no_grad():
        clean_diff, corrupted_diff = mean_diff(model(clean), io, s), mean_diff(model(corrupted), io, s)
        _, base_cache = model.run_with_cache(base, names_filter=z_names + mlp_names)
        _, other_cache = model.run_with_cache(other, names_filter=z_names)
        for layer in range(n_senders):
            for head in range(n_heads):
                def step2(z, hook, sender=z_names[layer], head=head):
                    z = base_cache[hook.name].clone() if freeze else z.clone()
                    if hook.name == sender:
                        z[:, :, head] = other_cache[hook.name][:, :, head]
                    return z

                hooks = [(name, step2) for name in z_names]
                if freeze_mlps:
                    hooks += [(name, lambda out, hook: base_cache[hook.name]) for name in mlp_names]
                if receivers is None or skip_step3:
                    logits = model.run_with_hooks(base, fwd_hooks=hooks)
                else:
                    with model.hooks(fwd_hooks=hooks):
                        _, sent = model.run_with_cache(base, names_filter=list(receiver_names))

                    def step3(act, hook):
                        act = act.clone()
                        for receiver in receiver_names[hook.name]:
                            where = slice(None) if whole_layer else receiver
                            act[:, :, where] = sent[hook.name][:, :, where]
                        return act

                    logits = model.run_with_hooks(base, fwd_hooks=[(name, step3) for name in receiver_names])
                diff = mean_diff(logits, io, s)
                grid[layer, head] = diff if raw else (diff - corrupted_diff) / (clean_diff - corrupted_diff)
    return grid


def _to_logits(model, clean, corrupted, io, s, **mistake):
    return _path_grid(model, clean, corrupted, io, s, None, **mistake)


register_exercise(
    id="ch05.path_patch_to_logits", name="path_patch_to_logits", title="Path patching: heads to the logits",
    points=3, difficulty=3,
    hints=["Cache every head's hook_z on both prompts. For each sender, run the *clean* prompts with a hook on "
           "every blocks.{L}.attn.hook_z that returns the clean z, except the sender's head: its corrupted z.",
           "Freezing the other heads cuts every path through them: what is left reaches the logits directly "
           "(or through MLPs, which recompute). Score with patching_metric."],
    make_cases=logits_cases,
    mutants=[
        Mutant("not-frozen", "the other heads were not frozen: they recomputed from the corrupted sender, so this "
               "is the sender's total effect (activation patching). Set every other head's z to its clean value.",
               functools.partial(_to_logits, freeze=False)),
        Mutant("wrong-direction", "the corrupted prompts were run with the sender made clean; path patching here "
               "runs the *clean* prompts with the sender *corrupted* (1 = unaffected, lower = the head matters).",
               functools.partial(_to_logits, reverse=True)),
        Mutant("mlps-frozen", "the MLPs were frozen too; only the heads are frozen (Wang et al. 2022): MLPs and "
               "LayerNorms recompute, so sender -> MLP -> logits counts as direct.",
               functools.partial(_to_logits, freeze_mlps=True)),
        Mutant("unnormalised", "the grid holds raw logit differences; score each run with patching_metric.",
               functools.partial(_to_logits, raw=True)),
    ],
    depends_on=_DEPENDS, kind="model", atol=1e-4, rtol=1e-4,
)

register_exercise(
    id="ch05.path_patch_to_queries", name="path_patch_to_queries", title="Path patching: heads to queries",
    points=3, difficulty=3,
    hints=["Step 2 is path_patch_to_logits's run, but keep the receivers' queries: under "
           "model.hooks(fwd_hooks=freezing hooks), model.run_with_cache(clean, names_filter=[...hook_q names]).",
           "Step 3: run the clean prompts with a hook on each receiver layer's hook_q setting q[:, :, head] = "
           "step-2 q[:, :, head] for the receiver heads only; score that run with patching_metric."],
    make_cases=path_cases,
    mutants=[
        Mutant("not-frozen", "in step 2 the other heads were not frozen, so the receivers' queries also saw the "
               "sender through intermediate heads; freeze every non-sender head's z to its clean value.",
               functools.partial(_path_grid, freeze=False)),
        Mutant("skipped-step-3", "this is step 2's own metric (the sender's direct path to the logits); step 3 "
               "runs the clean prompts again with only the receivers' queries patched, and scores that run.",
               functools.partial(_path_grid, skip_step3=True)),
        Mutant("keys-not-queries", "the receivers' keys (hook_k) were patched; this path ends at their queries, "
               "blocks.{L}.attn.hook_q.", functools.partial(_path_grid, receiver_hook="k")),
        Mutant("whole-receiver-layer", "every head's query in the receivers' layers was patched; patch only the "
               "receiver heads, q[:, :, head].", functools.partial(_path_grid, whole_layer=True)),
        Mutant("wrong-direction", "the corrupted prompts were the base run, with the sender made clean; the base "
               "run is the *clean* prompts, with the sender *corrupted*.",
               functools.partial(_path_grid, reverse=True)),
        Mutant("unnormalised", "the grid holds raw logit differences; score each run with patching_metric.",
               functools.partial(_path_grid, raw=True)),
    ],
    depends_on=_DEPENDS, kind="model", atol=1e-4, rtol=1e-4,
)


# ---------------------------------------------------------------------------
# circuit_faithfulness
# ---------------------------------------------------------------------------


def faithfulness_cases() -> list[Case]:
    g = torch.Generator().manual_seed(506)
    cases = []
    for cfg, batch, pos, circuit in ((CFG, 4, 6, [[0, 1], [1, 0], [2, 1]]),
                                     (dict(CFG, n_heads=3, d_head=4, d_vocab=10), 3, 5, [[2, 0], [1, 2], [0, 0], [2, 2]])):
        state = random_state(g, cfg)
        pair = prompt_pair(g, cfg, state, batch, pos, changed=[2])
        mean_tokens = torch.randint(0, cfg["d_vocab"], (5, pos), generator=g)
        cases.append(dict(cfg=cfg, state_dict=state,
                          calls=[dict(tokens=pair["clean"], io=pair["io"], s=pair["s"], circuit=circuit,
                                      mean_tokens=mean_tokens)]))
    return cases


def _faithfulness(model, tokens, io, s, circuit, mean_tokens, *, invert=False, zero=False, own_means=False,
                  over_positions=False, out="fraction"):
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    kept = {(int(layer), int(head)) for layer, head in circuit}
    z_names = [f"blocks.{layer}.attn.hook_z" for layer in range(n_layers)]
    with torch.no_grad():
        _, mean_cache = model.run_with_cache(tokens if own_means else mean_tokens, names_filter=z_names)

        def ablate(z, hook, layer):
            z = z.clone()
            for head in range(n_heads):
                if ((layer, head) in kept) == invert:
                    source = mean_cache[hook.name][:, :, head]
                    mean = source.mean(dim=(0, 1)) if over_positions else source.mean(dim=0)
                    z[:, :, head] = 0.0 if zero else mean
            return z

        hooks = [(name, functools.partial(ablate, layer=layer)) for layer, name in enumerate(z_names)]
        ablated = mean_diff(model.run_with_hooks(tokens, fwd_hooks=hooks), io, s).item()
        clean = mean_diff(model(tokens), io, s).item()
    return {"fraction": ablated / clean, "raw": ablated, "flipped": clean / ablated}[out]


register_exercise(
    id="ch05.circuit_faithfulness", name="circuit_faithfulness", title="A circuit's faithfulness", points=2,
    difficulty=2,
    hints=["Cache hook_z on mean_tokens; the mean over its prompts, mean_cache[name].mean(dim=0), is "
           "[pos n_heads d_head]: one mean per position and head.",
           "One hook per layer replacing z[:, :, h] by that mean for every head NOT in the circuit; return "
           "logit_diff(ablated logits) / logit_diff(model(tokens)) as a float."],
    make_cases=faithfulness_cases,
    mutants=[
        Mutant("circuit-ablated", "the circuit's heads were ablated and the rest kept; ablate every head *outside* "
               "the circuit.", functools.partial(_faithfulness, invert=True)),
        Mutant("zero-ablation", "the heads were set to zero; mean ablation replaces each by its mean output over "
               "mean_tokens, which removes what is specific to a prompt and keeps the rest.",
               functools.partial(_faithfulness, zero=True)),
        Mutant("own-means", "the means were taken over `tokens` themselves; take them over `mean_tokens` (e.g. "
               "the corrupted prompts), so they carry no clean-prompt information.",
               functools.partial(_faithfulness, own_means=True)),
        Mutant("mean-over-positions", "one mean per head over every position was used; keep one mean per position: "
               "average over the prompts only (dim=0).", functools.partial(_faithfulness, over_positions=True)),
        Mutant("not-a-fraction", "this is the ablated logit difference itself; divide it by the intact model's "
               "logit difference to get the share kept.", functools.partial(_faithfulness, out="raw")),
        Mutant("inverted-fraction", "the fraction is upside down (intact / ablated); return ablated / intact.",
               functools.partial(_faithfulness, out="flipped")),
    ],
    depends_on=["ch05.logit_diff"], kind="model", atol=1e-4, rtol=1e-4,
)
