"""Chapter 2's exercises: what is particular to the chapter (which exercises, their kinds and cases).

test_every_exercise.py holds what every exercise must do (the solution passes, the stub is not
implemented, every known mistake is named). Plus oracles: the reference pieces equal minigpt's own
kernels, masks and KV cache, and torch's softmax.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import solutions.ch02_attention as sol
from minigpt import GPT, GPTConfig, KVCache
from minigpt.attention import causal_mask, get_attention, naive_attention, register_attention, unregister_attention
from minigpt.attention.naive import attention_scores as lib_attention_scores
from minigpt.grading import all_exercises, get_exercise

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = all_exercises(chapter=2)


def test_chapter_has_the_planned_exercises():
    names = [ex.name for ex in EXERCISES]
    assert names == ["attention_scores", "causal_mask", "softmax_stable", "pattern_entropy", "prev_token_score",
                     "online_softmax_step", "tiled_attention", "kv_cache_step"]


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_chapter_metadata(ex):
    """Chapter 2's file and kind, and four known mistakes at least; test_every_exercise.py checks the rest."""
    assert ex.file == "ch02_attention.py" and ex.kind == "function"
    assert len(ex.mutants) >= 4


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_cases_are_seeded_and_small(ex):
    first, second = ex.make_cases(), ex.make_cases()
    assert 2 <= len(first) <= 4
    for a, b in zip(first, second):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], torch.Tensor):
                assert torch.equal(a[key], b[key]), key
                assert a[key].numel() <= 2_000, (key, a[key].shape)
            else:
                assert a[key] == b[key], key
    tensors = [next((v for v in case.values() if isinstance(v, torch.Tensor)), None) for case in first]
    if tensors[0] is not None:
        assert max(t.shape[0] for t in tensors) > 1, "some case must have batch > 1"


# ---------------------------------------------------------------------------
# oracles: the reference pieces against minigpt and torch
# ---------------------------------------------------------------------------


def _qkv(batch=2, heads=3, tq=7, tk=7, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, heads, tq, d, generator=g), torch.randn(batch, heads, tk, d, generator=g),
            torch.randn(batch, heads, tk, d, generator=g))


def test_scores_mask_and_softmax_equal_minigpt_and_torch():
    q, k, _ = _qkv(tq=3, tk=6)
    torch.testing.assert_close(sol.attention_scores(q, k), lib_attention_scores(q, k, 8 ** -0.5))
    torch.testing.assert_close(sol.attention_scores(q, k, scale=0.1), lib_attention_scores(q, k, 0.1))
    for query_pos, key_pos in ((1, 1), (4, 4), (3, 7), (1, 9)):
        assert torch.equal(sol.causal_mask(query_pos, key_pos), causal_mask(query_pos, key_pos))
    for case in get_exercise("ch02.softmax_stable").make_cases():
        torch.testing.assert_close(sol.softmax_stable(case["scores"]), case["scores"].softmax(dim=-1))


def test_entropy_equals_torch_distributions():
    for case in get_exercise("ch02.pattern_entropy").make_cases():
        p = case["pattern"]
        torch.testing.assert_close(sol.pattern_entropy(p), torch.distributions.Categorical(probs=p).entropy())
    assert sol.pattern_entropy(torch.full((1, 16), 1 / 16)).item() == pytest.approx(math.log(16))


def test_prev_token_score_of_handmade_heads():
    pos = 6
    prev = torch.zeros(pos, pos)
    prev[0, 0] = 1.0
    prev[torch.arange(1, pos), torch.arange(pos - 1)] = 1.0
    first = torch.zeros(pos, pos)
    first[:, 0] = 1.0
    pattern = torch.stack([prev, first, torch.eye(pos)])[None].expand(2, 3, pos, pos)
    torch.testing.assert_close(sol.prev_token_score(pattern), torch.tensor([1.0, 1 / (pos - 1), 0.0]))


@pytest.mark.parametrize("tq, tk, causal, block", [(7, 7, True, 3), (5, 12, True, 4), (1, 9, True, 2),
                                                    (9, 9, False, 4), (33, 33, True, 32), (6, 6, True, 64)])
def test_tiled_attention_equals_naive(tq, tk, causal, block):
    q, k, v = _qkv(tq=tq, tk=tk)
    out = sol.tiled_attention(q, k, v, causal=causal, block_q=block, block_k=block)
    torch.testing.assert_close(out, naive_attention(q, k, v, causal=causal), atol=1e-5, rtol=1e-5)


def test_tiled_attention_with_a_mask_and_a_scale_equals_naive():
    q, k, v = _qkv(tq=4, tk=10)
    mask = torch.rand(2, 1, 4, 10, generator=torch.Generator().manual_seed(3)) > 0.4
    mask[0, 0, 1] = False  # a query that sees no key at all: zeros, as naive gives
    out = sol.tiled_attention(q, k, v, scale=0.2, attn_mask=mask, block_q=3, block_k=3)
    expected = naive_attention(q, k, v, scale=0.2, attn_mask=mask)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert out[0, :, 1].abs().max() == 0


