"""Every registered kernel equals ``naive``: outputs and gradients, masks, lengths, dtypes."""

from __future__ import annotations

import pytest
import torch

from minigpt import GPT
from minigpt.attention import (
    causal_mask,
    get_attention,
    kernel_info,
    list_attention,
    naive_attention,
    register_attention,
    supports_backward,
    unregister_attention,
)
from tests.helpers import small_config

KERNELS = [k for k in list_attention(available_only=True) if k != "naive"]
TOL = {
    torch.float32: dict(atol=2e-5, rtol=1e-4),
    torch.bfloat16: dict(atol=2e-2, rtol=2e-2),
    torch.float16: dict(atol=3e-3, rtol=3e-3),
}
DTYPES = pytest.mark.parametrize(
    "dtype", [torch.float32, torch.bfloat16, torch.float16], ids=["fp32", "bf16", "fp16"]
)


def qkv(batch, heads, q_len, k_len, d_head, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, heads, q_len, d_head, generator=g).to(dtype)
    k = torch.randn(batch, heads, k_len, d_head, generator=g).to(dtype)
    v = torch.randn(batch, heads, k_len, d_head, generator=g).to(dtype)
    return [t.requires_grad_() for t in (q, k, v)]


def test_the_three_required_kernels_are_registered():
    assert {"naive", "sdpa", "online"} <= set(list_attention(available_only=True))


@pytest.mark.parametrize("kernel", KERNELS)
@DTYPES
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
@pytest.mark.parametrize(
    "q_len,k_len", [(1, 1), (7, 7), (65, 65), (130, 130), (1, 29), (5, 71)],
    ids=lambda x: str(x),
)
def test_kernel_equals_naive(kernel, dtype, causal, q_len, k_len):
    q, k, v = qkv(2, 3, q_len, k_len, 16, dtype)
    q2, k2, v2 = (t.detach().clone().requires_grad_() for t in (q, k, v))
    backward = supports_backward(kernel, "cpu")
    with torch.set_grad_enabled(backward):  # a forward-only kernel (flex on CPU) is compared forward only
        out = get_attention(kernel)(q, k, v, causal=causal)
    ref = naive_attention(q2, k2, v2, causal=causal)
    assert out.shape == ref.shape and out.dtype == dtype
    torch.testing.assert_close(out, ref, **TOL[dtype])
    if not backward:
        return
    grad_out = torch.randn_like(ref)
    out.backward(grad_out)
    ref.backward(grad_out)
    for a, b in ((q, q2), (k, k2), (v, v2)):
        torch.testing.assert_close(a.grad, b.grad, **TOL[dtype])


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_scale_and_user_mask(kernel):
    q, k, v = qkv(1, 2, 9, 9, 8, torch.float32)
    mask = torch.rand(1, 2, 9, 9, generator=torch.Generator().manual_seed(5)) > 0.3
    mask[..., 0] = True  # every query keeps at least one key
    with torch.no_grad():
        out = get_attention(kernel)(q, k, v, causal=True, scale=0.37, attn_mask=mask)
        ref = naive_attention(q, k, v, causal=True, scale=0.37, attn_mask=mask)
    torch.testing.assert_close(out, ref, **TOL[torch.float32])


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_with_a_mask_that_hides_every_key_of_a_row(kernel):
    q, k, v = qkv(1, 2, 4, 6, 8, torch.float32)
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[1] = False  # query 1 sees nothing: naive gives zeros there, not NaN
    with torch.no_grad():
        out = get_attention(kernel)(q, k, v, causal=False, attn_mask=mask)
        ref = naive_attention(q, k, v, causal=False, attn_mask=mask)
    torch.testing.assert_close(out, ref, **TOL[torch.float32])


def test_flex_is_registered_and_says_where_it_cannot_run():
    info = kernel_info("flex")
    if not info.available:
        assert info.reason  # e.g. an old torch without torch.nn.attention.flex_attention
        return
    if "cpu" in info.forward_only_on:
        assert "backward" in info.note
        q, k, v = qkv(1, 1, 3, 3, 8, torch.float32)
        with pytest.raises(NotImplementedError, match="no backward on the CPU"):
            get_attention("flex")(q, k, v)


def test_naive_by_hand():
    """One query, two keys with scores 0 and ln 3: weights 1/4 and 3/4."""
    q = torch.tensor([[[[1.0]]]])
    k = torch.tensor([[[[0.0], [torch.log(torch.tensor(3.0))]]]])
    v = torch.tensor([[[[4.0], [8.0]]]])
    out = naive_attention(q, k, v, causal=False, scale=1.0)
    assert out.item() == pytest.approx(0.25 * 4 + 0.75 * 8)


def test_causal_mask_aligns_to_the_end_of_the_keys():
    assert causal_mask(3, 3).int().tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert causal_mask(1, 4).int().tolist() == [[1, 1, 1, 1]]
    with pytest.raises(ValueError, match="exceeds"):
        causal_mask(4, 2)


@pytest.mark.parametrize("kernel", KERNELS)
@DTYPES
def test_whole_model_on_kernel_with_and_without_kv_cache(kernel, dtype):
    model = GPT(small_config()).eval().to(dtype)
    tokens = torch.randint(0, 97, (2, 23), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = model(tokens).float()
        model.set_attention(kernel)
        out = model(tokens).float()
        torch.testing.assert_close(out, ref, **TOL[dtype])
        # with a KV cache: a prompt, then one token at a time, then a chunk of 4
        from minigpt import KVCache

        cache = KVCache.for_model(model, batch=2)
        pieces = [model(tokens[:, :10], kv_cache=cache)]
        pieces += [model(tokens[:, i : i + 1], kv_cache=cache) for i in range(10, 19)]
        pieces.append(model(tokens[:, 19:], kv_cache=cache))
        torch.testing.assert_close(torch.cat(pieces, dim=1).float(), ref, **TOL[dtype])


def test_a_registered_user_kernel_runs_the_whole_model(small_model, tokens):
    calls = []

    @register_attention("test-user-kernel")
    def mine(q, k, v, *, causal=True, scale=None, attn_mask=None):
        calls.append(q.shape)
        return naive_attention(q, k, v, causal=causal, scale=scale, attn_mask=attn_mask)

    try:
        with torch.no_grad():
            ref = small_model(tokens)
            small_model.set_attention("test-user-kernel")
            out = small_model(tokens)
        assert len(calls) == small_model.cfg.n_layers
        torch.testing.assert_close(out, ref)
        fresh = GPT(small_model.cfg, attention="test-user-kernel")
        assert fresh.blocks[0].attn.kernel is mine
    finally:
        unregister_attention("test-user-kernel")


def test_registering_a_name_twice_needs_overwrite():
    with pytest.raises(ValueError, match="already registered"):
        register_attention("naive")(naive_attention)


def test_unavailable_kernel_says_why():
    register_attention("test-unavailable", available=lambda: (False, "needs a GPU"))(naive_attention)
    try:
        assert "test-unavailable" not in list_attention(available_only=True)
        with pytest.raises(RuntimeError, match="needs a GPU"):
            get_attention("test-unavailable")
    finally:
        unregister_attention("test-unavailable")


def test_pattern_hook_uses_naive_whatever_the_kernel(small_model, tokens):
    small_model.set_attention("sdpa")
    seen = []

    def grab(pattern, hook):
        seen.append(pattern.shape)

    with torch.no_grad():
        ref = small_model(tokens)
        out = small_model.run_with_hooks(tokens, fwd_hooks=[("blocks.1.attn.hook_pattern", grab)])
    assert seen == [(3, 4, 17, 17)]
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
