"""What chapter 5's prose says about the shipped ``facts`` and ``ioi`` models, asserted on the checkpoints.

Each test is tagged in the chapter as ``<!-- claim: ch05.<name> -->`` right after the sentence it
checks, and computes the claim with the calls the chapter makes (the reference exercises are the
solutions, which ``mine_or_reference`` falls back to), on the same prompts and seeds. Figures the
chapter prints next to its prose are not repeated here.
"""

from __future__ import annotations

import copy
import functools
import random

import pytest
import torch

import solutions.ch05_interventions as sol
from minigpt.checkpoints import load_checkpoint
from minigpt.data import facts as F
from minigpt.data import ioi
from minigpt.data.ioi import ioi_batch
from minigpt.interp import (apply_ln_final, causal_trace, mlp_key_covariance, path_patch, residual_stack, rome_edit,
                            rome_update)

SITE = 3  # the trace's site in the facts model: MLP 3 at the last token


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread is fastest


@pytest.fixture(scope="module")
def facts_model():
    return load_checkpoint("facts")


@pytest.fixture(scope="module")
def cov(facts_model):
    return mlp_key_covariance(facts_model, SITE, F.facts_batch(torch.Generator().manual_seed(123), 256))


# ---------------------------------------------------------------------------
# facts: causal tracing
# ---------------------------------------------------------------------------


def mean_trace(model, kind: str) -> torch.Tensor:
    """The chapter's ``mean_trace``: ``[n_layers, 4]`` over 16 facts (subject first/last, the word after, last)."""
    noise = 3 * model.W_E.std().item()
    grids = []
    for f in random.Random(0).sample(F.fact_table(), 16):
        t = causal_trace(model, F.prompt(f.subject, f.relation), f.subject, " " + f.object, kind=kind, window=1,
                         noise=noise, samples=5)
        first, last = t.subject_positions[0], t.subject_positions[-1]
        grids.append(t.effects[:, [first, last, last + 1, -1]])
    return torch.stack(grids).mean(0)


@pytest.mark.claim("ch05.trace_site")
def test_the_trace_puts_the_fact_in_the_last_mlp_at_the_last_token(facts_model):
    mlp, attn = mean_trace(facts_model, "mlp"), mean_trace(facts_model, "attn")
    layer, column = divmod(int(mlp.argmax()), 4)
    assert (layer, column) == (SITE, 3)  # MLP 3, the last token
    assert mlp[SITE, 3] > 2 * attn.max()  # "attention layers there bring back much less"
    assert mlp[SITE, 3] > 3 * mlp[:, :2].max()  # "every MLP at the subject's words little"


# ---------------------------------------------------------------------------
# facts: ROME
# ---------------------------------------------------------------------------


def last_logits(model, prompts):
    with torch.no_grad():
        return torch.stack([model(model.to_tokens(p))[0, -1] for p in prompts])


@pytest.fixture(scope="module")
def one_edit(facts_model, cov):
    """The chapter's edit: Cyra Ashgrove lives in Cairo -> Oslo, at MLP 3, last token, with the solutions' update."""
    case = F.edit_case("Cyra Ashgrove", "lives in", "Oslo")
    update = rome_update(facts_model, SITE, case.prompt, case.subject, case.new_target, cov,
                         prefixes=F.context_prefixes(8, seed=0), fact_token="last")
    mlp = facts_model.blocks[SITE].mlp
    C = cov + 1e-6 * cov.diagonal().mean() * torch.eye(facts_model.cfg.d_mlp)
    edited = copy.deepcopy(facts_model)
    with torch.no_grad():
        edited.blocks[SITE].mlp.W_out += sol.rome_update(mlp.W_out, mlp.b_out, C, update.key, update.value)
    return case, edited


