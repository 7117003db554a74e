"""Chapter 3's exercises: what is particular to the chapter (which exercises, their kinds and cases).

test_every_exercise.py holds what every exercise must do (the solution passes, the stub is not
implemented, every known mistake is named). Plus oracles: the reference pieces equal minigpt.interp's
tools and the dense computations.
"""

from __future__ import annotations

import math

import pytest
import torch

import solutions.ch03_induction as sol
from minigpt import GPT, GPTConfig
from minigpt.data import repeated_tokens
from minigpt.grading import all_exercises, get_exercise
from minigpt.grading.check import call
from minigpt.grading.reference import reference
from minigpt.interp import (FactoredMatrix, ablation_scores, analysis_model, attention_patterns, composition_scores,
                            copying_score, decompose_qk, duplicate_token_score, full_ov_circuit, induction_score,
                            logit_attribution, per_token_loss, repeat_loss, residual_stack, top1_accuracy)

EXERCISES = all_exercises(chapter=3)


def test_chapter_has_the_planned_exercises():
    names = [ex.name for ex in EXERCISES]
    assert names == ["repeated_tokens", "repeat_loss", "duplicate_token_score", "induction_score",
                     "logit_attribution", "zero_ablation_hook", "mean_ablation_hook", "ablation_scores",
                     "full_ov_circuit", "top1_accuracy", "composition_score", "k_composition_scores",
                     "factored_singular_values", "copying_score", "decompose_q", "decompose_k"]


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_chapter_metadata(ex):
    """Chapter 3's file and kinds, and four known mistakes at least; test_every_exercise.py checks the rest."""
    assert ex.file == "ch03_induction.py"
    assert ex.kind == ("model" if ex.name == "ablation_scores" else "function")
    assert len(ex.mutants) >= 4


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_cases_are_seeded_and_small(ex):
    first, second = ex.make_cases(), ex.make_cases()
    assert 2 <= len(first) <= 4
    for a, b in zip(first, second):
        assert a.keys() == b.keys()
        for key in a:
            if key == "state_dict":
                assert all(torch.equal(a[key][k], b[key][k]) for k in a[key])
            elif key == "calls":
                assert all(torch.equal(x["tokens"], y["tokens"]) for x, y in zip(a[key], b[key]))
            elif isinstance(a[key], torch.Tensor):
                assert torch.equal(a[key], b[key]), key
                assert a[key].numel() <= 2_000, (key, a[key].shape)
            else:
                assert a[key] == b[key], key
    if ex.kind == "function":
        tensors = [next(v for v in case.values() if isinstance(v, torch.Tensor)) for case in first]
        assert max(t.shape[0] for t in tensors) > 1, "some case must have batch > 1"


# ---------------------------------------------------------------------------
# oracles: the reference pieces against minigpt.interp and dense computations
# ---------------------------------------------------------------------------


def test_repeated_tokens_matches_minigpt_data():
    want = repeated_tokens(3, 5, 20, seed=0, bos=0)
    assert torch.equal(sol.repeated_tokens(want[:, 1:6], bos=0), want)
    assert torch.equal(sol.repeated_tokens(want[:, 1:6]), want[:, 1:])


@pytest.fixture(scope="module")
def model_and_tokens():
    model = GPT(GPTConfig(n_layers=2, d_model=32, n_heads=4, d_vocab=40, n_ctx=24, attn_only=True,
                          normalization_type=None, seed=2)).eval()
    return model, repeated_tokens(3, 7, 40, seed=1, bos=0)


def test_scores_and_losses_equal_minigpt_interp(model_and_tokens):
    model, tokens = model_and_tokens
    patterns = attention_patterns(model, tokens)
    for layer in range(2):
        torch.testing.assert_close(sol.induction_score(patterns[layer], 7), induction_score(patterns[layer], 7))
        torch.testing.assert_close(sol.duplicate_token_score(patterns[layer], 7),
                                   duplicate_token_score(patterns[layer], 7))
    torch.testing.assert_close(sol.repeat_loss(per_token_loss(model, tokens), 7), repeat_loss(model, tokens))


def test_logit_attribution_and_ablation_equal_minigpt_interp(model_and_tokens):
    model, tokens = model_and_tokens
    _, cache = model.run_with_cache(tokens)
    parts = [cache["embed"], cache["pos_embed"]] + [cache["result", L][:, :, h] for L in range(2) for h in range(4)]
    ours = sol.logit_attribution(torch.stack(parts), model.W_U.detach(), tokens)
    theirs, _ = logit_attribution(model, tokens)
    torch.testing.assert_close(ours, theirs[:-1], atol=1e-5, rtol=1e-5)  # the library adds a "bias" row (zero here)
    torch.testing.assert_close(sol.ablation_scores(model, tokens, 7),
                               ablation_scores(model, tokens, positions="repeat"))


