"""The pure functions and the weight layout behind the fast GEMM path."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

import minigpt.functional as mf
from minigpt import GPT
from tests.helpers import small_config


def test_layer_norm_and_gelu_match_torch():
    x = torch.randn(3, 5, 16)
    w, b = torch.randn(16), torch.randn(16)
    torch.testing.assert_close(mf.layer_norm(x, w, b, 1e-5), F.layer_norm(x, (16,), w, b, 1e-5))
    torch.testing.assert_close(mf.gelu_new(x), F.gelu(x, approximate="tanh"))
    for name in ("gelu_new", "gelu", "relu", "silu"):
        torch.testing.assert_close(mf.activation_(name)(x.clone()), mf.activation(name)(x))


def test_the_fused_kernels_compute_the_maths_written_out():
    """``layer_norm`` and ``gelu_new`` call torch's kernels; here is the maths they stand for."""
    x = torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(0)) * 3 + 1
    w, b = torch.randn(16), torch.randn(16)
    mean, scale = mf.mean_and_scale(x, 1e-5)
    torch.testing.assert_close(mean, x.sum(-1, keepdim=True) / 16)
    torch.testing.assert_close(scale, (((x - mean) ** 2).sum(-1, keepdim=True) / 16 + 1e-5).sqrt())
    torch.testing.assert_close(mf.normalize(x, mean, scale, w, b), (x - mean) / scale * w + b)
    torch.testing.assert_close(mf.layer_norm(x, w, b, 1e-5), mf.normalize(x, mean, scale, w, b))
    torch.testing.assert_close(mf.layer_norm(x), mf.normalize(x, mean, scale), atol=1e-5, rtol=1e-5)
    tanh_formula = 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))
    torch.testing.assert_close(mf.gelu_new(x), tanh_formula)
    torch.testing.assert_close(mf.gelu_new_(x.clone()), tanh_formula)


def test_the_modules_call_the_functions(monkeypatch):
    """The components are thin wrappers: swapping a function changes the module."""
    import minigpt.components.layer_norm as ln_module
    from minigpt.components import MLP, LayerNorm

    calls = []

    def spy(fn):
        def wrapped(*args, **kwargs):
            calls.append(fn.__name__)
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(ln_module, "layer_norm", spy(mf.layer_norm))
    LayerNorm(8)(torch.randn(2, 8))
    mlp = MLP(small_config(act_fn="gelu_new"))
    assert mlp.act is mf.gelu_new and mlp.act_ is mf.gelu_new_
    assert calls == ["layer_norm"]


@pytest.mark.parametrize("rows", [1, 5, 64])
def test_linear_fast_path_equals_f_linear(rows, monkeypatch):
    g = torch.Generator().manual_seed(0)
    x, weight, bias = torch.randn(rows, 48, generator=g), torch.randn(80, 48, generator=g), torch.randn(80, generator=g)
    with torch.no_grad():
        fast = mf.linear(x, weight, bias)
        monkeypatch.setattr(mf, "USE_ONEDNN", False)
        slow = mf.linear(x, weight, bias)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(slow, x @ weight.T + bias)


def test_fast_path_is_taken_only_without_autograd():
    x, w = torch.randn(4, 8), torch.randn(6, 8, requires_grad=True)
    assert not mf._onednn_ok(x, w)  # grad needed: F.linear, which autograd knows
    with torch.no_grad():
        assert mf._onednn_ok(x, w) == (mf.USE_ONEDNN and torch.backends.mkldnn.is_available())
        assert not mf._onednn_ok(x.double(), w.double())


def test_model_equal_with_and_without_fast_path(small_model, tokens, monkeypatch):
    with torch.no_grad():
        fast = small_model(tokens)
        monkeypatch.setattr(mf, "USE_ONEDNN", False)
        slow = small_model(tokens)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    grad_logits = small_model(tokens)  # with autograd: the F.linear path
    torch.testing.assert_close(grad_logits.detach(), slow)


def test_weights_are_stored_as_linear_weights_and_keep_that_layout():
    model = GPT(small_config())
    attn, mlp = model.blocks[0].attn, model.blocks[0].mlp
    h, d, e = attn.W_Q.shape
    assert attn.W_Q.transpose(1, 2).reshape(h * e, d).data_ptr() == attn.W_Q.data_ptr()
    assert attn.W_Q.transpose(1, 2).is_contiguous() and attn.W_O.permute(2, 0, 1).is_contiguous()
    assert mlp.W_in.T.is_contiguous() and mlp.W_out.T.is_contiguous()
    for moved in (model.to(torch.float64), copy.deepcopy(model)):
        m = moved.blocks[0]
        assert m.attn.W_Q.transpose(1, 2).is_contiguous() and m.mlp.W_in.T.is_contiguous()
    # a parameter replaced by a contiguous one gives the same numbers
    model = GPT(small_config()).eval()
    tokens = torch.randint(0, 97, (2, 9))
    with torch.no_grad():
        ref = model(tokens)
        model.blocks[0].mlp.W_in = torch.nn.Parameter(model.blocks[0].mlp.W_in.detach().contiguous())
        model.blocks[1].attn.W_K = torch.nn.Parameter(model.blocks[1].attn.W_K.detach().contiguous())
        torch.testing.assert_close(model(tokens), ref)