@pytest.mark.claim("ch05.one_edit")
def test_one_edit_takes_in_every_wording_and_keeps_the_neighbours(facts_model, one_edit):
    case, edited = one_edit
    new, old = (facts_model.to_tokens(t, prepend_bos=False)[0, 0].item() for t in (case.new_target, case.old_target))
    targets = torch.tensor([facts_model.to_tokens(t, prepend_bos=False)[0, 0] for _, t in case.neighbours])
    scores = sol.edit_metrics(last_logits(edited, [case.prompt])[0], last_logits(edited, case.paraphrases),
                              last_logits(edited, [p for p, _ in case.neighbours]), targets, new, old)
    assert scores == (1.0, 1.0, 1.0)


def world():
    """Every fact in every wording: tokens, each prompt's last position, the answers, the facts (one order)."""
    tokens, last, truth = F.recall_prompts("all")
    return tokens, last, truth, [(f, frame) for f in F.fact_table() for frame in F.frames(f.relation, "all")]


def answers(model, tokens, last):
    with torch.no_grad():
        return torch.cat([model(tokens[i:i + 1000])[torch.arange(len(tokens[i:i + 1000])), last[i:i + 1000]].argmax(-1)
                          for i in range(0, len(tokens), 1000)])


@pytest.mark.claim("ch05.one_edit_side_effects")
def test_one_edit_changes_a_handful_of_other_answers_not_only_cities(facts_model, one_edit):
    case, edited = one_edit
    tokens, last, _, facts = world()
    own = torch.tensor([f.subject == case.subject and f.relation == "lives in" for f, _ in facts])
    changed = ((answers(facts_model, tokens, last) != answers(edited, tokens, last)) & ~own).nonzero().flatten()
    assert 1 <= len(changed) <= 5
    assert any(facts[i][0].relation != "lives in" for i in changed.tolist())  # "need not even be about cities"


@pytest.mark.slow
@pytest.mark.claim("ch05.sequential_edits")
def test_ten_edits_in_a_row_cost_a_few_tenths_of_a_point_of_recall(facts_model, cov):
    tokens, last, truth, facts = world()
    text = F.facts_batch(torch.Generator().manual_seed(9), 64)

    def text_loss(model):
        with torch.no_grad():
            logits = model(text)
        return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), text[:, 1:].flatten()).item()

    prefixes, model, done = F.context_prefixes(8, seed=0), facts_model, set()
    for i, f in enumerate(random.Random(5).sample(F.fact_table(), 10)):
        c = F.edit_case(f.subject, f.relation, seed=i)
        model = rome_edit(model, SITE, c.prompt, c.subject, c.new_target, cov=cov, prefixes=prefixes, fact_token="last")
        done.add((f.subject, f.relation))
    keep = torch.tensor([(g.subject, g.relation) not in done for g, _ in facts])
    before = (answers(facts_model, tokens, last) == truth)[keep].float().mean().item()
    after = (answers(model, tokens, last) == truth)[keep].float().mean().item()
    assert 0.0005 < before - after < 0.01  # "a few tenths of a point"
    assert 0 < text_loss(model) - text_loss(facts_model) < 0.01  # "in the third decimal"


# ---------------------------------------------------------------------------
# ioi: the metric, activation patching, path patching, faithfulness
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ioi_model():
    return load_checkpoint("ioi")


@pytest.fixture(scope="module")
def test_batch():
    return ioi_batch(64, seed=0, split="test")


@pytest.fixture(scope="module")
def patch():
    """The chapter's patching batch: 16 test prompts of the first held-out template, no distractors."""
    batch = ioi_batch(16, seed=1, split="test", template=ioi.HELD_OUT_FRAMES[0], distractors=(0, 0))
    batch["args"] = (batch["clean"], batch["corrupted"], batch["io"], batch["s"])
    batch["S2"], batch["END"] = int(batch["s2_pos"][0]), batch["clean"].shape[1] - 1
    return batch


@pytest.fixture(scope="module")
def output_heads(ioi_model, patch):
    direct = 1 - sol.path_patch_to_logits(ioi_model, *patch["args"])
    return direct, [(layer, head) for layer in range(3) for head in range(4) if direct[layer, head] >= 0.15]


