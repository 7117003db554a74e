"""Chapter 1's exercises: what is particular to the chapter (which exercises, their kinds and cases).

test_every_exercise.py holds what every exercise must do (the solution passes, the stub is not
implemented, every known mistake is named). Plus oracles: the reference pieces equal minigpt's own
components and torch's kernels.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import solutions.ch01_transformer as sol
from tests.helpers import load_stub
from minigpt import GPTConfig, generate
from minigpt.attention.masks import causal_mask
from minigpt.components import MLP, Attention, Block
from minigpt.grading import all_exercises, check, get_exercise
from minigpt.grading.check import call
from minigpt.grading.compare import compare_sample_rows
from minigpt.grading.exercises.ch01.output import sampling_probs

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = all_exercises(chapter=1)
MODEL_KINDS = {"greedy_generate": "model", "beam_search": "model", "training_step": "model"}  # of a model
TEXT_ONLY = {"bpe_merge_word", "count_parameters"}  # words and numbers


def test_chapter_has_the_planned_exercises():
    names = {ex.name for ex in EXERCISES}
    assert {"layer_norm", "embed", "pos_embed", "apply_causal_mask", "gelu_new", "Attention", "mlp", "Block",
            "unembed", "sample_next_token", "bpe_merge_word", "Transformer", "count_parameters", "greedy_generate",
            "training_step"} <= names
    assert len(EXERCISES) >= 18


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_chapter_metadata(ex):
    """Chapter 1's file and kinds; test_every_exercise.py checks what every exercise has."""
    assert ex.file == "ch01_transformer.py"
    kind = "module" if ex.name[0].isupper() else "sampler" if "sample" in ex.name else "function"
    assert ex.kind == MODEL_KINDS.get(ex.name, kind)


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_cases_are_seeded_small_and_batched(ex):
    first, second = ex.make_cases(), ex.make_cases()
    assert 2 <= len(first) <= 4
    for a, b in zip(first, second):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], torch.Tensor):
                assert torch.equal(a[key], b[key]), key
    if ex.kind == "model":  # the tensors are in the calls
        assert all(torch.equal(x, y) for a, b in zip(first, second) for ca, cb in zip(a["calls"], b["calls"])
                   for x, y in zip(ca.values(), cb.values()) if isinstance(x, torch.Tensor))
        first = [call for case in first for call in case["calls"]]
    tensors = [next((v for v in case.values() if isinstance(v, torch.Tensor)), None) for case in first]
    if all(t is None for t in tensors):
        assert ex.name in TEXT_ONLY, "only these exercises may have cases without tensors"
        return
    assert max(t.shape[0] for t in tensors if t is not None) > 1, "some case must have batch > 1"
    if ex.kind == "module":
        for case in first:
            biases = [v for k, v in case["state_dict"].items() if k.split(".")[-1] in ("b", "b_Q", "b_K", "b_V",
                                                                                      "b_O", "b_in", "b_out")]
            assert biases and all(b.abs().min() > 0 for b in biases), "biases must be non-trivial"


def test_stub_classes_raise_cleanly_on_construction():
    stub = load_stub("ch01_transformer.py")
    cfg = GPTConfig(d_model=8, n_heads=2, n_layers=1, d_vocab=11, n_ctx=16)
    for cls in (stub.Attention, stub.Block, stub.Transformer):
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


# ---------------------------------------------------------------------------
# oracles for the later pieces: the tokenizer, minigpt's GPT and generate, torch's attention and optimizers
# ---------------------------------------------------------------------------


def test_bpe_merge_word_equals_the_gpt2_tokenizer():
    from minigpt import get_tokenizer

    tok = get_tokenizer("gpt2")
    merges = sorted(tok.ranks, key=tok.ranks.__getitem__)
    for word in (" Paris", "Paris", " grokking", " tokenization", " unbelievable", "    ", " 2024", "(self",
                 " déjà", " 東京", "aaaaaaa"):
        expected = [tok.id_to_token(i) for i in tok.encode(word)]  # each word is one pre-token
        assert sol.bpe_merge_word(tok.to_standins(word), merges) == expected, word


def _untied_state(model) -> dict:
    state = dict(model.state_dict())
    state["unembed.W_U"] = model.W_U.detach().clone()
    return state


