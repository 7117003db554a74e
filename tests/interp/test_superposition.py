"""Toy models of superposition: batches, the model, its loss, geometry, training, the phase diagram.

Oracles: explicit per-instance matrix products for the forward pass and loss, loops for the
feature dimensionality, a large sampled batch for the quadrature's expected loss. The measured
results (5 features in 2 dimensions, the phase diagram's corners) are asserted with the
tolerances noted next to each. Training runs on one thread by itself (``threads=1``).
"""

from __future__ import annotations

import math

import pytest
import torch

from minigpt.interp.superposition import (
    PHASES, ToyModel, ToyModelNeurons, anticorrelated_features, classify_phase, correlated_features,
    dimensions_per_feature, evaluate_loss, expected_loss, feature_angles, feature_dimensionality, feature_norms,
    feature_quadrature, importance_weighted_mse, interference, neighbour_angles, neuron_feature_share, optimize,
    phase_diagram, sparse_features, toy_batch, train_toy_model,
)

IMPORTANCE = 0.9 ** torch.arange(5)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---- batches ---------------------------------------------------------------------------------


def test_sparse_features_density_and_values():
    p = torch.tensor([[1.0, 0.5], [0.1, 0.0]])
    x = sparse_features(20_000, p, gen())
    assert x.shape == (20_000, 2, 2)
    torch.testing.assert_close((x > 0).float().mean(0), p, atol=0.01, rtol=0)
    present = x[:, 0, 0]
    assert 0 <= x.min() and x.max() < 1
    assert abs(present.mean().item() - 0.5) < 0.01 and abs(present.var().item() - 1 / 12) < 0.005  # U[0, 1)


def test_correlated_pairs_appear_together():
    x = correlated_features(20_000, torch.tensor([[0.2, 0.05]]), gen())  # [batch 1 4]
    on = x[:, 0] > 0
    assert torch.equal(on[:, 0], on[:, 1]) and torch.equal(on[:, 2], on[:, 3])
    torch.testing.assert_close(on.float().mean(0), torch.tensor([0.2, 0.2, 0.05, 0.05]), atol=0.01, rtol=0)
    assert not torch.equal(x[:, 0, 0], x[:, 0, 1])  # each its own value


def test_anticorrelated_pairs_never_together_each_with_probability_p():
    x = anticorrelated_features(40_000, torch.tensor([[0.3], [0.5]]), gen())  # [batch 2 2]
    on = x > 0
    assert not (on[..., 0] & on[..., 1]).any()
    torch.testing.assert_close(on.float().mean(0), torch.tensor([[0.3, 0.3], [0.5, 0.5]]), atol=0.01, rtol=0)
    with pytest.raises(ValueError, match="p <= 1/2"):
        anticorrelated_features(4, torch.tensor([[0.6]]))


def test_toy_batch_layout_correlated_then_anticorrelated_then_independent():
    p = torch.full((1, 7), 0.3)
    x = toy_batch(20_000, p, n_correlated_pairs=1, n_anticorrelated_pairs=1, generator=gen())
    on = (x[:, 0] > 0).float()
    assert torch.equal(on[:, 0], on[:, 1])
    assert (on[:, 2] * on[:, 3]).sum() == 0
    both = (on[:, 4] * on[:, 5]).mean().item()
    assert abs(both - 0.09) < 0.01  # independent: p²
    with pytest.raises(ValueError, match="need 8 features, the model has 7"):
        toy_batch(1, p, n_correlated_pairs=2, n_anticorrelated_pairs=2)
    with pytest.raises(ValueError, match=r"\[n_instances n\]"):
        sparse_features(1, torch.tensor([0.5]))


# ---- the model and its loss ------------------------------------------------------------------


def test_forward_is_relu_wt_w_x_plus_b_per_instance():
    model = ToyModel(5, 2, n_instances=3, generator=gen())
    with torch.no_grad():
        model.b_final.normal_(generator=gen(1))
    x = model.generate_batch(7, gen(2))
    out = model(x)
    for k in range(3):
        W, b = model.W[k], model.b_final[k]  # [d_hidden n_features], [n_features]
        torch.testing.assert_close(out[:, k], torch.relu(x[:, k] @ W.T @ W + b))
    neurons = ToyModelNeurons(5, 2, n_instances=3, generator=gen())
    out = neurons(x)
    for k in range(3):
        W = neurons.W[k]
        torch.testing.assert_close(out[:, k], torch.relu(torch.relu(x[:, k] @ W.T) @ W))


