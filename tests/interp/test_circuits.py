"""QK/OV circuits equal the dense weight products, and read the planted heads' jobs off the weights."""

from __future__ import annotations

import pytest
import torch

from minigpt import GPT, GPTConfig
from minigpt.interp import (FactoredMatrix, full_ov_circuit, full_qk_circuit, k_composition_circuit, ov_circuit,
                            pos_qk_circuit, qk_circuit, top1_accuracy)
from tests.interp.planted_heads import BIG, D_VOCAB, N_CTX, planted_model  # noqa: F401, F811  (fixtures)

close = torch.testing.assert_close


@pytest.fixture(scope="module")
def model():
    cfg = GPTConfig(n_layers=2, d_model=24, n_heads=3, d_vocab=20, n_ctx=10, attn_only=True,
                    normalization_type=None, seed=3)
    return GPT(cfg).eval()


def test_circuits_equal_dense_products(model):
    W_E, W_pos, W_U = model.W_E.detach(), model.W_pos.detach(), model.W_U.detach()
    for layer in range(2):
        a = model.blocks[layer].attn
        W_Q, W_K, W_V, W_O = (w.detach() for w in (a.W_Q, a.W_K, a.W_V, a.W_O))
        for head in range(3):
            close(ov_circuit(model, layer, head).AB, W_V[head] @ W_O[head])
            close(qk_circuit(model, layer, head).AB, W_Q[head] @ W_K[head].T)
            close(full_ov_circuit(model, layer, head).AB, W_E @ W_V[head] @ W_O[head] @ W_U)
            close(full_qk_circuit(model, layer, head).AB, W_E @ W_Q[head] @ W_K[head].T @ W_E.T)
            close(pos_qk_circuit(model, layer, head).AB, W_pos @ W_Q[head] @ W_K[head].T @ W_pos.T)
        all_heads = full_ov_circuit(model, layer)
        assert isinstance(all_heads, FactoredMatrix) and all_heads.shape == (3, 20, 20)
        close(all_heads.AB, W_E @ W_V @ W_O @ W_U)
    a0, a1 = model.blocks[0].attn, model.blocks[1].attn
    moved = model.W_E @ a0.W_V[2] @ a0.W_O[2]
    close(k_composition_circuit(model, 1, 1, 0, 2).AB, (model.W_E @ a1.W_Q[1] @ a1.W_K[1].T @ moved.T).detach())


def test_layer_norm_weights_are_folded_in():
    cfg = GPTConfig(n_layers=1, d_model=16, n_heads=2, d_vocab=12, n_ctx=8, attn_only=True, seed=0)
    model = GPT(cfg).eval()
    with torch.no_grad():
        for ln in (model.blocks[0].ln1, model.ln_final):
            ln.w.copy_(torch.rand(16) + 0.5)
    a, w1, wf = model.blocks[0].attn, model.blocks[0].ln1.w, model.ln_final.w
    want = model.W_E @ (w1[:, None] * a.W_V[1]) @ a.W_O[1] @ (wf[:, None] * model.W_U)
    close(full_ov_circuit(model, 0, 1).AB, want.detach())


def test_planted_heads_read_off_the_weights(planted_model):
    assert top1_accuracy(full_ov_circuit(planted_model, 1, 0)) == 1.0  # the induction head copies
    close(full_ov_circuit(planted_model, 1, 0).AB, 10 * torch.eye(D_VOCAB))
    # the previous-token head's positional QK circuit: a stripe one below the diagonal
    close(pos_qk_circuit(planted_model, 0, 0).AB, BIG * torch.diag(torch.ones(N_CTX - 1), -1))
    # the induction head's keys match the token the previous-token head moved
    kcomp = k_composition_circuit(planted_model, 1, 0, prev_layer=0, prev_head=0)
    close(kcomp.AB, BIG * torch.eye(D_VOCAB))
    both = top1_accuracy(k_composition_circuit(planted_model, 1, None, 0, 0))  # L1H1 is all zeros: chance
    assert both.tolist() == [1.0, 1 / D_VOCAB]


def test_top1_accuracy_factored_equals_dense():
    gen = torch.Generator().manual_seed(0)
    A, B = torch.randn(2, 30, 16, generator=gen), torch.randn(2, 16, 30, generator=gen)
    B[0] += 3 * A[0].T  # head 0: a strong diagonal
    M = FactoredMatrix(A, B)
    dense = top1_accuracy(M.AB)
    close(top1_accuracy(M, rows_per_chunk=7), dense)
    assert dense[0] > 0.8 and dense[1] < 0.3
    with pytest.raises(ValueError, match="square"):
        top1_accuracy(torch.zeros(3, 4))
