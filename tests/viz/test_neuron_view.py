"""The neuron view without a browser: its q, k, scores and softmax are the model's own, scale and mask included."""

from __future__ import annotations

import pytest
import torch

from minigpt import GPT, GPTConfig
from minigpt.checkpoints import load_checkpoint
from minigpt.viz import neuron_view
from minigpt.viz.neuron_view import score_parts
from tests.viz.test_html import assert_self_contained, payload

torch.set_num_threads(1)
TEXT = "def f(x):\n    return x + 1\n"


@pytest.fixture(scope="module")
def model() -> GPT:
    return load_checkpoint("stdlib-bytes").eval()


def cached(model, tokens, layer):
    names = [f"blocks.{layer}.attn.hook_{n}" for n in ("q", "k", "attn_scores", "pattern")]
    _, cache = model.run_with_cache(tokens[None], names_filter=names)
    return [cache[n][0] for n in names]


def test_score_parts_equal_the_models_hooks_in_every_head(model):
    tokens = model.to_tokens(TEXT)[0]
    for layer in range(model.cfg.n_layers):
        q, k, scores, pattern = cached(model, tokens, layer)
        for head in range(model.cfg.n_heads):
            parts = score_parts(model, TEXT, layer, head)
            torch.testing.assert_close(parts.q, q[:, head], atol=1e-5, rtol=1e-5)   # no_grad's in-place GELU: 1e-6 off
            torch.testing.assert_close(parts.k, k[:, head], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(parts.scores, scores[head], atol=1e-5, rtol=1e-5)   # -inf where masked
            torch.testing.assert_close(parts.pattern, pattern[head], atol=1e-6, rtol=1e-5)
            row = parts.products(5).sum(-1) / model.cfg.attn_scale         # q_5 ∘ k_j summed: the scores of query 5
            torch.testing.assert_close(row[:6], scores[head, 5, :6], atol=1e-5, rtol=1e-5)
    assert parts.str_tokens == model.to_str_tokens(TEXT)


def test_a_non_default_attn_scale_is_the_models():
    """attn_scale 2.0 (not sqrt(d_head) = 4): a view that assumed sqrt(d_head) would be off by 2x."""
    model = GPT(GPTConfig(n_layers=1, d_model=32, n_heads=2, d_vocab=256, n_ctx=16, tokenizer="bytes",
                          bos_token_id=0, attn_scale=2.0, seed=0)).eval()
    tokens = torch.tensor([0, 5, 9, 3, 7])
    parts = score_parts(model, tokens, 0, 1)
    _, _, scores, pattern = cached(model, tokens, 0)
    torch.testing.assert_close(parts.scores, scores[1])
    torch.testing.assert_close(parts.pattern, pattern[1])
    assert neuron_view(model, tokens, 0, 1).payload["scale"] == 2.0


def test_payload_carries_q_and_k_to_eight_digits(model):
    view = neuron_view(model, TEXT, layer=1, head=2)
    assert_self_contained(view.html)
    data = payload(view)
    parts = score_parts(model, TEXT, 1, 2)
    assert data["tokens"] == parts.str_tokens and data["d_head"] == model.cfg.d_head
    assert data["scale"] == pytest.approx(model.cfg.attn_scale)
    torch.testing.assert_close(torch.tensor(data["q"]), parts.q, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(torch.tensor(data["k"]), parts.k, rtol=1e-7, atol=1e-9)
    last = len(parts.str_tokens) - 1
    assert data["query"] == last and data["key"] == int(parts.pattern[last].argmax())
    assert neuron_view(model, TEXT, 1, 2, query=3, key=1).payload["query"] == 3
    assert len(view) < 200_000, f"{len(view)} bytes for {len(parts.str_tokens)} tokens"


@pytest.mark.parametrize("kwargs, match", [
    (dict(layer=2, head=0), "out of range for 2 layers x 4 heads"),
    (dict(layer=0, head=4), "out of range"),
    (dict(layer=0, head=0, query=99), "query 99 is out of range"),
    (dict(layer=0, head=0, query=3, key=4), "causal mask"),
])
def test_errors_say_what_is_allowed(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        neuron_view(model, "abc", **kwargs)
