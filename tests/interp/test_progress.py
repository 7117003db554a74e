"""Progress measures against direct computations on small p, and the grids they read from a model."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from minigpt import GPT
from minigpt.data import all_pairs, modular_data, modular_labels
from minigpt.interp.grok import grok_grids, last_logits
from minigpt.interp.progress import excluded_loss, progress_measures, restricted_loss, sum_sq_weights
from minigpt.grokking_model import grokking_config


def trig_design(p, freqs, constant):
    a = torch.arange(p, dtype=torch.float64).repeat_interleave(p)
    b = torch.arange(p, dtype=torch.float64).repeat(p)
    cols = [torch.ones(p * p, dtype=torch.float64)] if constant else []
    for k in freqs:
        w = 2 * math.pi * k / p
        cols += [torch.cos(w * (a + b)), torch.sin(w * (a + b))]
    return torch.stack(cols, dim=1)


def lstsq_fit(design, y):
    return design @ torch.linalg.lstsq(design, y).solution


@pytest.mark.parametrize("p, freqs", [(5, [1]), (7, [2, 3]), (11, [1, 4, 5])])
def test_restricted_and_excluded_loss_equal_a_direct_fit(p, freqs):
    g = torch.Generator().manual_seed(p)
    labels = modular_labels(all_pairs(p), p)
    a_plus_b = (torch.arange(p).repeat_interleave(p) + torch.arange(p).repeat(p)).double()
    c = torch.arange(p, dtype=torch.float64)
    logits = torch.randn(p * p, p, generator=g, dtype=torch.float64)
    logits += 2 * torch.cos(2 * math.pi * freqs[0] * (a_plus_b[:, None] - c) / p)
    train_idx = torch.randperm(p * p, generator=g)[: p * p // 3]
    # restricted: the least-squares fit of each answer's column by a constant and the key trig functions of a+b
    direct = F.cross_entropy(lstsq_fit(trig_design(p, freqs, constant=True), logits), labels)
    torch.testing.assert_close(restricted_loss(logits, labels, freqs), direct)
    # excluded: the residual of the fit by the trig functions alone, on the training pairs
    residual = logits - lstsq_fit(trig_design(p, freqs, constant=False), logits)
    direct = F.cross_entropy(residual[train_idx], labels[train_idx])
    torch.testing.assert_close(excluded_loss(logits, labels, freqs, train_idx), direct)


def test_a_pure_fourier_circuit_keeps_its_loss_restricted_and_loses_it_excluded():
    p, freqs = 13, [3, 5]
    a_plus_b = (torch.arange(p).repeat_interleave(p) + torch.arange(p).repeat(p)).double()
    c = torch.arange(p, dtype=torch.float64)
    logits = sum(20 * torch.cos(2 * math.pi * k * (a_plus_b[:, None] - c) / p) for k in freqs)
    labels = modular_labels(all_pairs(p), p)
    full = F.cross_entropy(logits, labels)
    assert full < 1e-3
    torch.testing.assert_close(restricted_loss(logits, labels, freqs), full)
    assert excluded_loss(logits, labels, freqs, torch.arange(p * p)) == pytest.approx(math.log(p))


def test_sum_sq_weights_by_hand():
    lin = torch.nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 2.0]]))
        lin.bias.fill_(3.0)
    assert sum_sq_weights(lin) == 14.0


@pytest.fixture(scope="module")
def small_model():
    return GPT(grokking_config(7, d_model=16, n_heads=2, d_mlp=32, seed=3), attention="naive").eval()


def test_grids_are_the_model_on_every_pair(small_model):
    grids = grok_grids(small_model)
    tokens = all_pairs(7)
    logits, cache = small_model.run_with_cache(tokens)
    torch.testing.assert_close(grids["logits"], logits[:, -1, :7].reshape(7, 7, 7))
    torch.testing.assert_close(last_logits(small_model), logits[:, -1, :7], atol=1e-5, rtol=1e-5)
    a, b = 3, 5
    torch.testing.assert_close(grids["neurons"][a, b], cache["blocks.0.mlp.hook_post"][a * 7 + b, -1])
    torch.testing.assert_close(grids["attention"][:, a, b], cache["pattern", 0][a * 7 + b, :, -1, 0])


def test_progress_measures_of_a_random_model(small_model):
    data = modular_data(7, train_frac=0.5, seed=0)
    m = progress_measures(small_model, data, [1, 2])
    assert set(m) >= {"train_loss", "test_loss", "restricted_loss", "excluded_loss", "sum_sq_weights",
                      "embed_explained", "neuron_explained"}
    assert 0 <= m["embed_explained"] <= 1 and 0 <= m["neuron_explained"] <= 1
    assert m["sum_sq_weights"] == pytest.approx(sum(float(p.detach().pow(2).sum()) for p in small_model.parameters()))