def test_transformer_equals_minigpt_gpt():
    from minigpt import GPT

    for case in get_exercise("ch01.transformer").make_cases():
        ours = _loaded(sol.Transformer, case)
        lib = GPT(GPTConfig(**case["cfg"]), init=False)
        lib.load_state_dict(case["state_dict"])
        with torch.no_grad():
            torch.testing.assert_close(ours(case["tokens"]), lib(case["tokens"]), atol=1e-5, rtol=1e-5)
    # a tied model (GPT-2's way) loads once W_U = W_E.T is copied in
    cfg = GPTConfig(n_layers=2, d_model=16, n_heads=4, d_vocab=23, n_ctx=12, seed=3)
    lib = GPT(cfg)
    ours = sol.Transformer(cfg)
    ours.load_state_dict(_untied_state(lib))
    tokens = torch.randint(0, 23, (2, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ours(tokens), lib(tokens), atol=1e-5, rtol=1e-5)


def test_greedy_generate_equals_minigpt_generate():
    from minigpt import GPT

    for case in get_exercise("ch01.greedy_generate").make_cases():
        model = GPT(GPTConfig(**case["cfg"]), init=False)
        model.load_state_dict(case["state_dict"])
        (call_kwargs,) = case["calls"]
        ours = sol.greedy_generate(model, **call_kwargs)
        for use_kv_cache in (True, False):
            theirs = model.generate(call_kwargs["tokens"], call_kwargs["max_new_tokens"], temperature=0.0,
                                    use_kv_cache=use_kv_cache, stop_at_eos=False)
            assert torch.equal(ours, theirs)
        assert len(set(ours[:, -call_kwargs["max_new_tokens"]:].flatten().tolist())) > 2, "a non-trivial case"


def test_count_parameters_equals_minigpt():
    from minigpt import GPT

    for case in get_exercise("ch01.count_parameters").make_cases():
        with torch.device("meta"):  # shapes only: no memory, no time
            model = GPT(GPTConfig(**case), init=False)
        assert sol.count_parameters(**case) == model.n_params(non_embedding=False), case
    assert sol.count_parameters(**get_exercise("ch01.count_parameters").make_cases()[0]) == 124_439_808  # GPT-2


def test_training_step_equals_a_hand_written_step():
    from minigpt import GPT
    from minigpt.grading._child import call_with_model

    ex = get_exercise("ch01.training_step")
    for case in ex.make_cases():
        returns, params = call_with_model(sol.training_step, case)
        model = GPT(GPTConfig(**case["cfg"]), init=False)
        model.load_state_dict(case["state_dict"])
        spec = dict(case["optimizer"])
        opt = getattr(torch.optim, spec.pop("type"))(model.parameters(), **spec)
        losses = []
        for kwargs in case["calls"]:
            opt.zero_grad()
            loss = model(kwargs["tokens"], return_type="loss")
            loss.backward()
            if kwargs["max_grad_norm"] is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), kwargs["max_grad_norm"])
            opt.step()
            losses.append(loss.item())
        assert returns == pytest.approx(losses, rel=1e-5)
        for name, p in model.state_dict().items():
            torch.testing.assert_close(params[name], p, atol=1e-6, rtol=1e-5)
        assert any(not torch.equal(params[k], case["state_dict"][k]) for k in params), "the step changed nothing"


def test_the_chapter_checks_every_exercise_once_in_order():
    import re

    source = (ROOT / "chapters" / "01_transformer_from_scratch.py").read_text()
    checked = re.findall(r'^check\("(ch01\.\w+)", ex\.(\w+)\)', source, re.M)
    assert sorted(i for i, _ in checked) == sorted(ex.id for ex in EXERCISES)
    assert all(get_exercise(i).name == name for i, name in checked)
    used = re.findall(r'mine_or_reference\("(ch01\.\w+)", ex\.(\w+)\)', source)
    assert used and all(get_exercise(i).name == name for i, name in used)
    first_check = {i: source.index(f'check("{i}"') for i, _ in checked}
    assert all(first_check[i] < source.index(f'mine_or_reference("{i}"') for i, _ in used), \
        "a piece is checked before the chapter uses it"
