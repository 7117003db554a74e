"""The toy-model figures: a Figure each, one panel per instance, the data drawn is the data given."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from minigpt.interp.superposition import PHASES, PhaseDiagram, classify_phase, feature_dimensionality
from minigpt.viz import (plot_feature_dimensionality, plot_feature_norms, plot_features_2d, plot_neuron_weights,
                         plot_phase_diagram, plot_wtw)


def polygon(n: int, radius: float = 1.0) -> torch.Tensor:
    """``n`` features evenly round the circle: ``[2 n]``."""
    angles = 2 * math.pi * torch.arange(n) / n
    return radius * torch.stack([angles.cos(), angles.sin()])


@pytest.fixture
def W() -> torch.Tensor:
    """Three instances of 5 features in 2-D: two kept, a pentagon, two antipodal pairs. ``[3 2 5]``"""
    dense = torch.zeros(2, 5)
    dense[0, 0], dense[1, 1] = 1.0, 1.0
    pairs = torch.tensor([[1.0, -1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0, 0.0]])
    return torch.stack([dense, polygon(5, 1.1), pairs])


def test_features_2d_draws_each_column(W, tmp_path):
    fig = plot_features_2d(W, titles=["dense", "p = 0.02", "pairs"])
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["dense", "p = 0.02", "pairs"]
    assert fig.get_suptitle().startswith("the columns of W")
    segments = [line for line in panels[1].get_lines() if line.get_label().startswith("feature")]
    assert len(segments) == 5
    for i, line in enumerate(segments):  # from the origin to W[:, i]
        np.testing.assert_allclose(line.get_xydata(), [[0, 0], W[1, :, i].tolist()], atol=1e-6)
    assert len(panels[0].patches) == 1  # the unit circle
    fig.savefig(tmp_path / "features.png")
    assert (tmp_path / "features.png").stat().st_size > 1000
    single = plot_features_2d(W[1], title=None)
    assert [ax.get_title() for ax in single.axes] == ["instance 0"] and not single.get_suptitle()
    with pytest.raises(ValueError, match="d_hidden = 3"):
        plot_features_2d(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="got 1 titles for 3 instances"):
        plot_features_2d(W, titles=["a"])


def test_wtw_images_are_wt_w_on_a_symmetric_scale(W):
    fig = plot_wtw(W)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 3
    for ax, w in zip(panels, W):
        np.testing.assert_allclose(ax.images[0].get_array(), (w.T @ w).numpy(), atol=1e-6)
        low, high = ax.images[0].get_clim()
        assert low == -high == pytest.approx(-1.21, abs=1e-5)  # the pentagon's 1.1²
    assert panels[0].get_xlabel() == "input feature j"
    assert len(fig.axes) == 4  # and one colour bar


def test_feature_norms_bars_and_their_colour(W):
    fig = plot_feature_norms(W)
    ax_dense, ax_pentagon, _ = fig.axes[:3]
    widths = [bar.get_width() for bar in ax_dense.patches]
    assert widths == pytest.approx([1, 1, 0, 0, 0])
    assert [bar.get_width() for bar in ax_pentagon.patches] == pytest.approx([1.1] * 5)
    dark, yellow = ax_dense.patches[0].get_facecolor(), ax_pentagon.patches[0].get_facecolor()
    assert sum(dark[:3]) < 1.0 and yellow[0] > 0.9  # viridis: 0 (a dimension alone) and 1 (shared)


def test_neuron_weights_images(W):
    fig = plot_neuron_weights(W, titles=["a", "b", "c"], cols=2)
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panels] == ["a", "b", "c"]
    np.testing.assert_allclose(panels[2].images[0].get_array(), W[2].numpy())
    assert panels[0].get_ylabel() == "neuron"
    assert [ax.images[0].get_clim()[1] for ax in panels] == pytest.approx([1.0, 1.1, 1.0])  # a scale each
    assert sum(ax.get_label() == "<colorbar>" for ax in fig.axes) == 3  # and a colour bar each


def test_phase_diagram_cells_axes_and_legend():
    density, importance = torch.tensor([1.0, 0.1, 0.01]), torch.tensor([0.2, 5.0])
    W = torch.tensor([[[[1.0, 0.0]], [[1.0, -1.0]], [[1.0, -1.0]]],
                      [[[0.0, 1.0]], [[1.0, -1.0]], [[1.0, -1.0]]]])  # [2 3 d_hidden=1 n_features=2]
    diagram = PhaseDiagram(density=density, relative_importance=importance, W=W, b_final=torch.zeros(2, 3, 2),
                           loss=torch.zeros(2, 3), phase=classify_phase(W))
    fig = plot_phase_diagram(diagram)
    ax = fig.axes[0]
    mesh = ax.collections[0]
    np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(2, 3), [[0, 1, 1], [2, 1, 1]])
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert ax.xaxis_inverted()  # dense on the left
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(PHASES)
    assert ax.get_title() == "2 features in 1 dimension: the extra feature"


def test_feature_dimensionality_scatter_and_line(W):
    p = torch.tensor([1.0, 0.02, 0.1])
    fig = plot_feature_dimensionality(W, p)
    ax = fig.axes[0]
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(offsets[:, 0], np.repeat(1 / p.numpy(), 5), rtol=1e-6)
    np.testing.assert_allclose(offsets[:, 1], feature_dimensionality(W).flatten().numpy(), atol=1e-6)
    line = next(line for line in ax.get_lines() if line.get_label() == "d_hidden / ||W||_F²")
    np.testing.assert_allclose(line.get_ydata(), [1.0, 2 / (4 * 1.0), 2 / (5 * 1.21)], atol=1e-5)  # by density
    assert ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="2 probabilities for 3 instances"):
        plot_feature_dimensionality(W, p[:2])
