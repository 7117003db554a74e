"""Chapter 3's claims about the shipped ``induction-2l`` model and its training run, asserted.

Each test is tagged in chapters/03_induction_heads.py as ``<!-- claim: ch03.NAME -->`` after the
sentence it checks, and computes what the chapter computes: the same 32 repeated sequences (seed 0),
the same library calls, the reference versions of the exercises (what a learner's passing code
returns), the shipped checkpoint, its history and snapshots.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch

import solutions.ch03_induction as sol
from minigpt.checkpoints import list_snapshots, load_checkpoint, load_history
from minigpt.data import induction_batch, random_tokens
from minigpt.interp import (analysis_model, composition_baseline, composition_scores, decompose_attn_scores,
                            pos_qk_circuit, previous_token_score, residual_stack)

NAME = "induction-2l"


@pytest.fixture(scope="module")
def model():
    return load_checkpoint(NAME)


@pytest.fixture(scope="module")
def seq_len(model):
    return (model.cfg.n_ctx - 1) // 2


@pytest.fixture(scope="module")
def tokens(model, seq_len):
    half = random_tokens((32, seq_len), model.cfg.d_vocab, bos=model.cfg.bos_token_id,
                         generator=torch.Generator().manual_seed(0))
    return sol.repeated_tokens(half, bos=model.cfg.bos_token_id)


@pytest.fixture(scope="module")
def cache(model, tokens):
    with torch.no_grad():
        return model.run_with_cache(tokens)[1]


@pytest.fixture(scope="module")
def scores(model, cache, seq_len):
    patterns = cache.stack("pattern")  # [n_layers batch n_heads query_pos key_pos]
    return {"previous-token": torch.stack([previous_token_score(p) for p in patterns]),
            "duplicate-token": torch.stack([sol.duplicate_token_score(p, seq_len) for p in patterns]),
            "induction": torch.stack([sol.induction_score(p, seq_len) for p in patterns])}


@pytest.fixture(scope="module")
def heads(model, scores):
    """The chapter's PREV, IND, PREV_HEADS and INDUCTION_HEADS."""
    n_heads = model.cfg.n_heads
    return {"PREV": (0, int(scores["previous-token"][0].argmax())),
            "IND": (1, int(scores["induction"][1].argmax())),
            "PREV_HEADS": [(0, h) for h in range(n_heads) if scores["previous-token"][0, h] > 0.3],
            "INDUCTION_HEADS": [(1, h) for h in range(n_heads) if scores["induction"][1, h] > 0.4]}


@pytest.fixture(scope="module")
def history():
    return load_history(NAME)["rows"]


def column(rows, name):
    rows = [row for row in rows if name in row]
    return [row["step"] for row in rows], [row[name] for row in rows]


@pytest.mark.claim("ch03.heads_by_kind")
def test_one_previous_token_head_four_induction_heads_no_duplicate_heads(model, scores, heads):
    assert heads["PREV"] == (0, 3) and heads["PREV_HEADS"] == [(0, 3)], scores["previous-token"]
    assert heads["INDUCTION_HEADS"] == [(1, h) for h in range(model.cfg.n_heads)], scores["induction"]
    assert heads["IND"] == (1, 1)
    assert scores["previous-token"][1].max() < 0.3 and scores["induction"][0].max() < 0.3  # not the other way
    assert scores["duplicate-token"].max() < 0.05, scores["duplicate-token"]


@pytest.mark.claim("ch03.ablation_ranking")
def test_the_previous_token_head_matters_most_then_three_induction_heads_then_nothing(model, tokens, seq_len, heads):
    rises = sol.ablation_scores(model, tokens, seq_len)  # [n_layers n_heads]
    prev = heads["PREV"]
    assert rises[prev] > 3.5 and all(rises[prev] > rises[i] for i in heads["INDUCTION_HEADS"]), rises
    strong = [(1, 1), (1, 2), (1, 3)]
    assert all(0.25 < rises[i] < 0.4 for i in strong), rises
    others = [(layer, h) for layer in range(2) for h in range(model.cfg.n_heads) if (layer, h) not in strong + [prev]]
    assert (1, 0) in others and all(abs(rises[i]) < 0.05 for i in others), rises
    hooks = [("blocks.1.attn.hook_z", functools.partial(sol.zero_ablation_hook, head=h))
             for _, h in heads["INDUCTION_HEADS"]]
    with torch.no_grad():
        all_off = model.run_with_hooks(tokens, return_type="loss", loss_per_token=True, fwd_hooks=hooks)
    assert sol.repeat_loss(all_off, seq_len) > math.log(model.cfg.d_vocab)  # worse than a uniform guess


@pytest.mark.claim("ch03.positional_stripe")
def test_the_positional_stripe_holds_where_the_first_copy_can_sit(model, cache, heads):
    cfg = model.cfg
    ln_scale = cache["blocks.0.ln1.hook_scale"].mean()
    pos_scores = pos_qk_circuit(model, *heads["PREV"]).AB / (cfg.attn_scale * ln_scale**2)
    causal = torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool).tril()
    pattern = pos_scores.masked_fill(~causal, -math.inf).softmax(-1)
    for q in range(1, 21):  # "holds up to about position 20"
        assert pattern[q].argmax() == q - 1 and pattern[q, q - 1] > 0.5, (q, pattern[q])
    for q in range(22, cfg.n_ctx):  # "fades after 21"
        assert pattern[q, q - 1] < 0.1, (q, pattern[q])
    # the training data (train.json: n_ctx 32, min_len 8): where does a repeated chunk's first copy end?
    toks, mask = induction_batch(4096, cfg.n_ctx, cfg.d_vocab, seed=0, bos=0, min_len=8, return_mask=True)
    positions = torch.arange(cfg.n_ctx)
    last_ends = []
    for row, row_mask in zip(toks, mask):
        later = positions[row_mask]  # tokens 2.. of the second copy
        distance = next(d for d in range(8, cfg.n_ctx) if torch.equal(row[later], row[later - d]))
        last_ends.append(int(later.max()) - distance)  # the first copy's last token
    last_ends = torch.tensor(last_ends)
    assert last_ends.max() == 23  # "ends by position 24": its last token sits at 23 at the latest
    assert (last_ends > 21).float().mean() < 0.03  # "and seldom that late"


