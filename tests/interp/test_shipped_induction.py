"""The shipped ``induction-2l`` checkpoint, as the interp tools see it: the circuit chapter 3 teaches is there."""

from __future__ import annotations

import pytest
import torch

from minigpt.checkpoints import list_checkpoints, load_checkpoint
from minigpt.data import repeated_tokens
from minigpt.interp import (ablate_heads, composition_baseline, composition_scores, full_ov_circuit, head_scores,
                            k_composition_circuit, per_token_loss, repeat_loss, top1_accuracy)

NAME = "induction-2l"
pytestmark = pytest.mark.skipif(NAME not in list_checkpoints(), reason=f"{NAME} is not shipped yet")


@pytest.fixture(scope="module")
def model():
    return load_checkpoint(NAME)


@pytest.fixture(scope="module")
def tokens(model):
    seq_len = (model.cfg.n_ctx - 1) // 2
    return repeated_tokens(16, seq_len, model.cfg.d_vocab, seed=0, bos=model.cfg.bos_token_id)


@pytest.fixture(scope="module")
def heads(model, tokens):
    induction = head_scores(model, "induction", tokens)
    previous = head_scores(model, "previous_token", tokens)
    return {"induction": induction, "previous": previous,
            "IND": int(induction[1].argmax()), "PREV": int(previous[0].argmax())}


def test_detectors_find_the_circuit(heads):
    induction, previous = heads["induction"], heads["previous"]
    assert induction[1].max() >= 0.8, induction  # an induction head in layer 1
    assert previous[0].max() >= 0.5, previous  # a previous-token head in layer 0
    assert induction[0].max() < 0.3 and previous[1].max() < 0.5  # ... and not the other way round


def test_ablating_the_induction_heads_breaks_the_repeat_and_an_unrelated_head_does_not(model, tokens, heads):
    clean = repeat_loss(per_token_loss(model, tokens))
    assert clean < 1.5

    def rise(ablated):
        return float(repeat_loss(ablate_heads(model, tokens, ablated)) - clean)

    n_heads = model.cfg.n_heads
    induction_heads = [(1, h) for h in range(n_heads) if heads["induction"][1, h] > 0.4]
    assert rise(induction_heads) > 2.5  # back to (nearly) guessing: log(128) = 4.85
    assert rise([(1, heads["IND"])]) > 0.3  # the best one alone (others back it up)
    assert rise([(0, heads["PREV"])]) > 1.0  # the induction heads need the previous-token head
    rises = {(layer, h): rise([(layer, h)]) for layer in range(2) for h in range(n_heads)}
    unrelated = min(rises, key=lambda k: abs(rises[k]))
    assert unrelated not in induction_heads and unrelated != (0, heads["PREV"])
    assert abs(rises[unrelated]) < 0.05 * rise(induction_heads), rises


def test_the_induction_head_copies_and_matches_the_previous_token(model, heads):
    ov = full_ov_circuit(model, 1, heads["IND"])
    torch.testing.assert_close(top1_accuracy(ov), top1_accuracy(ov.AB))  # factored == dense
    assert top1_accuracy(ov) > 0.7
    kcomp = k_composition_circuit(model, 1, heads["IND"], 0, heads["PREV"])
    assert top1_accuracy(kcomp) > 0.7


def test_k_composition_stands_out_from_chance(model, heads):
    mean, std = composition_baseline(model.cfg.d_model, model.cfg.d_head)
    k = composition_scores(model, "K")[heads["PREV"], heads["IND"]]
    assert k > mean + 5 * std, (k, mean, std)


def test_factored_circuits_equal_dense_on_the_shipped_weights(model):
    ov = full_ov_circuit(model, 1)  # [n_heads d_vocab d_vocab], factored
    dense = ov.AB
    torch.testing.assert_close(ov.norm(), torch.linalg.matrix_norm(dense), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ov.S, torch.linalg.svdvals(dense)[..., : ov.mdim], rtol=1e-3, atol=1e-3)
