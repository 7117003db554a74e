"""Figures of the toy models of superposition (matplotlib ``Figure`` objects, no pyplot state).

One panel per instance for the weights: :func:`plot_features_2d` (the columns of ``W`` as arrows,
the pentagon), :func:`plot_wtw` (``WᵀW``), :func:`plot_feature_norms` (the paper's bars),
:func:`plot_neuron_weights` (``W`` of a neuron model, neurons × features). Then
:func:`plot_phase_diagram` and :func:`plot_feature_dimensionality` over a sweep.

>>> import torch
>>> angles = 2 * torch.pi * torch.arange(5) / 5
>>> fig = plot_features_2d(torch.stack([angles.cos(), angles.sin()]), titles=["a pentagon"])
>>> fig.axes[0].get_title(), [line.get_label() for line in fig.axes[0].get_legend_handles_labels()[0]]
('a pentagon', ['feature 0', 'feature 1', 'feature 2', 'feature 3', 'feature 4'])
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Patch

from minigpt.interp.superposition.geometry import dimensions_per_feature, feature_dimensionality, interference
from minigpt.interp.superposition.phase import PHASES, PhaseDiagram
from minigpt.viz.plots import DIVERGING, figure, to_numpy

__all__ = ["PHASE_COLORS", "plot_feature_dimensionality", "plot_feature_norms", "plot_features_2d",
           "plot_neuron_weights", "plot_phase_diagram", "plot_wtw"]

FEATURE_CMAP = "viridis"  # feature i's colour: dark = most important (feature 0), yellow = least
PHASE_COLORS = ("#d9d9d9", "#3b7dd8", "#e8743b")  # not represented, superposition, dedicated dimension


def _instances(W, what: str) -> np.ndarray:
    """``W`` as ``[n_instances d_hidden n_features]`` (a single ``[d_hidden n_features]`` gets an axis)."""
    w = to_numpy(W)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3:
        raise ValueError(f"{what}: expected W [n_instances d_hidden n_features] or [d_hidden n_features], "
                         f"got shape {list(w.shape)}")
    return w


def _panels(n: int, cols: int, width: float, height: float, titles: Sequence[str] | None):
    """A figure with ``n`` panels in rows of ``cols``, the spare ones off; their titles."""
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {len(titles)} titles for {n} instances")
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    fig = figure(width * cols + 0.6, height * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.axis("off")
    return fig, axes[:n], list(titles) if titles is not None else [f"instance {k}" for k in range(n)]


def _signed_images(fig: Figure, axes, images: np.ndarray, names: Sequence[str], *, x_label: str, y_label: str,
                   label: str, aspect: str = "equal", shared: bool = True) -> None:
    """One signed image per panel, on a colour scale symmetric about 0: one for all panels and one
    colour bar (``shared``), or each panel its own scale and bar."""
    for ax, image, name in zip(axes, images, names):
        lim = float(np.abs(images if shared else image).max()) or 1.0
        im = ax.imshow(image, cmap=DIVERGING, vmin=-lim, vmax=lim, interpolation="nearest", aspect=aspect)
        ax.set_xlabel(x_label, fontsize=8)
        ax.set_ylabel(y_label, fontsize=8)
        ax.set_title(name, fontsize=9)
        if not shared:
            fig.colorbar(im, ax=ax, shrink=0.8, label=label)
    if shared:
        fig.colorbar(im, ax=list(axes), shrink=0.7, label=label)


def _feature_colors(n_features: int) -> np.ndarray:
    from matplotlib import colormaps

    return colormaps[FEATURE_CMAP](np.linspace(0, 0.9, n_features))


def plot_features_2d(W, titles: Sequence[str] | None = None, *, cols: int = 4,
                     title: str | None = "the columns of W: each feature's direction in the hidden plane") -> Figure:
    """Each feature's column ``W_i`` as a line from the origin in the 2-D hidden space, one panel per instance.

    ``W [n_instances 2 n_features]`` (or one ``[2 n_features]``). The dashed circle is norm 1;
    colours go from feature 0 (dark, most important in the usual ``importance = 0.9^i``) to the
    last (yellow).
    """
    w = _instances(W, "plot_features_2d")
    if w.shape[1] != 2:
        raise ValueError(f"plot_features_2d draws a 2-D hidden space, got d_hidden = {w.shape[1]}")
    n_instances, _, n_features = w.shape
    fig, axes, names = _panels(n_instances, cols, 2.6, 2.6, titles)
    colors = _feature_colors(n_features)
    lim = max(1.3, 1.1 * float(np.linalg.norm(w, axis=1).max()))
    for ax, wk, name in zip(axes, w, names):
        ax.add_patch(Circle((0, 0), 1.0, fill=False, linestyle="--", linewidth=0.8, color="grey"))
        for i in range(n_features):  # a line from the origin and a dot at the tip (a dropped feature: a dot at 0)
            ax.plot([0, wk[0, i]], [0, wk[1, i]], color=colors[i], linewidth=2, label=f"feature {i}")
            ax.plot(wk[0, i], wk[1, i], "o", color=colors[i], markersize=5)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name, fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def plot_wtw(W, titles: Sequence[str] | None = None, *, cols: int = 4,
             title: str | None = "WᵀW: how each feature's input reaches each output") -> Figure:
    """``WᵀW [n_features n_features]`` per instance, on one symmetric colour scale.

    The diagonal is ``||W_i||²``; an off-diagonal entry is the interference of feature ``j`` on
    output ``i`` (negative: the ReLU can cut it off).
    """
    w = _instances(W, "plot_wtw")
    wtw = np.einsum("khi,khj->kij", w, w)  # [n_instances n_features n_features]
    fig, axes, names = _panels(len(w), cols, 2.6, 2.4, titles)
    _signed_images(fig, axes, wtw, names, x_label="input feature j", y_label="output feature i",
                   label="(WᵀW)[i, j]")
    if title:
        fig.suptitle(title)
    return fig


def plot_feature_norms(W, titles: Sequence[str] | None = None, *, cols: int = 4,
                       title: str | None = "||W_i||, coloured by superposition") -> Figure:
    """The paper's bars: ``||W_i||`` per feature, coloured by its :func:`interference` share.

    Colour: ``Σ_{j≠i} (Ŵ_i·W_j)² / ||W_i||²`` clipped to ``[0, 1]``: dark for a feature with
    a dimension of its own, yellow for one in superposition.
    """
    from matplotlib import colormaps

    w = _instances(W, "plot_feature_norms")
    norms = np.linalg.norm(w, axis=1)  # [n_instances n_features]
    shared = to_numpy(interference(torch.as_tensor(w, dtype=torch.float32)))  # [n_instances n_features]
    share = np.clip(shared / np.maximum(norms ** 2, 1e-12), 0, 1)
    fig, axes, names = _panels(len(w), cols, 2.6, 2.2, titles)
    top = max(1.2, 1.05 * float(norms.max()))
    for ax, n, s, name in zip(axes, norms, share, names):
        ax.barh(np.arange(len(n)), n, color=colormaps["viridis"](s))
        ax.set_yticks(range(len(n)))
        ax.invert_yaxis()
        ax.set_xlim(0, top)
        ax.set_xlabel("||W_i||", fontsize=8)
        ax.set_ylabel("feature", fontsize=8)
        ax.set_title(name, fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def plot_neuron_weights(W, titles: Sequence[str] | None = None, *, cols: int = 4,
                        title: str | None = "neuron weights W: neurons × features") -> Figure:
    """``W [d_hidden n_features]`` per instance of a neuron model, one row per neuron.

    A row with one strong entry is a monosemantic neuron; several, a polysemantic one. Each
    panel has its own colour scale (sparse models grow a few large negative weights).
    """
    w = _instances(W, "plot_neuron_weights")
    fig, axes, names = _panels(len(w), cols, 0.25 * w.shape[2] + 1.8, 0.3 * w.shape[1] + 1.0, titles)
    _signed_images(fig, axes, w, names, x_label="feature", y_label="neuron", label="weight", aspect="auto",
                   shared=False)
    if title:
        fig.suptitle(title)
    return fig


def _log_edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges for log-spaced ``centres`` (geometric midpoints; the ends mirrored)."""
    logs = np.log10(centres)
    if len(logs) == 1:
        return 10 ** np.array([logs[0] - 0.5, logs[0] + 0.5])
    mid = (logs[1:] + logs[:-1]) / 2
    return 10 ** np.concatenate([[2 * logs[0] - mid[0]], mid, [2 * logs[-1] - mid[-1]]])


