"""Sampling and KV-cache generation."""

from __future__ import annotations

import pytest
import torch

from minigpt import GPT, KVCache
from minigpt.generate import sample_next_token, top_k_filter, top_p_filter
from tests.helpers import hf_twin, small_config


@pytest.mark.parametrize("kernel", ["naive", "sdpa", "online"])
def test_kv_cache_greedy_equals_uncached(kernel, small_model):
    small_model.set_attention(kernel)
    prompt = torch.randint(0, 97, (2, 5), generator=torch.Generator().manual_seed(0))
    cached = small_model.generate(prompt, max_new_tokens=30, temperature=0.0, use_kv_cache=True)
    uncached = small_model.generate(prompt, max_new_tokens=30, temperature=0.0, use_kv_cache=False)
    assert cached.shape == (2, 35)
    assert torch.equal(cached, uncached)
    assert torch.equal(cached[:, :5], prompt)


def test_sampling_with_a_seed_is_reproducible_with_and_without_cache(small_model):
    prompt = torch.tensor([[1, 2, 3]])
    kw = dict(max_new_tokens=25, temperature=1.3, top_k=40, top_p=0.9, seed=123)
    a = small_model.generate(prompt, **kw)
    b = small_model.generate(prompt, **kw)
    c = small_model.generate(prompt, use_kv_cache=False, **kw)
    d = small_model.generate(prompt, **{**kw, "seed": 124})
    assert torch.equal(a, b) and torch.equal(a, c)
    assert not torch.equal(a, d)


def test_greedy_matches_transformers_generate():
    hf, ours = hf_twin(n_layer=2, n_embd=64, n_head=4, n_positions=64, vocab_size=300)
    prompt = torch.randint(0, 299, (1, 6), generator=torch.Generator().manual_seed(4))
    expected = hf.generate(prompt, max_new_tokens=20, do_sample=False, eos_token_id=None, pad_token_id=0)
    got = ours.generate(prompt, max_new_tokens=20, temperature=0.0, stop_at_eos=False)
    assert torch.equal(got, expected)


def test_stops_at_end_of_text_and_pads_finished_rows():
    model = GPT(small_config(eos_token_id=7, tie_embeddings=False, unembed_bias=True)).eval()
    with torch.no_grad():
        model.unembed.b_U[7] = 100.0  # end-of-text always wins
    out = model.generate(torch.tensor([[1, 2], [3, 4]]), max_new_tokens=10, temperature=0.0)
    assert out.tolist() == [[1, 2, 7], [3, 4, 7]]
    longer = model.generate(torch.tensor([[1, 2]]), max_new_tokens=4, temperature=0.0, stop_at_eos=False)
    assert longer.tolist() == [[1, 2, 7, 7, 7, 7]]


def test_top_k_and_top_p_by_hand():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    assert top_k_filter(logits, 2).tolist() == [[2.0, 1.0, float("-inf"), float("-inf")]]
    assert top_k_filter(logits, 10).tolist() == logits.tolist()
    # softmax = [0.644, 0.237, 0.087, 0.032]: p=0.85 keeps the first two (0.881 >= 0.85)
    assert top_p_filter(logits, 0.85).isfinite().tolist() == [[True, True, False, False]]
    assert top_p_filter(logits, 0.5).isfinite().tolist() == [[True, False, False, False]]
    assert top_p_filter(logits, 1.0).isfinite().all()
    # rows are filtered independently, whatever the order of the vocabulary
    shuffled = torch.tensor([[0.0, 2.0, -1.0, 1.0]])
    assert top_p_filter(shuffled, 0.85).isfinite().tolist() == [[False, True, False, True]]


def test_sampler_statistics_follow_the_filtered_distribution():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).expand(20000, -1)
    g = torch.Generator().manual_seed(0)
    counts = torch.bincount(sample_next_token(logits, top_k=2, generator=g), minlength=4).float()
    torch.testing.assert_close(counts / counts.sum(), torch.tensor([0.625, 0.375, 0.0, 0.0]), atol=0.015, rtol=0)
    assert sample_next_token(logits[:2], temperature=0.0).tolist() == [0, 0]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(temperature=-1.0), "temperature"),
        (dict(temperature=1.0, top_k=0), "top_k"),
        (dict(temperature=1.0, top_p=0.0), "top_p"),
        (dict(max_new_tokens=100), "n_ctx=40"),
    ],
)
def test_bad_generation_arguments(small_model, kwargs, match):
    kwargs = {"max_new_tokens": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        small_model.generate(torch.tensor([[1, 2]]), **kwargs)


def test_kv_cache_refuses_overflow_and_wrong_batch(small_model):
    cache = KVCache.for_model(small_model, batch=1, max_pos=6)
    small_model(torch.tensor([[1, 2, 3, 4]]), kv_cache=cache)
    with pytest.raises(ValueError, match="do not fit"):
        small_model(torch.tensor([[1, 2, 3]]), kv_cache=cache)
    with pytest.raises(ValueError, match="batch 1"):
        small_model(torch.tensor([[1], [2]]), kv_cache=cache)
    with pytest.raises(ValueError, match="n_ctx"):
        KVCache.for_model(small_model, batch=1, max_pos=41)
