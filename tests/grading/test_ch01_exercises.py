"""Chapter 1's exercises: the solutions pass, the stubs are not implemented, every known mistake is named.

Plus oracles: the reference pieces equal minigpt's own components and torch's kernels.
"""

from __future__ import annotations

import ast
import importlib.util
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import solutions.ch01_transformer as sol
from minigpt import GPTConfig, generate
from minigpt.attention.masks import causal_mask
from minigpt.components import MLP, Attention, Block
from minigpt.grading import all_exercises, check, get_exercise
from minigpt.grading.check import call
from minigpt.grading.compare import compare_sample_rows
from minigpt.grading.exercises.ch01.output import sampling_probs
from minigpt.grading.reference import _definition_source, dependency_source, reference

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = all_exercises(chapter=1)
MUTANTS = [(ex, m) for ex in EXERCISES for m in ex.mutants]


def load_stub(file: str = "ch01_transformer.py"):
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


def test_chapter_has_the_planned_exercises():
    names = {ex.name for ex in EXERCISES}
    assert {"layer_norm", "embed", "pos_embed", "apply_causal_mask", "gelu_new", "Attention", "mlp", "Block",
            "unembed", "sample_next_token"} <= names
    assert len(EXERCISES) >= 10


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_exercise_metadata(ex):
    assert ex.id == f"ch01.{ex.name.lower()}" and ex.chapter == 1 and ex.file == "ch01_transformer.py"
    assert ex.points > 0 and ex.difficulty in (1, 2, 3)
    assert 1 <= len(ex.hints) <= 3
    assert len(ex.mutants) >= 2
    assert len({m.name for m in ex.mutants}) == len(ex.mutants)
    assert len({m.diagnosis for m in ex.mutants}) == len(ex.mutants)
    for dep in ex.depends_on:
        assert EXERCISES.index(get_exercise(dep)) < EXERCISES.index(ex)
    assert ex.kind == ("module" if ex.name[0].isupper() else "sampler" if "sample" in ex.name else "function")


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_cases_are_seeded_small_and_batched(ex):
    first, second = ex.make_cases(), ex.make_cases()
    assert 2 <= len(first) <= 4
    for a, b in zip(first, second):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], torch.Tensor):
                assert torch.equal(a[key], b[key]), key
    batches = [next(v for v in case.values() if isinstance(v, torch.Tensor)).shape[0] for case in first]
    assert max(batches) > 1, "some case must have batch > 1"
    if ex.kind == "module":
        for case in first:
            biases = [v for k, v in case["state_dict"].items() if k.split(".")[-1] in ("b", "b_Q", "b_K", "b_V",
                                                                                      "b_O", "b_in", "b_out")]
            assert biases and all(b.abs().min() > 0 for b in biases), "biases must be non-trivial"


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
    tree = ast.parse((ROOT / "solutions" / "ch01_transformer.py").read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if "grading" in m or m.startswith("solutions")]


def test_stub_classes_raise_cleanly_on_construction():
    stub = load_stub()
    cfg = GPTConfig(d_model=8, n_heads=2, n_layers=1, d_vocab=11, n_ctx=16)
    for cls in (stub.Attention, stub.Block):
        with pytest.raises(NotImplementedError):
            cls(cfg)


def test_an_implementation_that_overwrites_its_input_is_graded_on_its_output():
    def destructive_layer_norm(x, w, b, eps=1e-5):
        out = sol.layer_norm(x, w, b, eps)
        x.zero_()
        return out

    assert check("ch01.layer_norm", destructive_layer_norm).status == "pass"


