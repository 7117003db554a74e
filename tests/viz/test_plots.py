"""The matplotlib helpers: a Figure each, labelled axes, PNG output with no display."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from minigpt.viz import plot_attention_pattern, plot_curves, plot_head_grid, plot_head_scores, plot_matrix


def causal(n_heads: int, n: int) -> torch.Tensor:
    scores = torch.randn(n_heads, n, n, generator=torch.Generator().manual_seed(0))
    return scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), float("-inf")).softmax(-1)


def test_attention_pattern_has_token_labels():
    tokens = ["<bos>", "The", " cat", " sat"]
    fig = plot_attention_pattern(causal(1, 4)[0], tokens, title="L0H0")
    ax = fig.axes[0]
    assert isinstance(fig, Figure)
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("key position", "query position", "L0H0")
    assert [t.get_text() for t in ax.get_xticklabels()] == tokens
    assert [t.get_text() for t in ax.get_yticklabels()] == tokens
    assert len(fig.axes) == 2   # the heatmap and its colour bar


def test_attention_pattern_thins_labels_for_long_texts():
    fig = plot_attention_pattern(causal(1, 300)[0], [f"t{i}" for i in range(300)])
    assert len(fig.axes[0].get_xticklabels()) <= 64


def test_curves_on_log_axes():
    steps = np.arange(1, 101)
    fig = plot_curves({"train": (steps, 1 / steps), "test": torch.linspace(2, 1, 100)}, log_x=True, log_y=True,
                      y_label="loss", title="grokking")
    ax = fig.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert [line.get_label() for line in ax.get_lines()] == ["train", "test"]
    assert ax.get_legend() is not None and ax.get_title() == "grokking" and ax.get_xlabel() == "step"
    assert plot_curves({"a": [3, 2, 1]}).axes[0].get_xscale() == "linear"


@pytest.mark.parametrize("shape, n_axes", [((4, 6, 6), 4), ((2, 3, 6, 6), 6)])
def test_head_grid(shape, n_axes):
    patterns = causal(int(np.prod(shape[:-2])), 6).reshape(shape)
    fig = plot_head_grid(patterns)
    images = [ax for ax in fig.axes if ax.images and ax.get_title()]
    assert len(images) == n_axes
    assert images[-1].get_title() == (f"L{shape[0] - 1}H{shape[1] - 1}" if len(shape) == 4 else "L0H3")


@pytest.mark.parametrize("kind", ["heatmap", "bar"])
def test_head_scores(kind):
    scores = torch.rand(2, 4, generator=torch.Generator().manual_seed(0))
    fig = plot_head_scores(scores, "induction score", kind=kind)
    ax = fig.axes[0]
    assert ax.get_title() == "induction score" and ax.get_xlabel() == "head"
    if kind == "heatmap":
        assert ax.get_ylabel() == "layer" and len(ax.texts) == 8   # each score written in its cell
    else:
        assert len(ax.patches) == 8 and ax.get_legend() is not None


def test_matrix_labels_and_signed_colours():
    fig = plot_matrix(torch.randn(5, 7), "key token", "query token", "QK circuit")
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("key token", "query token", "QK circuit")
    lo, hi = ax.images[0].get_clim()
    assert lo == -hi   # signed data: centred on 0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: plot_attention_pattern(torch.rand(2, 3, 3)), r"\[query_pos, key_pos\], got shape \(2, 3, 3\)"),
        (lambda: plot_attention_pattern(torch.rand(3, 3), ["a"]), "1 string tokens for 3 positions"),
        (lambda: plot_head_grid(torch.rand(3, 3)), r"got shape \(3, 3\)"),
        (lambda: plot_head_scores(torch.rand(4)), r"\[n_layers, n_heads\]"),
        (lambda: plot_head_scores(torch.rand(2, 2), kind="pie"), "heatmap"),
        (lambda: plot_curves({}), "non-empty"),
        (lambda: plot_curves({"a": ([1, 2], [1, 2, 3])}), "equal 1-D shapes"),
    ],
)
def test_wrong_inputs(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_png_headless(tmp_path):
    figures = [
        plot_attention_pattern(causal(1, 5)[0], list("abcde")),
        plot_curves({"train": [1.0, 0.5, 0.2]}, log_y=True),
        plot_head_grid(causal(2, 5)),
        plot_head_scores(torch.rand(2, 2)),
        plot_matrix(np.eye(3), "x", "y"),
    ]
    for i, fig in enumerate(figures):
        path = tmp_path / f"{i}.png"
        fig.savefig(path, dpi=50)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_import_does_not_touch_pyplot():
    import subprocess

    code = "import sys, minigpt.viz; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
