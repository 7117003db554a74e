"""Composition scores equal the formula on dense matrices; the planted induction head K-composes."""

from __future__ import annotations

import pytest
import torch

from minigpt import GPT, GPTConfig
from minigpt.interp import FactoredMatrix, composition_baseline, composition_score, composition_scores
from tests.interp.planted_heads import planted_model  # noqa: F401, F811  (fixtures)


def _score(W_A, W_B):
    return torch.linalg.norm(W_A @ W_B) / (torch.linalg.norm(W_A) * torch.linalg.norm(W_B))


def test_factored_score_equals_dense():
    gen = torch.Generator().manual_seed(0)
    L1, R1, L2, R2 = (torch.randn(*s, generator=gen, dtype=torch.float64) for s in [(8, 2), (2, 8), (8, 3), (3, 8)])
    got = composition_score(FactoredMatrix(L1, R1), FactoredMatrix(L2, R2))
    torch.testing.assert_close(got, _score(L1 @ R1, L2 @ R2))
    torch.testing.assert_close(composition_score(L1 @ R1, L2 @ R2), got)


@pytest.mark.parametrize("kind", ["Q", "K", "V"])
def test_model_scores_equal_a_direct_loop(kind):
    model = GPT(GPTConfig(n_layers=2, d_model=16, n_heads=2, d_vocab=10, n_ctx=8, attn_only=True,
                          normalization_type=None, seed=4))
    a, b = model.blocks[0].attn, model.blocks[1].attn
    got = composition_scores(model, kind)
    assert got.shape == (2, 2)
    for i in range(2):
        OV = (a.W_V[i] @ a.W_O[i]).detach()
        for j in range(2):
            QK = (b.W_Q[j] @ b.W_K[j].T).detach()
            W_B = {"Q": QK, "K": QK.T, "V": (b.W_V[j] @ b.W_O[j]).detach()}[kind]
            torch.testing.assert_close(got[i, j], _score(OV, W_B))


def test_planted_induction_head_k_composes_with_the_previous_token_head(planted_model):
    k = composition_scores(planted_model, "K")
    assert k[0, 0] > 0.3  # L0H0 (previous token) -> L1H0 (induction) keys
    assert k[1].abs().max() == 0 and k[:, 1].abs().max() == 0  # L0H1 writes nothing; L1H1 reads nothing
    assert composition_scores(planted_model, "Q")[0, 0] == 0  # the induction head's queries read the token only


def test_baseline_is_reproducible_and_shrinks_with_width():
    mean, std = composition_baseline(64, 16, n_samples=100)
    assert (mean, std) == composition_baseline(64, 16, n_samples=100)
    assert 0 < std < mean < 1
    assert composition_baseline(256, 16, n_samples=100)[0] < mean
    with pytest.raises(ValueError, match="kind"):
        composition_scores(None, "X")
