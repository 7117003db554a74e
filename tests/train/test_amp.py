"""bf16 / fp16: autocast forward and training (loss scaling for fp16), device choice, FLOP counting."""

from __future__ import annotations

import pytest
import torch

from minigpt import GPT, GPTConfig
from minigpt import device as dev
from minigpt.attention import list_attention, supports_backward
from minigpt.train.amp import amp_step
from tests.helpers import small_config

HALF = pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
TOL = {torch.bfloat16: dict(atol=6e-2, rtol=6e-2), torch.float16: dict(atol=1e-2, rtol=1e-2)}


def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "mps_available", lambda: False)
    assert dev.pick_device("auto") == torch.device("cpu")
    monkeypatch.setattr(dev, "mps_available", lambda: True)
    assert dev.pick_device("auto") == torch.device("mps")
    assert dev.pick_device(None) == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dev.pick_device("auto") == torch.device("cuda")
    assert dev.pick_device("cpu") == torch.device("cpu")


def test_asking_for_a_missing_device_says_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "mps_available", lambda: False)
    with pytest.raises(RuntimeError, match="sees no CUDA GPU"):
        dev.pick_device("cuda")
    with pytest.raises(RuntimeError, match="MPS backend is not available"):
        dev.pick_device("mps")
    with pytest.raises(ValueError, match="unknown dtype"):
        dev.parse_dtype("fp8")


def test_half_precision_choice_per_device(monkeypatch):
    assert dev.autocast_dtype("cpu") == torch.float32
    assert dev.autocast_dtype("mps") == torch.float16
    monkeypatch.setattr(dev, "bf16_supported", lambda device: False)  # a V100 or a T4
    assert dev.autocast_dtype("cuda") == torch.float16
    monkeypatch.setattr(dev, "bf16_supported", lambda device: True)
    assert dev.autocast_dtype("cuda") == torch.bfloat16


@HALF
@pytest.mark.parametrize("kernel", [k for k in list_attention(available_only=True) if supports_backward(k, "cpu")])
def test_autocast_forward_and_backward_stay_close_to_fp32(kernel, dtype):
    model = GPT(small_config(), attention=kernel).train()
    tokens = torch.randint(0, 97, (2, 19), generator=torch.Generator().manual_seed(0))
    ref_logits, ref_loss = model(tokens, return_type="both")
    ref_loss.backward()
    ref_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    with dev.autocast("cpu", dtype):
        logits, loss = model(tokens, return_type="both")
    assert logits.dtype == dtype and loss.dtype == torch.float32  # matmuls in half, the loss in fp32
    loss.backward()
    torch.testing.assert_close(logits.float(), ref_logits, **TOL[dtype])
    torch.testing.assert_close(loss, ref_loss, **TOL[dtype])
    for p, g in zip(model.parameters(), ref_grads):
        assert p.grad.dtype == torch.float32  # weights and their gradients stay fp32
        torch.testing.assert_close(p.grad, g, atol=TOL[dtype]["atol"] * 0.1, rtol=0.5)


def train(dtype: torch.dtype, steps: int = 40) -> tuple[list[float], object]:
    """A tiny model memorising one batch, under autocast (and a GradScaler for fp16)."""
    model = GPT(small_config(n_layers=1, d_model=32, n_heads=2, n_ctx=24)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scaler = dev.grad_scaler("cpu", dtype)
    tokens = torch.randint(0, 97, (8, 24), generator=torch.Generator().manual_seed(0))
    losses = [amp_step(model, opt, tokens, scaler, device="cpu", dtype=dtype, grad_clip=1.0)[0].item()
              for _ in range(steps)]
    return losses, scaler


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=["fp32", "bf16", "fp16"])
def test_training_in_half_precision_learns_like_fp32(dtype):
    losses, scaler = train(dtype)
    fp32_losses, _ = train(torch.float32) if dtype != torch.float32 else (losses, None)
    assert scaler.is_enabled() == (dtype == torch.float16)  # only fp16 needs loss scaling
    if dtype == torch.float16:
        assert scaler.get_scale() > 1.0  # the loss really was scaled
    assert sum(losses[-5:]) / 5 < losses[0] - 1.0
    assert abs(sum(losses[-5:]) - sum(fp32_losses[-5:])) / 5 < 0.2


@HALF
def test_generation_under_autocast_is_the_same_with_either_cache(dtype, small_model):
    prompt = torch.randint(0, 97, (2, 4), generator=torch.Generator().manual_seed(5))
    with dev.autocast("cpu", dtype):
        dynamic = small_model.generate(prompt, max_new_tokens=12)
        static = small_model.generate(prompt, max_new_tokens=12, static_cache=True)
        uncached = small_model.generate(prompt, max_new_tokens=12, use_kv_cache=False)
    assert torch.equal(dynamic, static)
    assert torch.equal(dynamic[:, :6], uncached[:, :6])  # half-precision rounding may differ later on


def test_flops_per_token_by_hand():
    """1 layer, d_model 4, 1 head, d_mlp 16, vocab 10, 8 positions, tied embeddings."""
    cfg = GPTConfig(n_layers=1, d_model=4, n_heads=1, d_vocab=10, n_ctx=8)
    attn = 3 * (4 * 4 + 4) + 4 * 4 + 4  # W_Q, W_K, W_V with biases; W_O, b_O
    mlp = 4 * 16 + 16 + 16 * 4 + 4
    n = attn + mlp + 4 * 4 + 2 * 4 + 10 * 4  # + 2 LayerNorms, ln_final, W_E (W_pos not counted)
    assert n == sum(p.numel() for p in GPT(cfg).parameters()) - 8 * 4
    assert dev.flops_per_token(cfg) == 6 * n + 12 * 1 * 1 * 4 * 8
    assert dev.flops_per_token(cfg, seq_len=2) == 6 * n + 12 * 4 * 2


def test_peak_flops_table_and_mfu():
    assert dev.peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert dev.peak_flops("NVIDIA H100 PCIe") == 756e12
    assert dev.peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert dev.peak_flops("NVIDIA A10") == 125e12 and dev.peak_flops("NVIDIA A10G") is None
    assert dev.peak_flops("Tesla T4", "fp16") == 65e12 and dev.peak_flops("Tesla T4", "bf16") is None
    assert dev.peak_flops("NVIDIA H100 80GB HBM3", torch.float32) is None
    cfg = GPTConfig.from_name("gpt2")
    assert dev.mfu(1e5, cfg, 1024, "an unknown card") is None
    assert dev.mfu(1e5, cfg, 1024, "NVIDIA H100 80GB HBM3") == pytest.approx(1e5 * dev.flops_per_token(cfg) / 989e12)