def test_loss_is_importance_weighted_mean_over_batch_and_features_summed_over_instances():
    out, batch = torch.rand(4, 2, 3, generator=gen()), torch.rand(4, 2, 3, generator=gen(1))
    importance = torch.tensor([1.0, 0.5, 0.25])
    expected = torch.tensor([sum(importance[i] * (batch[b, k, i] - out[b, k, i]) ** 2 for b in range(4)
                                 for i in range(3)) / 12 for k in range(2)])
    torch.testing.assert_close(importance_weighted_mse(out, batch, importance), expected)
    model = ToyModel(3, 1, n_instances=2, importance=importance)
    torch.testing.assert_close(model.calculate_loss(out, batch), expected.sum())
    # hand-checked: one instance, errors 1 and 1, importances 1 and 0.5 -> (1 + 0.5) / 2
    assert importance_weighted_mse(torch.zeros(1, 1, 2), torch.ones(1, 1, 2), importance[:2]).item() == 0.75


def test_probability_is_per_instance_and_importance_per_feature():
    model = ToyModel(4, 2, n_instances=3, feature_probability=[1.0, 0.5, 0.1], importance=[1.0, 0.9, 0.8, 0.7])
    assert model.feature_probability[:, 0].tolist() == pytest.approx([1.0, 0.5, 0.1])
    assert torch.equal(model.feature_probability[:, 0:1].expand(3, 4), model.feature_probability)
    assert model.importance[2].tolist() == pytest.approx([1.0, 0.9, 0.8, 0.7])
    assert model.W.shape == (3, 2, 4) and model.b_final.shape == (3, 4)
    with pytest.raises(ValueError, match=r"feature_probability: expected a number, \[n_instances=3\]"):
        ToyModel(4, 2, n_instances=3, feature_probability=[1.0, 0.5])
    with pytest.raises(ValueError, match=r"importance: expected a number, \[n_features=4\]"):
        ToyModel(4, 2, n_instances=3, importance=[1.0, 0.5])
    with pytest.raises(ValueError, match=r"expected features \[... n_instances=3 n_features=4\]"):
        model(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="probabilities must lie in"):
        ToyModel(4, 2, feature_probability=1.5)
    with pytest.raises(ValueError, match="p <= 1/2"):
        ToyModel(4, 2, feature_probability=0.6, n_correlated_pairs=1, n_anticorrelated_pairs=1)
    state = torch.random.get_rng_state()
    ToyModel(4, 2, generator=gen())  # checks without drawing from the global generator
    assert torch.equal(torch.random.get_rng_state(), state)


# ---- geometry --------------------------------------------------------------------------------


def test_feature_dimensionality_against_a_loop_and_by_hand():
    W = torch.randn(2, 3, 6, generator=gen())
    W[1, :, 4] = 0
    got = feature_dimensionality(W)
    for k in range(2):
        for i in range(6):
            norm = W[k, :, i].norm()
            if norm == 0:
                assert got[k, i] == 0
                continue
            denom = sum((W[k, :, i] @ W[k, :, j] / norm) ** 2 for j in range(6))
            assert got[k, i].item() == pytest.approx((norm ** 2 / denom).item(), rel=1e-5)
    # hand: alone 1, antipodal pair 1/2, a triangle in 2-D 1/(1 + 2 cos² 120°) = 2/3, dropped 0
    angles = 2 * math.pi * torch.arange(3) / 3
    assert feature_dimensionality(torch.stack([angles.cos(), angles.sin()])).tolist() == pytest.approx([2 / 3] * 3)
    assert feature_dimensionality(torch.tensor([[1.0, -1.0, 0.0]])).tolist() == pytest.approx([0.5, 0.5, 0.0])
    # an unequal pair on one axis: w_i² / (w_0² + w_1²), 16/17 and 1/17
    assert feature_dimensionality(torch.tensor([[2.0, -0.5]])).tolist() == pytest.approx([16 / 17, 1 / 17])
    assert float(feature_dimensionality(W).sum(-1).max()) <= 3 + 1e-5  # at most d_hidden in all


def test_interference_norms_angles_and_neuron_share():
    W = torch.tensor([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]])  # [2 4]
    assert feature_norms(W).tolist() == [1.0, 1.0, 2.0, 0.0]
    assert interference(W).tolist() == [1.0, 1.0, 0.0, 0.0]
    assert feature_angles(W)[:3].tolist() == [0.0, 180.0, 90.0]
    assert neighbour_angles(W).tolist() == [90.0, 90.0, 180.0]
    assert dimensions_per_feature(W).item() == pytest.approx(2 / 6)
    share = neuron_feature_share(torch.tensor([[3.0, 4.0, -9.0], [0.0, -2.0, 1.0]]))  # negative weights: no share
    torch.testing.assert_close(share, torch.tensor([[0.36, 0.64, 0.0], [0.0, 0.0, 1.0]]))
    with pytest.raises(ValueError, match="angles need d_hidden = 2"):
        feature_angles(torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"expected W \[n_instances d_hidden n_features\]"):
        feature_dimensionality(torch.zeros(4))


