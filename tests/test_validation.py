"""Bad input raises an error that says what was expected and what came."""

from __future__ import annotations

import pytest
import torch

from minigpt import GPT, GPTConfig


@pytest.mark.parametrize(
    "tokens,error,match",
    [
        (torch.randn(2, 5), TypeError, "integer ids"),
        (torch.ones(2, 5, dtype=torch.bool), TypeError, "integer ids"),
        (torch.zeros(2, 3, 4, dtype=torch.long), ValueError, r"\[batch, pos\].*got shape \(2, 3, 4\)"),
        (torch.zeros(()).long(), ValueError, "0 dimensions"),
        (torch.tensor([[1, 97]]), ValueError, r"token id 97 is outside the vocabulary \[0, 96\]"),
        (torch.tensor([[-1, 2]]), ValueError, "token id -1"),
        (torch.zeros(1, 41, dtype=torch.long), ValueError, "n_ctx=40.*last 40 tokens"),
        (torch.zeros(1, 0, dtype=torch.long), ValueError, "empty"),
        ("hello", ValueError, "no tokenizer"),
    ],
    ids=["float", "bool", "rank3", "rank0", "id>=vocab", "negative", "too-long", "empty", "text"],
)
def test_bad_tokens(small_model, tokens, error, match):
    with pytest.raises(error, match=match):
        small_model(tokens)


def test_accepts_1d_lists_and_int32(small_model):
    a = small_model(torch.tensor([1, 2, 3]))
    b = small_model([[1, 2, 3]])
    c = small_model(torch.tensor([[1, 2, 3]], dtype=torch.int32))
    assert a.shape == (1, 3, 97)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)


def test_unknown_kernel_lists_the_known_ones(small_model):
    with pytest.raises(KeyError, match=r"registered kernels: \[.*'naive', 'online', 'sdpa'"):
        small_model.set_attention("flash")
    with pytest.raises(KeyError, match="Did you mean 'naive'"):
        GPT(small_model.cfg, attention="naiv")


def test_bad_return_type(small_model):
    with pytest.raises(ValueError, match="return_type"):
        small_model(torch.tensor([[1, 2]]), return_type="probs")
    with pytest.raises(ValueError, match="at least 2 tokens"):
        small_model(torch.tensor([[1]]), return_type="loss")


def test_config_errors_and_presets():
    with pytest.raises(ValueError, match="not divisible"):
        GPTConfig(d_model=100, n_heads=3)
    with pytest.raises(ValueError, match="act_fn"):
        GPTConfig(act_fn="swish")
    with pytest.raises(ValueError, match="Did you mean 'gpt2-xl'"):
        GPTConfig.from_name("gpt2-xxl")
    with pytest.raises(ValueError, match="n_layers"):
        GPTConfig(n_layers=0)
    with pytest.raises(TypeError, match="GPTConfig"):
        GPT({"n_layers": 2})
    sizes = {n: GPTConfig.from_name(n) for n in ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")}
    assert [(c.n_layers, c.d_model, c.n_heads, c.d_head) for c in sizes.values()] == [
        (12, 768, 12, 64), (24, 1024, 16, 64), (36, 1280, 20, 64), (48, 1600, 25, 64)
    ]
    cfg = GPTConfig(d_model=64, n_heads=4, d_head=32)
    assert cfg.replace(n_ctx=8).d_head == 32  # explicit values survive
    assert cfg.replace(d_model=128, d_head=None).d_head == 32
    assert GPTConfig.from_dict(cfg.to_dict()) == cfg


def test_param_count_matches_nanogpt():
    model = GPT(GPTConfig.from_name("gpt2"))
    assert model.n_params(non_embedding=False) == 124_439_808  # GPT-2 small, tied
    assert model.n_params() == GPTConfig.from_name("gpt2").n_params_non_embedding


def test_toy_configurations_run():
    for cfg in [
        GPTConfig(n_layers=1, d_model=32, n_heads=2, d_vocab=10, n_ctx=8, attn_only=True, normalization_type=None),
        GPTConfig(n_layers=2, d_model=32, n_heads=8, d_vocab=10, n_ctx=8, act_fn="relu", tie_embeddings=False),
        GPTConfig(n_layers=1, d_model=32, n_heads=4, d_vocab=10, n_ctx=8, positional_embedding=False, act_fn="gelu"),
        GPTConfig(n_layers=1, d_model=30, n_heads=4, d_head=16, d_vocab=10, n_ctx=8, unembed_bias=True),
    ]:
        model = GPT(cfg)
        loss = model(torch.randint(0, 10, (2, 8)), return_type="loss")
        loss.backward()
        assert loss.isfinite() and all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_half_precision_model_stays_close_to_fp32(small_model, tokens, dtype):
    """Softmax and LayerNorm statistics run in fp32, so a half model tracks the fp32 one."""
    half = GPT(small_model.cfg).eval()
    half.load_state_dict(small_model.state_dict())
    half.to(dtype)
    with torch.no_grad():
        ref = small_model(tokens)
        out = half(tokens)
        _, cache = half.run_with_cache(tokens)
    assert out.dtype == dtype
    tol = 2e-2 if dtype == torch.bfloat16 else 2e-3
    torch.testing.assert_close(out.float(), ref, atol=tol, rtol=tol)
    torch.testing.assert_close(cache["pattern", 0].float().sum(-1), torch.ones(3, 4, 17), atol=tol, rtol=0)
    assert half(tokens, return_type="loss").dtype == torch.float32  # the loss is computed in fp32