@pytest.mark.claim("ch05.ioi_works")
def test_the_model_does_ioi_on_held_out_templates_and_name_pairs(ioi_model, test_batch):
    with torch.no_grad():
        per_prompt = sol.logit_diff(ioi_model(test_batch["clean"]), test_batch["io"], test_batch["s"], per_prompt=True)
    assert per_prompt.mean() > 3 and (per_prompt > 0).float().mean() >= 0.95


@pytest.mark.claim("ch05.abc_prompt")
def test_the_abc_prompt_leaves_io_and_s_even_and_never_answers_c(ioi_model, test_batch):
    with torch.no_grad():
        logits = ioi_model(test_batch["corrupted"])
    assert abs(sol.logit_diff(logits, test_batch["io"], test_batch["s"])) < 1
    top = logits[:, -1].argmax(-1)
    share = {key: (top == test_batch[key]).float().mean().item() for key in ("io", "s", "c")}
    assert share["c"] <= 0.05 and abs(share["io"] - share["s"]) <= 0.15


@pytest.mark.claim("ch05.resid_moves")
def test_the_effect_moves_from_s2_to_the_word_after_it_then_partly_to_the_end(ioi_model, patch):
    grid, S2, END = sol.act_patch_resid_pre(ioi_model, *patch["args"]), patch["S2"], patch["END"]
    assert grid[1, S2 + 1] > 0.9 and grid[1, S2].abs() < 0.05 and grid[1, END].abs() < 0.05
    assert grid[2, S2 + 1] > 0.5 and 0.1 < grid[2, END] < grid[2, S2 + 1]


@pytest.mark.claim("ch05.head_out")
def test_one_layer_0_head_carries_the_whole_effect(ioi_model, patch):
    grid = sol.act_patch_head_out(ioi_model, *patch["args"])
    assert grid[0, 1] > 0.95 and grid[0, [0, 2, 3]].abs().max() < 0.05
    assert grid[1:].max() < 0.5 and (grid[1:] > 0.1).sum() >= 3  # "shared among several heads, none above one half"


@pytest.mark.claim("ch05.patterns_nothing")
def test_patching_the_patterns_brings_back_almost_nothing(ioi_model, patch):
    assert sol.act_patch_head_pattern(ioi_model, *patch["args"]).abs().max() <= 0.02


@pytest.mark.claim("ch05.output_heads")
def test_three_heads_of_layers_1_and_2_write_the_answer_directly(output_heads):
    direct, heads = output_heads
    assert heads == [(1, 2), (2, 0), (2, 2)]
    assert direct.argmax() == 2 * 4 + 0 and direct[0].max() < 0.05


@pytest.mark.claim("ch05.output_heads_look")
def test_the_output_heads_look_at_the_word_after_s2_and_push_s_down(ioi_model, patch, test_batch, output_heads):
    _, heads = output_heads
    _, cache = ioi_model.run_with_cache(patch["clean"])
    rows, END = torch.arange(16), patch["END"]
    for layer, head in heads:
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"][:, head, END]  # [batch key_pos]
        assert pattern[rows, patch["s2_pos"] + 1].mean() >= 0.8
        assert max(pattern[rows, patch[key]].mean() for key in ("io_pos", "s1_pos", "s2_pos")) <= 0.05
    with torch.no_grad():
        _, test_cache = ioi_model.run_with_cache(test_batch["clean"])
    stack, components = residual_stack(ioi_model, test_cache)
    at_end = apply_ln_final(ioi_model, stack, test_cache)[:, :, -1]
    names = torch.tensor([ioi.tokenizer().encode(name)[0] for name in ioi.NAMES])
    mean_name = (at_end @ ioi_model.W_U[:, names]).mean(-1)
    for layer, head in heads:
        i = components.index(f"L{layer}H{head}")
        push_io = ((at_end[i] * ioi_model.W_U[:, test_batch["io"]].T).sum(-1) - mean_name[i]).mean()
        push_s = ((at_end[i] * ioi_model.W_U[:, test_batch["s"]].T).sum(-1) - mean_name[i]).mean()
        assert push_s <= -1.5 and push_io.abs() <= 0.5