# ---- training --------------------------------------------------------------------------------


def test_training_is_deterministic_in_seed_and_restores_threads():
    threads = torch.get_num_threads()
    kwargs = dict(n_features=3, d_hidden=2, feature_probability=0.2, n_instances=2, steps=50, batch_size=64)
    a, b = train_toy_model(seed=3, **kwargs), train_toy_model(seed=3, **kwargs)
    c = train_toy_model(seed=4, **kwargs)
    assert torch.equal(a.W, b.W) and torch.equal(a.b_final, b.b_final)
    assert not torch.equal(a.W, c.W)
    assert not a.training and torch.get_num_threads() == threads
    losses = optimize(ToyModel(3, 2, 2, generator=gen()), steps=5, batch_size=8, generator=gen(), threads=None)
    assert losses.shape == (5, 2)
    with pytest.raises(ValueError, match="unknown lr_schedule 'step'"):
        optimize(ToyModel(3, 2), steps=1, lr_schedule="step")


def test_progress_bar_runs(capsys):
    train_toy_model(2, 1, steps=3, batch_size=8, progress=True)
    assert "toy model" in capsys.readouterr().err


def test_correlated_model_trains():
    model = train_toy_model(4, 2, 0.1, n_instances=1, n_correlated_pairs=1, n_anticorrelated_pairs=1, steps=20,
                            batch_size=32)
    assert model.generate_batch(5).shape == (5, 1, 4)


def test_quadrature_weights_and_expected_loss_match_a_large_sample():
    p = torch.tensor([[1.0, 1.0], [0.3, 0.1], [0.02, 0.5]])
    x, weight = feature_quadrature(p, n_points=16)
    assert x.shape == (17 ** 2, 2) and weight.shape == (17 ** 2, 3)
    torch.testing.assert_close(weight.sum(0), torch.ones(3))
    # the probability that feature 0 is present, per instance
    torch.testing.assert_close((weight * (x[:, :1] > 0)).sum(0), p[:, 0])
    model = ToyModel(2, 1, n_instances=3, feature_probability=p, importance=[1.0, 3.0], generator=gen())
    with torch.no_grad():
        model.b_final.uniform_(-0.3, 0.3, generator=gen(1))
    exact = expected_loss(model, n_points=32)
    batch = model.generate_batch(400_000, gen(2))
    per_example = (model.importance * (batch - model(batch)).pow(2)).mean(-1)  # [batch n_instances]
    sampled, stderr = per_example.mean(0), per_example.std(0) / math.sqrt(len(batch))
    assert ((exact - sampled).abs() < 4 * stderr + 1e-4).all(), (exact, sampled, stderr)
    with pytest.raises(ValueError, match="independent features"):
        expected_loss(ToyModel(4, 2, n_correlated_pairs=1))


# ---- the 5-features-in-2-dimensions result -------------------------------------------------


@pytest.fixture(scope="module")
def five_in_two() -> ToyModel:
    """Dense, then two instances each at p = 0.05 and 0.02 (2,000 Adam steps on one thread: 3.4 s of CPU)."""
    return train_toy_model(5, 2, [1.0, 0.05, 0.05, 0.02, 0.02], IMPORTANCE, n_instances=5, seed=0)


@pytest.mark.slow
def test_dense_features_keep_the_two_most_important(five_in_two):
    W = five_in_two.W[0].detach()  # [2 5]; measured: norms 1.000 0.999 0.016 0.009 0.006, angle 90.04°
    norms = feature_norms(W)
    assert norms[:2].tolist() == pytest.approx([1.0, 1.0], abs=0.02)
    assert (norms[2:] < 0.1).all()
    assert neighbour_angles(W).tolist() == pytest.approx([270.0, 90.0], abs=2)  # orthogonal: a dimension each
    D = feature_dimensionality(W)
    assert (D[:2] > 0.98).all() and D.sum().item() == pytest.approx(2.0, abs=0.01)
    # a dropped feature's output is its bias, the mean of U[0, 1): 0.5 (measured 0.496-0.511)
    assert five_in_two.b_final[0, 2:].tolist() == pytest.approx([0.5] * 3, abs=0.03)


