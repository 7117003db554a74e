"""Beam search: the same tokens as Hugging Face ``generate(num_beams=...)`` on the same weights."""

from __future__ import annotations

import itertools

import pytest
import torch

from minigpt import KVCache
from minigpt.beam_search import beam_search, reorder_cache, top_candidates
from tests.helpers import hf_twin


@pytest.fixture(scope="module")
def twins():
    return hf_twin(n_layer=2, n_embd=64, n_head=4, n_positions=64, vocab_size=300)


def prompts(batch: int, seed: int = 4) -> torch.Tensor:
    return torch.randint(0, 299, (batch, 6), generator=torch.Generator().manual_seed(seed))


def hf_beams(hf, prompt, **kwargs):
    # attention_mask: without it Hugging Face takes every prompt token equal to pad_token_id for padding
    return hf.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False, **kwargs)


@pytest.mark.parametrize("num_beams,batch,use_kv_cache", list(itertools.product((2, 3, 4), (1, 3), (True, False))))
def test_same_tokens_as_transformers_without_end_of_text(twins, num_beams, batch, use_kv_cache):
    hf, ours = twins
    prompt = prompts(batch)
    expected = hf_beams(hf, prompt, max_new_tokens=20, num_beams=num_beams, eos_token_id=None, pad_token_id=0)
    got = ours.generate(prompt, max_new_tokens=20, num_beams=num_beams, do_sample=False, stop_at_eos=False,
                        use_kv_cache=use_kv_cache)
    assert got.shape == (batch, 26)
    assert torch.equal(got, expected)
    greedy = ours.generate(prompt, max_new_tokens=20, stop_at_eos=False)
    assert not torch.equal(got, greedy) or num_beams == 2  # the beams matter (they do from 3 on here)


@pytest.mark.parametrize("length_penalty,early_stopping",
                         list(itertools.product((1.0, 0.0, 2.0, -1.0), (False, True, "never"))))
def test_same_tokens_as_transformers_when_beams_end(twins, length_penalty, early_stopping):
    hf, ours = twins
    prompt = prompts(4)
    kwargs = dict(max_new_tokens=20, num_beams=3, length_penalty=length_penalty, early_stopping=early_stopping)
    free = ours.generate(prompt, stop_at_eos=False, **kwargs)
    # end-of-text tokens the beams do produce without one: the first and the last of the first row
    for eos in (int(free[0, 6]), int(free[0, -1])):
        expected = hf_beams(hf, prompt, eos_token_id=eos, pad_token_id=eos, **kwargs)
        for use_kv_cache in (True, False):
            got = ours.generate(prompt, eos_token_id=eos, temperature=0.7, do_sample=False,
                                use_kv_cache=use_kv_cache, **kwargs)
            assert torch.equal(got, expected), (eos, use_kv_cache, got, expected)
        assert not torch.equal(expected, free)  # the end-of-text token changed the search


def test_one_beam_is_greedy(twins):
    _, ours = twins
    prompt = prompts(2)
    assert torch.equal(beam_search(ours, prompt, 15, 1), ours.generate(prompt, max_new_tokens=15, stop_at_eos=False))


def test_top_candidates_by_hand():
    # two beams scored -1 and -2; every candidate is beam score + log-prob, ranked over beams x vocabulary
    log_probs = torch.log(torch.tensor([[[0.5, 0.3, 0.2], [0.9, 0.05, 0.05]]]))
    scores, beam, token = top_candidates(log_probs, torch.tensor([[-1.0, -2.0]]), k=3)
    assert beam.tolist() == [[0, 1, 0]] and token.tolist() == [[0, 0, 1]]
    expected = [-1 + torch.log(torch.tensor(0.5)), -2 + torch.log(torch.tensor(0.9)), -1 + torch.log(torch.tensor(0.3))]
    torch.testing.assert_close(scores[0], torch.stack(expected))


def test_reorder_cache_gives_each_beam_its_parents_past(small_model):
    cache = KVCache.for_model(small_model, batch=2, max_pos=8)
    small_model(torch.tensor([[1, 2, 3], [4, 5, 6]]), kv_cache=cache)
    k = cache.k[:, :, :, :3].clone()
    reorder_cache(cache, torch.tensor([1, 1, 0]))  # three beams: two children of row 1, one of row 0
    assert cache.batch == 3 and cache.pos == 3
    assert torch.equal(cache.k[:, :, :, :3], k[:, [1, 1, 0]])
    reorder_cache(cache, torch.tensor([2, 0, 1]))
    assert torch.equal(cache.k[:, :, :, :3], k[:, [0, 1, 1]])
    # and the model goes on from the reordered cache as from the reordered prompts
    out = small_model(torch.tensor([[7], [8], [9]]), kv_cache=cache)[:, -1]
    full = small_model(torch.tensor([[1, 2, 3, 7], [4, 5, 6, 8], [4, 5, 6, 9]]))[:, -1]
    torch.testing.assert_close(out, full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_beams=2, temperature=1.0), "deterministic"),
    (dict(num_beams=2, do_sample=True, temperature=1.0), "deterministic"),
    (dict(num_beams=0), "num_beams"),
    (dict(num_beams=2, compile=True), "dynamic KV cache"),
    (dict(num_beams=60), "d_vocab=97"),
    (dict(num_beams=2, early_stopping="soon"), "early_stopping"),
    (dict(do_sample=True), "temperature > 0"),
])
def test_bad_beam_arguments(small_model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        small_model.generate(torch.tensor([[1, 2]]), max_new_tokens=3, **kwargs)


def test_the_chapter_exercise_equals_generate_on_its_cases():
    """solutions' beam_search (chapter 1) = model.generate(num_beams=...), and beats greedy on the check's cases."""
    import solutions.ch01_transformer as sol
    from minigpt import GPT, GPTConfig
    from minigpt.grading import get_exercise

    better = 0
    for case in get_exercise("ch01.beam_search").make_cases():
        model = GPT(GPTConfig(**case["cfg"]), init=False).eval()
        model.load_state_dict(case["state_dict"])
        for call in case["calls"]:
            tokens, new = call["tokens"], call["max_new_tokens"]
            with torch.no_grad():
                ours = sol.beam_search(model, **call)
            for use_kv_cache in (True, False):
                lib = model.generate(tokens, new, num_beams=call["num_beams"], use_kv_cache=use_kv_cache,
                                     stop_at_eos=False)
                assert torch.equal(ours, lib[0])
            greedy = model.generate(tokens, new, stop_at_eos=False)[0]
            with torch.no_grad():
                log_p = [model(seq[None])[0, :-1].log_softmax(-1)[len(tokens) - 1:].gather(-1, seq[len(tokens):, None])
                         .sum() for seq in (ours, greedy)]
            assert log_p[0] >= log_p[1] - 1e-5
            better += bool(log_p[0] > log_p[1] + 1e-4)
    assert better >= 3  # the beams find a more likely continuation than greedy in most calls
