"""Direct logit attribution: the parts sum to the correct-token logit, for every kind of model."""

from __future__ import annotations

import pytest
import torch

from minigpt import GPT, GPTConfig
from minigpt.interp import head_attribution, logit_attribution, repeat_positions, residual_stack
from tests.interp.planted_heads import planted_model, planted_tokens  # noqa: F401, F811  (fixtures)

CONFIGS = {
    "attn-only, no LN": dict(attn_only=True, normalization_type=None),
    "attn-only, LN": dict(attn_only=True),
    "MLPs, LN, untied, b_U": dict(tie_embeddings=False, unembed_bias=True),
    "MLPs, LNPre": dict(normalization_type="LNPre"),
}


def _model(**kw) -> GPT:
    model = GPT(GPTConfig(n_layers=2, d_model=32, n_heads=4, d_vocab=40, n_ctx=16, seed=5, **kw)).eval()
    with torch.no_grad():  # non-zero biases and LayerNorm weights, so that a missed term shows
        for name, p in model.named_parameters():
            if name.split(".")[-1] in ("b_O", "b_U", "b", "b_in", "b_out"):
                p.add_(torch.randn_like(p) * 0.3)
            elif name.endswith(".w"):
                p.add_(torch.rand_like(p))
    return model


@pytest.mark.parametrize("kw", CONFIGS.values(), ids=CONFIGS.keys())
def test_attributions_sum_to_the_correct_token_logit(kw):
    model = _model(**kw)
    tokens = torch.randint(0, 40, (3, 12), generator=torch.Generator().manual_seed(0))
    values, labels = logit_attribution(model, tokens)
    n_comp = 1 + 1 + 2 * 4 + 2 + (0 if kw.get("attn_only") else 2) + 1
    assert values.shape == (n_comp, 3, 11) and len(labels) == n_comp and labels[-1] == "bias"
    logits = model(tokens)
    want = logits[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]
    torch.testing.assert_close(values.sum(0), want, atol=1e-4, rtol=1e-4)


def test_residual_stack_sums_to_the_final_residual():
    model = _model()
    tokens = torch.randint(0, 40, (2, 9), generator=torch.Generator().manual_seed(1))
    _, cache = model.run_with_cache(tokens)
    stack, labels = residual_stack(model, cache)
    assert labels[:3] == ["embed", "pos_embed", "L0H0"] and "MLP1" in labels and "b_O0" in labels
    torch.testing.assert_close(stack.sum(0), cache["resid_post", -1], atol=1e-5, rtol=1e-5)


def test_one_head_by_hand():
    model = _model(attn_only=True, normalization_type=None)
    tokens = torch.randint(0, 40, (1, 6), generator=torch.Generator().manual_seed(2))
    _, cache = model.run_with_cache(tokens)
    values, labels = logit_attribution(model, tokens)
    z = cache["z", 1][0, :, 2]  # [pos d_head] of L1H2
    by_hand = torch.stack([z[p] @ model.blocks[1].attn.W_O[2] @ model.W_U[:, tokens[0, p + 1]] for p in range(5)])
    torch.testing.assert_close(values[labels.index("L1H2"), 0], by_hand.detach())


def test_planted_induction_head_gets_the_credit(planted_model, planted_tokens):
    table = head_attribution(planted_model, planted_tokens, positions=repeat_positions(planted_tokens.shape[1]))
    assert table.shape == (2, 2)
    assert table[1, 0] > 9.0 and table.flatten()[[0, 1, 3]].abs().max() < 1e-6  # only it writes to the logits