@pytest.mark.slow
@pytest.mark.parametrize("pair", [(1, 2), (3, 4)], ids=["p=0.05", "p=0.02"])
def test_sparse_features_make_a_pentagon(five_in_two, pair):
    # measured: the better of two restarts is a pentagon at both densities: norms 1.13-1.17,
    # neighbour angles 70.5-73.5°, D_i 0.394-0.407 (sum 2.000). At p = 0.02 the other restart
    # is stuck in two antipodal pairs (feature 2 dropped, D = 1/2 each) at 2.9 times the loss.
    loss = evaluate_loss(five_in_two)[list(pair)]
    W = five_in_two.W[pair[int(loss.argmin())]].detach()
    norms = feature_norms(W)
    assert ((1.05 < norms) & (norms < 1.25)).all(), norms
    assert neighbour_angles(W).tolist() == pytest.approx([72.0] * 5, abs=3)
    D = feature_dimensionality(W)
    assert D.tolist() == pytest.approx([0.4] * 5, abs=0.02)
    assert D.sum().item() == pytest.approx(2.0, abs=0.01)
    for k in pair:  # either way: at least 4 features in 2 dimensions, and all of 2 dimensions used
        assert (feature_norms(five_in_two.W[k]) > 0.5).sum() >= 4
        assert feature_dimensionality(five_in_two.W[k]).sum().item() == pytest.approx(2.0, abs=0.01)


# ---- the phase diagram -----------------------------------------------------------------------


def test_classify_phase_by_hand():
    W = torch.tensor([[[1.0, 0.05]], [[1.0, -1.0]], [[0.02, 1.0]]])  # [3 d_hidden=1 n_features=2]
    assert classify_phase(W).tolist() == [0, 1, 2]
    assert [PHASES[i] for i in classify_phase(W).tolist()] == ["not represented", "superposition",
                                                                "dedicated dimension"]
    # 3 features in 2 dimensions: the extra one orthogonal to an antipodal pair, or dropped
    assert classify_phase(torch.tensor([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]])).item() == 2
    assert classify_phase(torch.tensor([[1.0, 0.0, 0.1], [0.0, 1.0, 0.0]])).item() == 0


def test_phase_diagram_corners():
    # the 16 x 16 default grid's corners and middle column, 3 x 2 x 4 restarts (1.5 s of CPU)
    diagram = phase_diagram(n_density=3, n_importance=2, importance_range=(0.2, 5.0), restarts=4)
    assert diagram.density.tolist() == pytest.approx([1.0, 0.1, 0.01])
    assert diagram.relative_importance.tolist() == pytest.approx([0.2, 5.0])
    # dense: the extra feature is dropped (r < 1) or takes the dimension (r > 1); sparse: superposition
    assert diagram.phase.tolist() == [[0, 1, 1], [2, 1, 1]]
    norm, dims = diagram.extra_norm, diagram.extra_dimensionality
    assert norm[0, 0] < 0.1 and (norm[:, 1:] > 0.9).all() and norm[1, 0] > 0.9
    # an antipodal pair, the more important feature a little longer: measured 0.476-0.524
    assert dims[:, 1:].flatten().tolist() == pytest.approx([0.5] * 4, abs=0.05)
    assert dims[1, 0].item() == pytest.approx(1.0, abs=0.01)
    W = diagram.W[:, 1:, 0]  # [2 2 n_features]: opposite signs in superposition
    assert (W[..., 0] * W[..., 1] < 0).all()
    small = dict(n_density=2, n_importance=1, restarts=2, steps=50)
    assert torch.equal(phase_diagram(**small).W, phase_diagram(**small).W)  # deterministic in seed
    with pytest.raises(ValueError, match="fewer dimensions than features"):
        phase_diagram(n_features=2, d_hidden=2)


# ---- neurons versus features ---------------------------------------------------------------


@pytest.mark.slow
def test_neurons_are_monosemantic_when_dense_and_polysemantic_when_sparse():
    # the paper's privileged-basis toy: 10 features, 5 ReLU neurons, importance 0.75^i.
    # measured (2,000 steps, 2.4 s of CPU): dense, every neuron's largest share 0.97-1.00, one
    # neuron for each of features 0-4, the others dropped (norm <= 0.011); at p = 0.03 the
    # largest shares are 0.30-0.41: every neuron fires for several features. (Seeds 0-2: dense
    # shares >= 0.93 each time; seed 1 gives feature 9 a neuron instead of feature 4.)
    model = train_toy_model(10, 5, [1.0, 0.03], 0.75 ** torch.arange(10), n_instances=2,
                            model_cls=ToyModelNeurons, seed=0)
    share = neuron_feature_share(model.W)  # [2 5 10]
    top = share.max(-1)
    assert (top.values[0] > 0.9).all() and sorted(top.indices[0].tolist()) == [0, 1, 2, 3, 4]
    assert (feature_norms(model.W[0])[5:] < 0.05).all()
    assert (top.values[1] < 0.7).all()
