"""The matplotlib twins of the intervention views: logit lens, patching, causal trace. Headless-safe.

Each takes what its HTML view takes and shows the same data (prepared once, in
:mod:`minigpt.viz.interventions`) as a ``Figure``:

>>> import torch
>>> fig = plot_patching(torch.tensor([[0.5, -1.0], [0.0, 2.0]]), kind="layer_head")
>>> fig.axes[0].get_xlabel(), fig.axes[0].images[0].get_clim()    # symmetric about 0
('head', (-2.0, 2.0))
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from minigpt.viz.interventions import lens_top_k, patching_grid, trace_axis, trace_labels, trace_title
from minigpt.viz.plots import CMAP, _tick_tokens, figure, plot_matrix, to_numpy

TRACE_CMAPS = {"resid": "Purples", "mlp": "Greens", "attn": "Reds"}  # the ROME paper's colours


def plot_logit_lens(model, tokens_or_text, lens=None, *, title: str | None = None) -> Figure:
    """Layer x position: the top-1 probability as colour, the top token written in each cell.

    Arguments as :func:`~minigpt.viz.logit_lens_view`; the output (``out``) is the top row.
    """
    lt = lens_top_k(model, tokens_or_text, lens, k=1)
    probs = lt.probs[..., 0]  # [n_layers + 1, pos]
    n_rows, n_pos = probs.shape
    fig = figure(min(30.0, 2.5 + 0.7 * n_pos), min(20.0, 1.5 + 0.35 * n_rows))
    ax = fig.add_subplot()
    im = ax.imshow(probs, cmap=CMAP, vmin=0, vmax=1, origin="lower", aspect="auto", interpolation="nearest")
    for (row, pos), p in np.ndenumerate(probs):
        ax.text(pos, row, repr(lt.vocab[int(lt.ids[row, pos, 0])])[1:-1][:8], ha="center", va="center",
                fontsize=6, color="white" if p > 0.6 else "black")
    _tick_tokens(ax, lt.str_tokens, n_pos, "x")
    ax.set_yticks(range(n_rows), lt.rows, fontsize=7)
    ax.set_xlabel("input token")
    ax.set_ylabel("layer")
    ax.set_title(title or f"{lt.name}: the top next token at each layer")
    fig.colorbar(im, ax=ax, shrink=0.8, label="top-1 probability")
    return fig


def plot_patching(results, x_labels: Sequence[str] | None = None, y_labels: Sequence[str] | None = None,
                  title: str = "activation patching", kind: str = "layer_pos", *,
                  label: str = "patched metric") -> Figure:
    """A patching result ``[n_layers, pos]`` or ``[n_layers, n_heads]``, diverging colours symmetric about 0."""
    values, x, y, x_axis = patching_grid(results, x_labels, y_labels, kind)
    fig = plot_matrix(values, x_label=x_axis, y_label="layer", title=title, x_ticks=x, y_ticks=y, signed=True)
    n_layers, n_cols = values.shape
    fig.set_size_inches(min(24.0, 3.0 + 0.3 * n_cols), min(16.0, 2.0 + 0.35 * n_layers))
    fig.axes[1].set_ylabel(label)
    return fig


def plot_causal_trace(trace, str_tokens=None, *, answer: str | None = None, title: str | None = None) -> Figure:
    """The ROME paper's figure: tokens down (subject ``*``), layers across, ``p_restored`` from ``p_corrupted`` up.

    Arguments as :func:`~minigpt.viz.causal_trace_view`.
    """
    rows, answer = trace_labels(trace, str_tokens, answer)
    restored = to_numpy(trace.p_restored).T  # [pos n_layers]
    n_pos, n_layers = restored.shape
    fig = figure(min(16.0, 3.0 + 0.3 * n_layers), min(16.0, 1.5 + 0.28 * n_pos))
    ax = fig.add_subplot()
    im = ax.imshow(restored, cmap=TRACE_CMAPS.get(trace.kind, "Purples"), vmin=trace.p_corrupted,
                   vmax=max(float(restored.max()), trace.p_corrupted + 1e-6), aspect="auto", interpolation="nearest")
    _tick_tokens(ax, rows, n_pos, "y")
    ax.set_xticks(range(n_layers))
    ax.set_xlabel(trace_axis(trace))
    ax.set_title(title or trace_title(trace, answer), fontsize=9)
    fig.colorbar(im, ax=ax, label=f"p({answer!r})")
    return fig
