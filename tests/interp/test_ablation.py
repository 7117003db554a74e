"""Ablation: the hooks equal editing the weights, and the planted induction head is the one that matters."""

from __future__ import annotations

import copy

import pytest
import torch

from minigpt import GPT, GPTConfig
from minigpt.interp import (ablate_heads, ablation_hooks, ablation_scores, mean_ablation_hook, per_token_loss,
                            repeat_loss, repeat_positions, zero_ablation_hook)
from tests.interp.planted_heads import planted_model, planted_tokens  # noqa: F401, F811  (fixtures)


@pytest.fixture(scope="module")
def model():
    return GPT(GPTConfig(n_layers=2, d_model=32, n_heads=4, d_vocab=30, n_ctx=16, seed=7)).eval()


@pytest.fixture(scope="module")
def tokens():
    return torch.randint(0, 30, (4, 12), generator=torch.Generator().manual_seed(0))


def test_zero_ablation_equals_zeroing_w_o(model, tokens):
    edited = copy.deepcopy(model)
    with torch.no_grad():
        edited.blocks[1].attn.W_O[2].zero_()
        edited.blocks[0].attn.W_O[0].zero_()
    torch.testing.assert_close(ablate_heads(model, tokens, [(1, 2), (0, 0)]), per_token_loss(edited, tokens))


def test_hooks_change_only_their_head():
    z = torch.randn(3, 5, 4, 6)
    zeroed = zero_ablation_hook(1)(z)
    assert (zeroed[:, :, 1] == 0).all() and torch.equal(zeroed[:, :, [0, 2, 3]], z[:, :, [0, 2, 3]])
    meaned = mean_ablation_hook(2)(z)
    torch.testing.assert_close(meaned[:, :, 2], z[:, :, 2].mean(0, keepdim=True).expand(3, 5, 6))
    given = mean_ablation_hook([0, 3], mean=torch.ones(6))(z)
    assert (given[:, :, [0, 3]] == 1).all() and torch.equal(given[:, :, 1], z[:, :, 1])
    assert not torch.equal(zeroed, z)  # the hook works on a copy
    assert [name for name, _ in ablation_hooks([(1, 0), (0, 2), (1, 3)])] == ["blocks.0.attn.hook_z",
                                                                            "blocks.1.attn.hook_z"]


def test_mean_ablation_of_a_batch_of_one_changes_nothing(model, tokens):
    one = tokens[:1]
    torch.testing.assert_close(ablate_heads(model, one, [(0, 1)], kind="mean"), per_token_loss(model, one))


def test_ablation_scores_equal_a_direct_loop(model, tokens):
    scores = ablation_scores(model, tokens, kind="mean")
    clean = per_token_loss(model, tokens).mean()
    for layer in range(2):
        for head in range(4):
            hooked = model.run_with_hooks(tokens, return_type="loss",
                                          fwd_hooks=[(f"blocks.{layer}.attn.hook_z", mean_ablation_hook(head))])
            torch.testing.assert_close(scores[layer, head], hooked - clean)


def test_ablating_the_planted_induction_head_breaks_the_repeat(planted_model, planted_tokens):
    assert repeat_loss(planted_model, planted_tokens) < 0.01
    scores = ablation_scores(planted_model, planted_tokens, positions="repeat")
    assert scores[1, 0] > 1.0  # the induction head
    assert scores[0, 0] > 1.0  # the previous-token head it composes with
    assert scores[0, 1].abs() < 1e-6 and scores[1, 1].abs() < 1e-6  # heads the task does not use
    mask = torch.zeros(planted_tokens.shape[0], planted_tokens.shape[1] - 1, dtype=torch.bool)
    mask[:, repeat_positions(planted_tokens.shape[1])] = True
    torch.testing.assert_close(ablation_scores(planted_model, planted_tokens, positions=mask), scores)
