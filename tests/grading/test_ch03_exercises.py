"""Chapter 3's exercises: the solutions pass, the stubs are not implemented, every known mistake is named.

Plus oracles: the reference pieces equal minigpt.interp's tools and the dense computations.
"""

from __future__ import annotations

import ast
import importlib.util
import math
from pathlib import Path

import pytest
import torch

import solutions.ch03_induction as sol
from minigpt import GPT, GPTConfig
from minigpt.data import repeated_tokens
from minigpt.grading import all_exercises, check, get_exercise
from minigpt.grading.check import call
from minigpt.grading.grade import grade_folder
from minigpt.grading.reference import _definition_source, dependency_source, reference
from minigpt.interp import (FactoredMatrix, ablation_scores, attention_patterns, composition_scores,
                            duplicate_token_score, full_ov_circuit, induction_score, logit_attribution,
                            per_token_loss, repeat_loss, top1_accuracy)

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = all_exercises(chapter=3)
MUTANTS = [(ex, m) for ex in EXERCISES for m in ex.mutants]


def load_stub(file: str = "ch03_induction.py"):
    """A fresh import of the generated student copy ``exercises/<file>``."""
    path = ROOT / "exercises" / file
    spec = importlib.util.spec_from_file_location(f"stub_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------
# the three facts CI holds
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_solution_passes(ex):
    result = check(ex.id, reference(ex))
    assert result.status == "pass", str(result)
    assert result.score == ex.points


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_stub_is_not_implemented(ex):
    result = check(ex.id, getattr(load_stub(ex.file), ex.name))
    assert result.status == "not_implemented", str(result)
    assert result.score == 0


@pytest.mark.parametrize("ex, mutant", MUTANTS, ids=[f"{ex.id}-{m.name}" for ex, m in MUTANTS])
def test_mutant_fails_with_its_own_diagnosis(ex, mutant):
    result = check(ex.id, mutant.fn)
    assert result.status == "fail", str(result)
    assert result.score == 0
    assert result.diagnosis == mutant.diagnosis, str(result)
    assert mutant.diagnosis in str(result)


def test_in_the_sandbox_the_solutions_score_full_marks_and_the_stubs_zero():
    solutions = grade_folder(ROOT / "solutions", exercise_ids=["ch03"], jobs=2)
    assert len(solutions.results) == len(EXERCISES)
    assert solutions.score == solutions.max_score > 0, solutions.table()
    stubs = grade_folder(ROOT / "exercises", exercise_ids=["ch03"], jobs=2)
    assert {r.status for r in stubs.results} == {"not_implemented"}, stubs.table()


def test_chapter_has_the_planned_exercises():
    names = [ex.name for ex in EXERCISES]
    assert names == ["repeated_tokens", "repeat_loss", "duplicate_token_score", "induction_score",
                     "logit_attribution", "zero_ablation_hook", "mean_ablation_hook", "ablation_scores",
                     "full_ov_circuit", "top1_accuracy", "composition_score", "k_composition_scores",
                     "factored_singular_values"]


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_exercise_metadata(ex):
    assert ex.id == f"ch03.{ex.name}" and ex.chapter == 3 and ex.file == "ch03_induction.py"
    assert ex.points > 0 and ex.difficulty in (1, 2, 3)
    assert ex.kind == ("model" if ex.name == "ablation_scores" else "function")
    assert 1 <= len(ex.hints) <= 3
    assert len(ex.mutants) >= 4
    assert len({m.name for m in ex.mutants}) == len(ex.mutants)
    assert len({m.diagnosis for m in ex.mutants}) == len(ex.mutants)
    for dep in ex.depends_on:
        assert EXERCISES.index(get_exercise(dep)) < EXERCISES.index(ex)


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


def test_dependencies_are_graded_with_the_reference():
    """The stub, with the reference dependencies filled in, is still not implemented; with the answer, it passes."""
    for ex in EXERCISES:
        if not ex.depends_on:
            continue
        stub = load_stub(ex.file)
        exec(dependency_source(ex), stub.__dict__)
        assert check(ex.id, getattr(stub, ex.name)).status == "not_implemented", ex.id
        exec(_definition_source(ex.file, ex.name), stub.__dict__)
        assert check(ex.id, getattr(stub, ex.name)).status == "pass", ex.id


def test_solutions_file_does_not_import_the_grader():
    tree = ast.parse((ROOT / "solutions" / "ch03_induction.py").read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if "grading" in m or m.startswith("solutions")]


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