def test_sampler_that_ignores_the_generator_still_passes():
    torch.manual_seed(0)

    def sampler(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
        return sol.sample_next_token(logits, temperature, top_k, top_p)  # the global RNG

    assert check("ch01.sample_next_token", sampler).status == "pass"


def test_sampler_with_the_wrong_output_shape_says_so():
    def sampler(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
        return sol.sample_next_token(logits, temperature, top_k, top_p, generator)[:, None]

    result = check("ch01.sample_next_token", sampler)
    assert result.status == "fail" and "wrong shape" in result.message


# ---------------------------------------------------------------------------
# oracles: the reference pieces against minigpt and torch
# ---------------------------------------------------------------------------


def _loaded(cls, case, *args):
    module = cls(GPTConfig(**case["cfg"]), *args)
    module.load_state_dict(case["state_dict"])
    return module


@pytest.mark.parametrize("kernel", ["naive", "sdpa"])
def test_attention_equals_minigpt(kernel):
    for case in get_exercise("ch01.attention").make_cases():
        ours, lib = _loaded(sol.Attention, case), _loaded(Attention, case, kernel)
        with torch.no_grad():
            torch.testing.assert_close(ours(case["x"]), lib(case["x"]), atol=1e-5, rtol=1e-5)
    assert [n for n, _ in sol.Attention(GPTConfig(**case["cfg"])).named_parameters()] == \
        [n for n, _ in Attention(GPTConfig(**case["cfg"])).named_parameters()]


def test_block_equals_minigpt():
    for case in get_exercise("ch01.block").make_cases():
        ours, lib = _loaded(sol.Block, case), _loaded(Block, case, 0, "naive")
        with torch.no_grad():
            torch.testing.assert_close(ours(case["resid"]), lib(case["resid"]), atol=1e-5, rtol=1e-5)


def test_mlp_equals_minigpt():
    for case in get_exercise("ch01.mlp").make_cases():
        d, m = case["W_in"].shape
        lib = MLP(GPTConfig(d_model=d, d_mlp=m, n_heads=1, n_layers=1, d_vocab=5, n_ctx=4))
        lib.load_state_dict({k: case[k] for k in ("W_in", "b_in", "W_out", "b_out")})
        with torch.no_grad():
            torch.testing.assert_close(sol.mlp(**case), lib(case["x"]), atol=1e-5, rtol=1e-5)


def test_layer_norm_equals_torch():
    for case in get_exercise("ch01.layer_norm").make_cases():
        x, w, b, eps = case["x"], case["w"], case["b"], case["eps"]
        torch.testing.assert_close(sol.layer_norm(**case), F.layer_norm(x, x.shape[-1:], w, b, eps))


def test_gelu_new_equals_torch_tanh_gelu():
    x = torch.linspace(-6, 6, 1001)
    torch.testing.assert_close(sol.gelu_new(x), F.gelu(x, approximate="tanh"))


def test_embeddings_unembed_and_loss_equal_torch():
    for case in get_exercise("ch01.embed").make_cases():
        torch.testing.assert_close(sol.embed(**case), F.embedding(case["tokens"], case["W_E"]))
    for case in get_exercise("ch01.unembed").make_cases():
        torch.testing.assert_close(sol.unembed(**case), case["x"] @ case["W_U"])
    for case in get_exercise("ch01.cross_entropy_per_token").make_cases():
        logits, tokens = case["logits"], case["tokens"]
        expected = F.cross_entropy(logits[:, :-1].transpose(1, 2), tokens[:, 1:], reduction="none")
        torch.testing.assert_close(sol.cross_entropy_per_token(**case), expected)


def test_causal_mask_equals_minigpt():
    for case in get_exercise("ch01.apply_causal_mask").make_cases():
        scores = case["scores"]
        mask = causal_mask(*scores.shape[-2:])
        torch.testing.assert_close(sol.apply_causal_mask(scores), scores.masked_fill(~mask, -math.inf))


def test_filters_and_sampler_agree_with_minigpt_generate():
    for case in get_exercise("ch01.top_k_filter").make_cases():
        torch.testing.assert_close(sol.top_k_filter(**case), generate.top_k_filter(**case))
    for case in get_exercise("ch01.top_p_filter").make_cases():
        torch.testing.assert_close(sol.top_p_filter(**case), generate.top_p_filter(**case))
    logits = torch.randn(64, 9, generator=torch.Generator().manual_seed(0)) * 2
    for kw in (dict(), dict(temperature=0.0), dict(temperature=0.7, top_k=4), dict(temperature=1.5, top_p=0.8),
               dict(temperature=0.9, top_k=5, top_p=0.6)):
        ours = sol.sample_next_token(logits, **kw, generator=torch.Generator().manual_seed(1))
        theirs = generate.sample_next_token(logits, **kw, generator=torch.Generator().manual_seed(1))
        assert torch.equal(ours, theirs), kw


def test_sampling_probs_is_the_reference_distribution():
    ex = get_exercise("ch01.sample_next_token")
    for case in ex.make_cases():
        probs = call(ex, ex.expected_fn, case)
        assert torch.allclose(probs.sum(-1), torch.ones(len(probs)))
        samples = call(ex, sol.sample_next_token, case)
        assert compare_sample_rows(probs, samples).passed
    assert ex.expected_fn is sampling_probs