def test_circuits_equal_minigpt_interp(model_and_tokens):
    model, _ = model_and_tokens
    a0, a1 = model.blocks[0].attn, model.blocks[1].attn
    ov = sol.full_ov_circuit(model.W_E, a1.W_V, a1.W_O, model.W_U).detach()
    torch.testing.assert_close(ov, full_ov_circuit(model, 1).AB, atol=1e-6, rtol=1e-4)
    for h in range(4):
        torch.testing.assert_close(sol.top1_accuracy(ov[h]), top1_accuracy(ov[h]))
    k = sol.k_composition_scores(a0.W_V, a0.W_O, a1.W_Q, a1.W_K).detach()
    torch.testing.assert_close(k, composition_scores(model, "K"), atol=1e-6, rtol=1e-4)


def test_factored_singular_values_equal_dense_and_factored_matrix():
    g = torch.Generator().manual_seed(0)
    A, B = torch.randn(40, 5, generator=g, dtype=torch.float64), torch.randn(5, 30, generator=g, dtype=torch.float64)
    ours = sol.factored_singular_values(A, B)
    torch.testing.assert_close(ours, torch.linalg.svdvals(A @ B)[:5])
    torch.testing.assert_close(ours, FactoredMatrix(A, B).S)


def test_composition_score_of_projections():
    P = torch.diag(torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert sol.composition_score(P, P).item() == pytest.approx(1 / math.sqrt(2))
    assert sol.composition_score(P, torch.eye(4) - P).item() == 0.0


def test_ablation_mutants_use_the_model_kind():
    ex = get_exercise("ch03.ablation_scores")
    case = ex.make_cases()[0]
    returns, params = call(ex, reference(ex), case)
    assert returns[0].shape == (2, 3) and (returns[0].abs() > 1e-3).all()  # every head matters in the case's model
    assert set(params) == set(case["state_dict"])


def test_copying_score_equals_minigpt_interp_and_the_dense_eigenvalues():
    g = torch.Generator().manual_seed(3)
    A = torch.randn(4, 30, 5, generator=g, dtype=torch.float64)
    B = torch.randn(4, 5, 30, generator=g, dtype=torch.float64)
    ours = sol.copying_score(A, B)
    torch.testing.assert_close(ours, copying_score(FactoredMatrix(A, B)))
    torch.testing.assert_close(ours, copying_score(A @ B))  # the 25 extra eigenvalues are zero
    assert sol.copying_score(A[0], A[0].T).item() == pytest.approx(1.0)  # A A^T: eigenvalues real, >= 0
    assert sol.copying_score(A[0], -A[0].T).item() == pytest.approx(-1.0)


@pytest.mark.parametrize("norm", ["LN", None])
def test_decompose_q_and_k_sum_to_the_heads_queries_and_keys_and_equal_minigpt_interp(norm):
    model = GPT(GPTConfig(n_layers=2, d_model=32, n_heads=4, d_vocab=40, n_ctx=24, attn_only=True,
                          normalization_type=norm, seed=3)).eval()
    with torch.no_grad():  # non-zero biases and LayerNorm weights, so that a missed term shows
        for name, p in model.named_parameters():
            if name.split(".")[-1] in ("b_Q", "b_K", "b_O", "b", "w"):
                p.add_(torch.randn_like(p) * 0.3)
    tokens = repeated_tokens(3, 7, 40, seed=1, bos=0)
    _, cache = model.run_with_cache(tokens)
    stack, _ = residual_stack(model, cache, layer=1)
    scale = cache["blocks.1.ln1.hook_scale"] if norm else torch.ones(1, 1, 1)
    folded = analysis_model(model).blocks[1].attn
    for head in range(4):
        if norm:
            q = sol.decompose_q(stack, scale, folded.W_Q[head], folded.b_Q[head]).detach()
            k = sol.decompose_k(stack, scale, folded.W_K[head], folded.b_K[head]).detach()
            torch.testing.assert_close(q, decompose_qk(model, cache, 1, head, "q")[0])
            torch.testing.assert_close(k, decompose_qk(model, cache, 1, head, "k")[0])
        else:  # the library's parts without a LayerNorm: no centring, no scale
            q, k = decompose_qk(model, cache, 1, head, "q")[0], decompose_qk(model, cache, 1, head, "k")[0]
        torch.testing.assert_close(q.sum(0), cache["q", 1][:, :, head], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(k.sum(0), cache["k", 1][:, :, head], atol=1e-5, rtol=1e-5)
