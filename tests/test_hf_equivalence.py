"""The forward pass equals Hugging Face's GPT2LMHeadModel on the same weights (fp32, CPU)."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import hf_twin
from minigpt.weights.hf_map import minigpt_to_hf

GEOMETRIES = {
    "gpt2": dict(n_layer=12, n_embd=768, n_head=12, n_positions=1024, vocab_size=50257),
    "odd-3l-6h-192": dict(n_layer=3, n_embd=192, n_head=6, n_positions=77, vocab_size=1000),
    "tiny-1l-1h": dict(n_layer=1, n_embd=8, n_head=1, n_positions=5, vocab_size=11),
    "untied-relu-odd-mlp": dict(
        n_layer=2, n_embd=60, n_head=5, n_positions=33, vocab_size=301,
        n_inner=100, activation_function="relu", tie_word_embeddings=False,
    ),
}


@pytest.mark.parametrize("geometry", list(GEOMETRIES))
@pytest.mark.parametrize("kernel", ["naive", "sdpa", "online"])
def test_logits_match_transformers(geometry, kernel):
    hf, ours = hf_twin(**GEOMETRIES[geometry])
    ours.set_attention(kernel)
    g = torch.Generator().manual_seed(0)
    n_ctx, vocab = ours.cfg.n_ctx, ours.cfg.d_vocab
    pos = min(n_ctx, 64)
    tokens = torch.randint(0, vocab, (2, pos), generator=g)
    with torch.no_grad():
        expected = hf(tokens).logits
        got = ours(tokens)
        assert got.shape == expected.shape
        assert (got - expected).abs().max().item() <= 1e-4
        # the loss agrees too (HF shifts the labels itself)
        assert ours(tokens, return_type="loss").item() == pytest.approx(
            hf(tokens, labels=tokens).loss.item(), abs=1e-5
        )


def test_full_context_odd_geometry():
    hf, ours = hf_twin(**GEOMETRIES["odd-3l-6h-192"])
    tokens = torch.randint(0, 1000, (1, 77), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert (ours(tokens) - hf(tokens).logits).abs().max().item() <= 1e-4


@pytest.mark.parametrize("geometry", ["odd-3l-6h-192", "untied-relu-odd-mlp"])
def test_state_dict_round_trip(geometry):
    hf, ours = hf_twin(**GEOMETRIES[geometry])
    exported = minigpt_to_hf(ours.state_dict(), ours.cfg)
    original = hf.state_dict()
    for key, value in exported.items():
        assert torch.equal(value, original[key]), key
    assert set(original) == set(exported)


def test_hub_layout_without_prefix_or_lm_head():
    """The hub's gpt2 files: GPT2Model keys, no lm_head, causal-mask buffers present."""
    from minigpt import GPT
    from minigpt.weights.hf_map import load_hf_state_dict

    hf, ours = hf_twin(**GEOMETRIES["odd-3l-6h-192"])
    hub_sd = {k.removeprefix("transformer."): v for k, v in hf.state_dict().items() if k != "lm_head.weight"}
    for L in range(3):
        hub_sd[f"h.{L}.attn.bias"] = torch.tril(torch.ones(1, 1, 77, 77))
        hub_sd[f"h.{L}.attn.masked_bias"] = torch.tensor(-1e4)
    fresh = GPT(ours.cfg).eval()
    load_hf_state_dict(fresh, hub_sd)
    tokens = torch.randint(0, 1000, (1, 20))
    with torch.no_grad():
        assert torch.allclose(fresh(tokens), hf(tokens).logits, atol=1e-4)