def upstream_effects(ioi_model, patch, output_heads):
    _, heads = output_heads
    receivers = [(layer, head) for layer, head in heads if layer == 2]
    clean, corrupted, io, s = patch["args"]
    with torch.no_grad():
        clean_diff = sol.logit_diff(ioi_model(clean), io, s).item()
        corrupted_diff = sol.logit_diff(ioi_model(corrupted), io, s).item()

    def metric(logits):
        return sol.patching_metric(logits, io, s, clean_diff, corrupted_diff)

    via = {"q": 1 - sol.path_patch_to_queries(ioi_model, *patch["args"], receivers)}
    for kind in ("k", "v"):
        via[kind] = torch.tensor([[1 - float(path_patch(ioi_model, clean, corrupted, [(layer, head)], receivers, metric,
                                                        receiver_input=kind)) for head in range(4)] for layer in range(2)])
    return via


@pytest.mark.claim("ch05.upstream_values")
def test_the_upstream_heads_act_through_the_output_heads_values(ioi_model, patch, output_heads):
    via = upstream_effects(ioi_model, patch, output_heads)
    assert via["q"].abs().max() <= 0.02 and via["k"].abs().max() <= 0.02
    assert sorted(map(tuple, (via["v"] >= 0.15).nonzero().tolist())) == [(0, 1), (1, 0)]


@pytest.mark.claim("ch05.upstream_look")
def test_l0h1_at_the_word_after_s2_looks_back_at_s2(ioi_model, patch):
    _, cache = ioi_model.run_with_cache(patch["clean"])
    rows, after = torch.arange(16), patch["s2_pos"] + 1
    pattern = cache["blocks.0.attn.hook_pattern"][:, 1]  # L0H1 [batch query_pos key_pos]
    assert 0.4 <= pattern[rows, after, patch["s2_pos"]].mean() <= 0.65
    assert pattern[rows, after].max(-1).values.mean() < 0.7  # "the rest is spread"


@pytest.fixture(scope="module")
def faithfulness(ioi_model, output_heads):
    """The chapter's faithfulness figures: each held-out template with and without distractors, 32 prompts."""
    _, heads = output_heads
    circuit = sorted(set(heads) | {(0, 1), (1, 0)})
    all_heads = [(layer, head) for layer in range(3) for head in range(4)]
    out = {"output heads": [], "circuit": [], "random heads": []}
    for template in ioi.HELD_OUT_FRAMES:
        for distractors in ((0, 0), (1, 2)):
            b = ioi_batch(32, seed=2, split="test", template=template, distractors=distractors)
            run = functools.partial(sol.circuit_faithfulness, ioi_model, b["clean"], b["io"], b["s"],
                                    mean_tokens=b["corrupted"])
            out["output heads"].append(run(circuit=heads))
            out["circuit"].append(run(circuit=circuit))
            randoms = [random.Random(k).sample(all_heads, len(circuit)) for k in range(3)]
            out["random heads"].append(sum(run(circuit=h) for h in randoms) / len(randoms))
    return out


@pytest.mark.claim("ch05.faithfulness")
def test_the_output_heads_alone_keep_nothing(faithfulness):
    assert abs(sum(faithfulness["output heads"]) / 6) <= 0.05


@pytest.mark.claim("ch05.circuit_keeps")
def test_the_circuit_keeps_four_fifths_and_random_heads_little(faithfulness):
    kept = faithfulness["circuit"]
    assert sum(kept) / len(kept) >= 0.8 and min(kept) >= 0.7
    assert sum(faithfulness["random heads"]) / 6 <= 0.3