def test_the_kernel_cases_are_answered_as_naive_answers_them():
    for case in get_exercise("ch02.tiled_attention").make_cases():
        kw = {key: case[key] for key in ("causal", "scale", "attn_mask")}
        torch.testing.assert_close(sol.tiled_attention(**case), naive_attention(case["q"], case["k"], case["v"], **kw),
                                   atol=1e-5, rtol=1e-5)
    for case in get_exercise("ch02.kv_cache_step").make_cases():
        z, k, v = sol.kv_cache_step(**case)
        torch.testing.assert_close(z, naive_attention(case["q"], k, v, scale=case["scale"]), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("causal", [True, False])
def test_tiled_attention_with_a_padding_mask_equals_naive(causal):
    q, k, v = _qkv(tq=11, tk=11)
    padding = torch.ones(2, 1, 1, 11, dtype=torch.bool)
    padding[1, ..., 7:] = False  # [batch 1 1 key_pos]: broadcast over heads and queries
    for mask in (padding, padding[:, 0, 0, None, None, :].expand(2, 1, 1, 11), padding[0, 0, 0]):
        out = sol.tiled_attention(q, k, v, causal=causal, attn_mask=mask, block_q=4, block_k=3)
        torch.testing.assert_close(out, naive_attention(q, k, v, causal=causal, attn_mask=mask), atol=1e-5, rtol=1e-5)


def test_tiled_attention_builds_no_query_by_key_matrix():
    """FlashAttention's point: nothing of size query_pos * key_pos is ever allocated."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Largest(TorchDispatchMode):
        largest = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in out if isinstance(out, (tuple, list)) else [out]:
                if isinstance(t, torch.Tensor):
                    Largest.largest = max(Largest.largest, t.shape[-2:].numel() if t.ndim >= 2 else t.numel())
            return out

    q, k, v = _qkv(batch=1, heads=1, tq=256, tk=256, d=4)
    with Largest():
        sol.tiled_attention(q, k, v, block_q=16, block_k=16)
    assert Largest.largest <= 256 * 16


def test_tiled_attention_registered_as_a_kernel_runs_the_whole_model():
    cfg = GPTConfig(n_layers=2, d_model=32, n_heads=4, d_vocab=50, n_ctx=40, seed=0)
    model = GPT(cfg, attention="naive")
    tokens = torch.randint(0, 50, (2, 37), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(tokens)
        register_attention("ch02-test-mine")(sol.tiled_attention)
        try:
            model.set_attention("ch02-test-mine")
            torch.testing.assert_close(model(tokens), expected, atol=1e-5, rtol=1e-5)
            greedy = model.generate(tokens[:1, :5], max_new_tokens=6, temperature=0.0, use_kv_cache=True)
            model.set_attention("naive")
            assert torch.equal(greedy, model.generate(tokens[:1, :5], max_new_tokens=6, temperature=0.0,
                                                      use_kv_cache=False))
        finally:
            unregister_attention("ch02-test-mine")


def test_kv_cache_steps_equal_full_recomputation_and_minigpt_kv_cache():
    q, k, v = _qkv(tq=9, tk=9)
    k_cache, v_cache = k[..., :0, :], v[..., :0, :]
    outs = []
    for t in range(9):
        z, k_cache, v_cache = sol.kv_cache_step(q[..., t : t + 1, :], k[..., t : t + 1, :], v[..., t : t + 1, :],
                                                k_cache, v_cache)
        outs.append(z)
    torch.testing.assert_close(torch.cat(outs, dim=-2), naive_attention(q, k, v), atol=1e-5, rtol=1e-5)
    assert torch.equal(k_cache, k) and torch.equal(v_cache, v)
    # the same keys as minigpt's KVCache holds after a model's forward pass
    cfg = GPTConfig(n_layers=1, d_model=24, n_heads=3, d_vocab=20, n_ctx=16, seed=0)
    model = GPT(cfg, attention="naive")
    tokens = torch.randint(0, 20, (1, 6), generator=torch.Generator().manual_seed(1))
    cache = KVCache.for_model(model, batch=1)
    with torch.no_grad():
        _, act = model.run_with_cache(tokens, names_filter=lambda n: n.endswith(("hook_k", "hook_v")))
        model(tokens, kv_cache=cache)
    torch.testing.assert_close(cache.k[0, :, :, :6], act["blocks.0.attn.hook_k"].transpose(1, 2))
    torch.testing.assert_close(cache.v[0, :, :, :6], act["blocks.0.attn.hook_v"].transpose(1, 2))


def test_online_softmax_steps_fold_into_the_softmax():
    g = torch.Generator().manual_seed(5)
    s, v = torch.randn(2, 3, 10, generator=g) * 4, torch.randn(2, 10, 5, generator=g)
    s[0, 0, :6] = -math.inf  # a query whose first two blocks are fully masked
    m, l, acc = torch.full((2, 3, 1), -math.inf), torch.zeros(2, 3, 1), torch.zeros(2, 3, 5)
    for k0 in range(0, 10, 3):
        m, l, acc = sol.online_softmax_step(m, l, acc, s[..., k0 : k0 + 3], v[:, k0 : k0 + 3])
    torch.testing.assert_close(acc / l, s.softmax(dim=-1) @ v)
    torch.testing.assert_close(m, s.amax(dim=-1, keepdim=True))


def test_online_kernel_is_what_the_chapter_compares_with():
    q, k, v = _qkv(tq=20, tk=20)
    torch.testing.assert_close(get_attention("online")(q, k, v), sol.tiled_attention(q, k, v, block_q=8, block_k=8),
                               atol=1e-5, rtol=1e-5)


def test_the_chapter_checks_every_exercise_and_uses_it_after():
    source = (ROOT / "chapters" / "02_attention.py").read_text()
    for ex in EXERCISES:
        checked = source.find(f'check("{ex.id}", ex.{ex.name})')
        used = source.find(f'mine_or_reference("{ex.id}", ex.{ex.name})')
        assert 0 <= checked < used, ex.id
