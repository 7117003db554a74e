"""LayerNormPre: LayerNorm without weights, with the same hook points and fast/hooked paths."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import small_config
from minigpt import GPT
from minigpt.components import LayerNorm, LayerNormPre
from minigpt.components.block import make_norm
from minigpt.functional import layer_norm


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(0)) * 3 + 1  # [batch pos d_model]


def test_centres_and_normalises_without_weights(x):
    ln = LayerNormPre(8, eps=1e-5)
    assert list(ln.parameters()) == []
    out = ln(x)
    torch.testing.assert_close(out, layer_norm(x, torch.ones(8), torch.zeros(8), 1e-5))
    torch.testing.assert_close(out.mean(-1), torch.zeros(2, 5), atol=1e-6, rtol=0)
    torch.testing.assert_close(out.pow(2).mean(-1), torch.ones(2, 5), atol=1e-4, rtol=0)


def test_hand_checked_case():
    out = LayerNormPre(2, eps=0.0)(torch.tensor([[[1.0, 3.0]]]))  # mean 2, variance 1
    assert out.tolist() == [[[-1.0, 1.0]]]


def test_hooked_path_reads_and_replaces_the_scale(x):
    ln = LayerNormPre(8)
    ln.hook_scale.name, ln.hook_normalized.name = "hook_scale", "hook_normalized"
    fast = ln(x)
    seen = {}
    ln.hook_scale.add_hook(lambda s, hook: seen.update(scale=s.clone()))  # returns None: reads only
    ln.hook_normalized.add_hook(lambda n, hook: seen.update(normalized=n.clone()))
    torch.testing.assert_close(ln(x), fast)
    torch.testing.assert_close(seen["normalized"], fast)
    torch.testing.assert_close(seen["scale"], (x.var(-1, keepdim=True, unbiased=False) + ln.eps).sqrt())
    for in_place in (False, True):  # a hook that freezes the scale, by returning a new one or in place
        def freeze(scale, hook):
            if in_place:
                scale.fill_(2.0)
                return None
            return torch.full_like(scale, 2.0)

        ln.hook_scale.remove_hooks()
        ln.hook_scale.add_hook(freeze)
        torch.testing.assert_close(ln(x), (x - x.mean(-1, keepdim=True)) / 2.0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("hooked", [False, True])
def test_half_precision_statistics_in_fp32(x, dtype, hooked):
    ln = LayerNormPre(8)
    if hooked:
        ln.hook_scale.add_hook(lambda s, hook: None)
    inp = (x + 100).to(dtype)  # a large mean: half-precision statistics would lose the variance
    out = ln(inp)
    assert out.dtype == dtype
    expected = LayerNormPre(8)(inp.float())
    torch.testing.assert_close(out.float(), expected, atol=2e-2, rtol=2e-2)


def test_make_norm_and_a_model_with_lnpre():
    assert isinstance(make_norm(small_config()), LayerNorm)
    assert isinstance(make_norm(small_config(normalization_type="LNPre")), LayerNormPre)
    assert isinstance(make_norm(small_config(normalization_type=None)), torch.nn.Identity)
    model = GPT(small_config(normalization_type="LNPre"))
    assert isinstance(model.ln_final, LayerNormPre) and isinstance(model.blocks[1].ln2, LayerNormPre)
    assert model.n_params() == model.cfg.n_params_non_embedding  # no LayerNorm weights counted
    assert "blocks.0.ln1.hook_scale" in model.hook_names()
    assert model(torch.tensor([[1, 2, 3]])).shape == (1, 3, 97)


@pytest.mark.parametrize("per_head", [False, True], ids=["batch pos d_model", "batch pos n_heads d_model"])
def test_hook_normalized_holds_the_input_normalised_before_w_and_b(x, per_head):
    """TransformerLens's semantics: hook_normalized = (x - mean) / scale; the output = normalized * w + b."""
    ln = LayerNorm(8)
    with torch.no_grad():
        ln.w.copy_(torch.linspace(0.5, 2.0, 8))
        ln.b.copy_(torch.linspace(-1.0, 1.0, 8))
    inp = x.unsqueeze(2).expand(-1, -1, 3, -1) * torch.tensor([1.0, 2.0, 3.0])[:, None] if per_head else x
    fast = ln(inp)
    seen = {}
    ln.hook_normalized.add_hook(lambda n, hook: seen.update(normalized=n.clone()))
    ln.hook_scale.add_hook(lambda s, hook: seen.update(scale=s.clone()))
    out = ln(inp)
    expected = (inp - inp.mean(-1, keepdim=True)) / (inp.var(-1, keepdim=True, unbiased=False) + ln.eps).sqrt()
    torch.testing.assert_close(seen["normalized"], expected)
    assert seen["scale"].shape == (*inp.shape[:-1], 1)
    torch.testing.assert_close(out, expected * ln.w + ln.b)
    torch.testing.assert_close(out, fast)
