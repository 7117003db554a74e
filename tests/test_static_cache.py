"""The fixed-shape KV cache: equal to no cache, for every kernel; compiled once for every position."""

from __future__ import annotations

import shutil

import pytest
import torch

from minigpt import GPT
from minigpt.attention import list_attention
from minigpt.kv_cache import KVCache, StaticKVCache
from tests.helpers import small_config

KERNELS = list_attention(available_only=True)


@pytest.mark.parametrize("kernel", KERNELS)
def test_static_cache_in_pieces_equals_one_forward(kernel, small_model):
    small_model.set_attention(kernel)
    tokens = torch.randint(0, 97, (2, 23), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = small_model(tokens)
        cache = StaticKVCache.for_model(small_model, batch=2)
        pieces = [small_model(tokens[:, :10], kv_cache=cache)]  # a prompt, one token at a time, a chunk
        pieces += [small_model(tokens[:, i : i + 1], kv_cache=cache) for i in range(10, 19)]
        pieces.append(small_model(tokens[:, 19:], kv_cache=cache))
    torch.testing.assert_close(torch.cat(pieces, dim=1), ref, atol=2e-5, rtol=1e-4)
    assert cache.pos == 23 and cache.k[0].shape == (2, 4, small_model.cfg.n_ctx, 12)


@pytest.mark.parametrize("kernel", KERNELS)
def test_static_cache_greedy_equals_uncached(kernel, small_model):
    small_model.set_attention(kernel)
    prompt = torch.randint(0, 97, (2, 5), generator=torch.Generator().manual_seed(0))
    static = small_model.generate(prompt, max_new_tokens=30, static_cache=True)
    uncached = small_model.generate(prompt, max_new_tokens=30, use_kv_cache=False)
    assert torch.equal(static, uncached)


def test_the_mask_hides_empty_slots_by_hand():
    """After 3 tokens then 1: query at position 3 sees slots 0..3 of 6."""
    model = GPT(small_config(n_ctx=6)).eval()
    cache = StaticKVCache.for_model(model, batch=1)
    with torch.no_grad():
        model(torch.tensor([[1, 2, 3]]), kv_cache=cache)
        assert cache.attn_mask.int().tolist() == [[1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0]]
        model(torch.tensor([[4]]), kv_cache=cache)
    assert cache.attn_mask.int().tolist() == [[1, 1, 1, 1, 0, 0]]
    assert cache.input_pos.tolist() == [3] and cache.pos == 4
    cache.reset()
    assert cache.pos == 0


def test_pattern_hooks_see_the_static_mask(small_model):
    tokens = torch.randint(0, 97, (1, 9), generator=torch.Generator().manual_seed(3))
    seen = []
    with torch.no_grad():
        ref = small_model(tokens)
        cache = StaticKVCache.for_model(small_model, batch=1, max_pos=12)
        small_model(tokens[:, :8], kv_cache=cache)
        out = small_model.run_with_hooks(
            tokens[:, 8:], kv_cache=cache,
            fwd_hooks=[("blocks.0.attn.hook_pattern", lambda p, hook: seen.append(p.clone()))],
        )
    torch.testing.assert_close(out, ref[:, 8:], atol=2e-5, rtol=1e-4)
    assert seen[0].shape == (1, 4, 1, 12) and seen[0][..., 9:].abs().max() == 0  # empty slots get no weight


def test_static_cache_errors_a_learner_can_act_on(small_model):
    cache = StaticKVCache.for_model(small_model, batch=1, max_pos=4)
    with pytest.raises(ValueError, match="made for batch 1"):
        small_model(torch.zeros(2, 3, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError, match="holds 4 positions"):
        small_model(torch.zeros(1, 5, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError, match="exceeds the model's context"):
        StaticKVCache(small_model.cfg, batch=1, max_pos=small_model.cfg.n_ctx + 1)


def test_caches_take_the_autocast_dtype(small_model):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert StaticKVCache.for_model(small_model, 1).k[0].dtype == torch.bfloat16
        assert KVCache.for_model(small_model, 1).k.dtype == torch.bfloat16
    assert StaticKVCache.for_model(small_model, 1).k[0].dtype == torch.float32


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="torch.compile on the CPU needs a C++ compiler (apt-get install g++)")
def test_compiled_decode_step_compiles_once_and_equals_uncached():
    """``generate(compile=True)``: one graph for every position, and for a second prompt of another length."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    model = GPT(small_config(n_layers=1, n_ctx=24)).eval()
    for seed, prompt_len in ((0, 5), (1, 3)):
        prompt = torch.randint(0, 97, (2, prompt_len), generator=torch.Generator().manual_seed(seed))
        compiled = model.generate(prompt, max_new_tokens=12, compile=True)
        assert torch.equal(compiled, model.generate(prompt, max_new_tokens=12, use_kv_cache=False))
    assert counters["stats"]["unique_graphs"] == 1  # no recompile over 22 steps at different positions


def test_the_compiled_path_reuses_one_cache_per_model(small_model):
    from minigpt.generate import reusable_static_cache

    a = reusable_static_cache(small_model, batch=2)
    with torch.no_grad():
        small_model(torch.tensor([[1, 2], [3, 4]]), kv_cache=a)
    b = reusable_static_cache(small_model, batch=2)
    assert b is a and b.pos == 0  # same buffers (same addresses for a CUDA graph), reset
    assert reusable_static_cache(small_model, batch=3) is not a
    assert a.max_pos == small_model.cfg.n_ctx
