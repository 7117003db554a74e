"""Queries, keys and attention scores split by component: the parts sum to what the forward pass computed."""

from __future__ import annotations

import pytest
import torch

from minigpt import GPT
from minigpt.interp import copying_score, decompose_attn_scores, decompose_qk, residual_stack
from tests.interp.test_attribution import _model as attribution_model

CONFIGS = {
    "attn-only, no LN": dict(attn_only=True, normalization_type=None),
    "attn-only, LN": dict(attn_only=True),
    "MLPs, LN": dict(),
    "MLPs, LNPre": dict(normalization_type="LNPre"),
}


def _model(**kw) -> GPT:
    """test_attribution's model (biases, LayerNorm weights perturbed), with query and key biases too."""
    model = attribution_model(**kw)
    with torch.no_grad():
        for attn in (block.attn for block in model.blocks):
            attn.b_Q.add_(torch.randn_like(attn.b_Q) * 0.3)
            attn.b_K.add_(torch.randn_like(attn.b_K) * 0.3)
    return model


@pytest.mark.parametrize("kw", CONFIGS.values(), ids=CONFIGS.keys())
def test_parts_sum_to_the_queries_keys_and_scores(kw):
    model = _model(**kw)
    tokens = torch.randint(0, 40, (2, 10), generator=torch.Generator().manual_seed(0))
    _, cache = model.run_with_cache(tokens)
    stack, labels = residual_stack(model, cache, layer=1)
    torch.testing.assert_close(stack.sum(0), cache["resid_pre", 1], atol=1e-5, rtol=1e-5)
    q, q_labels = decompose_qk(model, cache, 1, head=3, kind="q")
    k, _ = decompose_qk(model, cache, 1, head=3, kind="k")
    assert q_labels == labels + ["bias"] and q.shape == (len(labels) + 1, 2, 10, model.cfg.d_head)
    torch.testing.assert_close(q.sum(0), cache["q", 1][:, :, 3], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(k.sum(0), cache["k", 1][:, :, 3], atol=1e-4, rtol=1e-4)
    scores = decompose_attn_scores(q, k, model.cfg.attn_scale).sum(dim=(0, 1))
    causal = torch.ones(10, 10, dtype=torch.bool).tril()
    want = cache["attn_scores", 1][:, 3]
    torch.testing.assert_close(scores[:, causal], want[:, causal], atol=1e-4, rtol=1e-4)


def test_residual_stack_of_layer_zero_is_the_embeddings_and_bad_layers_raise():
    model = _model()
    _, cache = model.run_with_cache(torch.tensor([[1, 2, 3]]))
    assert residual_stack(model, cache, layer=0)[1] == ["embed", "pos_embed"]
    with pytest.raises(IndexError, match="0..2"):
        residual_stack(model, cache, layer=3)
    with pytest.raises(ValueError, match="'q' or 'k'"):
        decompose_qk(model, cache, 1, 0, kind="v")


def test_copying_score_by_hand():
    assert copying_score(torch.diag(torch.tensor([3.0, 1.0, -1.0]))).item() == pytest.approx(3 / 5)
    rotation = torch.tensor([[0.0, -1.0], [1.0, 0.0]])  # eigenvalues ±i: no copying, no suppression
    assert copying_score(rotation).item() == pytest.approx(0.0, abs=1e-7)