@pytest.mark.claim("ch03.q_and_v_composition_below_chance")
def test_q_and_v_composition_fall_below_chance_k_stands_above(model, heads):
    baseline, spread = composition_baseline(model.cfg.d_model, model.cfg.d_head)
    (_, prev), (_, ind) = heads["PREV"], heads["IND"]
    z = {kind: (composition_scores(model, kind)[prev, ind] - baseline) / spread for kind in "QKV"}
    assert z["K"] > 10 and z["Q"] < -10 and z["V"] < -10, z


@pytest.mark.claim("ch03.every_induction_head_k_composes")
def test_every_induction_head_k_composes_with_the_previous_token_head(model, heads):
    baseline, spread = composition_baseline(model.cfg.d_model, model.cfg.d_head)
    row = composition_scores(model, "K")[heads["PREV"][1]]
    assert all(row[h] > baseline + 10 * spread for _, h in heads["INDUCTION_HEADS"]), (row, baseline, spread)


@pytest.mark.claim("ch03.every_induction_head_reads_embed_and_prev")
def test_every_induction_head_queries_the_embedding_against_keys_from_the_previous_token_head(
        model, cache, seq_len, heads):
    stack, labels = residual_stack(model, cache, layer=1)
    labels = labels + ["bias"]
    scale = cache["blocks.1.ln1.hook_scale"]
    attn = analysis_model(model).blocks[1].attn
    copy_queries, first_chunk = slice(seq_len + 1, 2 * seq_len + 1), slice(1, seq_len + 1)
    for _, head in heads["INDUCTION_HEADS"]:
        with torch.no_grad():
            q_parts = sol.decompose_q(stack, scale, attn.W_Q[head], attn.b_Q[head])
            k_parts = sol.decompose_k(stack, scale, attn.W_K[head], attn.b_K[head])
        sizes = {side: parts.norm(dim=-1).mean(dim=(1, 2)) for side, parts in (("q", q_parts), ("k", k_parts))}
        assert labels[int(sizes["q"].argmax())] == "embed" and labels[int(sizes["k"].argmax())] == "L0H3", sizes
        parts = decompose_attn_scores(q_parts, k_parts, model.cfg.attn_scale)
        spread = parts[..., copy_queries, first_chunk].std(dim=-1).mean(dim=(-1, -2)).flatten()
        top, second = spread.sort(descending=True).values[:2]
        q_index, k_index = divmod(int(spread.argmax()), len(labels))
        assert (labels[q_index], labels[k_index]) == ("embed", "L0H3"), (head, labels[q_index], labels[k_index])
        if head == heads["IND"][1]:
            assert 2.8 < top / second < 4.0  # "about three times as much as any other pair"


@pytest.mark.claim("ch03.phase_change")
def test_the_loss_on_the_repeat_drifts_then_drops_within_200_steps(history):
    steps, loss = column(history, "loss_second_half")
    _, induction = column(history, "induction_score")
    at = dict(zip(steps, loss))
    assert 4.8 < at[100] < 5.0 and 4.0 < at[600] < 4.2  # "from about 4.9 to about 4.1 over the first 600 steps"
    assert all(score < 0.1 for step, score in zip(steps, induction) if step <= 600)  # no induction head yet
    assert min(step for step, value in at.items() if value < 1.0) == 800  # "within 200 steps, below 1 nat"


@pytest.mark.claim("ch03.heads_form_together")
def test_both_heads_form_within_the_same_100_steps(tokens, seq_len, heads):
    probe = tokens[:8]
    induction, previous = [], []
    steps = list_snapshots(NAME)
    for step in steps:
        snap = load_checkpoint(NAME, step=step)
        with torch.no_grad():
            _, snap_cache = snap.run_with_cache(probe, names_filter=lambda name: name.endswith("hook_pattern"))
        induction.append(sol.induction_score(snap_cache["pattern", 1], seq_len)[heads["IND"][1]].item())
        previous.append(previous_token_score(snap_cache["pattern", 0])[heads["PREV"][1]].item())

    def halfway(values):  # the first snapshot at which a score passes half its final value
        return next(step for step, value in zip(steps, values) if value > values[-1] / 2)

    assert abs(halfway(induction) - halfway(previous)) <= 100, (halfway(induction), halfway(previous))


@pytest.mark.claim("ch03.shipped_run_crosses_at_peak_lr")
def test_the_shipped_run_crosses_1_nat_at_step_800_near_its_peak_learning_rate(history):
    steps, loss = column(history, "loss_second_half")
    cross = next(step for step, value in zip(steps, loss) if value < 1.0)
    lr = dict(zip(*column(history, "lr")))
    assert cross == 800 and lr[cross] > 0.85 * max(lr.values()), (cross, lr[cross])


@pytest.mark.claim("ch03.score_settles_after_crossing")
def test_the_induction_score_is_within_005_of_its_final_value_200_steps_after_the_crossing(history):
    steps, loss = column(history, "loss_second_half")
    cross = next(step for step, value in zip(steps, loss) if value < 1.0)
    score = dict(zip(*column(history, "induction_score")))
    final = score[max(score)]
    assert abs(score[cross + 200] - final) < 0.05, (score[cross + 200], final)