def plot_phase_diagram(diagram: PhaseDiagram, *, title: str | None = None) -> Figure:
    """What the extra feature becomes, per density (x, log, dense on the left) and relative importance (y, log)."""
    phase = to_numpy(diagram.phase)
    density, importance = to_numpy(diagram.density), to_numpy(diagram.relative_importance)
    n_features, d_hidden = diagram.W.shape[-1], diagram.W.shape[-2]
    fig = figure(6.0, 4.6)
    ax = fig.add_subplot()
    cmap = ListedColormap(PHASE_COLORS)
    ax.pcolormesh(_log_edges(density), _log_edges(importance), phase, cmap=cmap,
                  norm=BoundaryNorm([-0.5, 0.5, 1.5, 2.5], cmap.N))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.invert_xaxis()
    ax.axhline(1.0, color="black", linewidth=0.6, linestyle=":")
    ax.set_xlabel("feature density p = 1 − S  (sparser →)")
    ax.set_ylabel("relative importance of the extra feature")
    ax.set_title(title or f"{n_features} features in {d_hidden} dimension{'s' * (d_hidden > 1)}: the extra feature")
    ax.legend(handles=[Patch(color=c, label=name) for c, name in zip(PHASE_COLORS, PHASES)], fontsize=8,
              loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


def plot_feature_dimensionality(W, feature_probability, *,
                                title: str | None = "feature dimensionality against sparsity") -> Figure:
    """Each feature's dimensionality ``D_i`` (dots) and ``d_hidden / ||W||_F²`` (line) per instance.

    ``W [n_instances d_hidden n_features]``; ``feature_probability [n_instances]``, one density
    per instance (the x axis is ``1 / p``, log). Dotted lines mark the fractions where features
    cluster: 1, 1/2 (antipodal pairs), 2/5 (pentagons), 1/3 (triangles). The line is the paper's
    summary; it sits below the dots when sparse features' norms grow above 1 (as they do here,
    about 1.15, with a negative bias).
    """
    w = _instances(W, "plot_feature_dimensionality")
    p = to_numpy(feature_probability).reshape(-1)
    if len(p) != len(w):
        raise ValueError(f"plot_feature_dimensionality: {len(p)} probabilities for {len(w)} instances; "
                         f"pass one density per instance [n_instances]")
    dims = to_numpy(feature_dimensionality(torch.as_tensor(w, dtype=torch.float32)))  # [n_instances n_features]
    per_feature = to_numpy(dimensions_per_feature(torch.as_tensor(w, dtype=torch.float32)))  # [n_instances]
    fig = figure(6.5, 4.2)
    ax = fig.add_subplot()
    for value, label in [(1, "1"), (1 / 2, "1/2"), (2 / 5, "2/5"), (1 / 3, "1/3")]:
        ax.axhline(value, color="grey", linestyle=":", linewidth=0.8)
        ax.annotate(label, (1.0, value), xycoords=("axes fraction", "data"), fontsize=7, color="grey",
                    va="center", xytext=(3, 0), textcoords="offset points")
    x = np.repeat(1 / p[:, None], w.shape[2], axis=1)
    ax.scatter(x.ravel(), dims.ravel(), s=10, alpha=0.6, color="tab:blue", label="D_i, one dot per feature")
    order = np.argsort(p)[::-1]
    ax.plot(1 / p[order], per_feature[order], color="black", linewidth=1.2, label="d_hidden / ||W||_F²")
    ax.set_xscale("log")
    ax.set_ylim(-0.05, 1.1)
    ax.set_xlabel("1 / feature density  (sparser →)")
    ax.set_ylabel("dimensions per feature")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig
