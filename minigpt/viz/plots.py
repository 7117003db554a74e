"""Matplotlib figures with one look, for every chapter. Headless-safe.

Each helper builds a ``matplotlib.figure.Figure`` directly (no pyplot, no
``plt.show``, no global state), so it works on a server, in CI and in a
notebook, where a returned Figure is displayed inline. Save with
``fig.savefig("name.png")``.

>>> import torch
>>> fig = plot_attention_pattern(torch.tensor([[1.0, 0.0], [0.4, 0.6]]), ["A", "B"])
>>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
('key position', 'query position')
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

CMAP = "Blues"            # weights in [0, 1]
DIVERGING = "RdBu_r"      # signed scores, centred on 0


def to_numpy(x: Any) -> np.ndarray:
    """A tensor (any device or dtype), an array or a list as a float64 NumPy array, for plotting."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _expect(x: np.ndarray, ndims: tuple[int, ...], what: str, axes: str) -> None:
    if x.ndim not in ndims:
        raise ValueError(f"{what}: expected shape {axes}, got shape {tuple(x.shape)}")


def figure(width: float, height: float) -> Figure:
    """A new ``Figure`` of ``width`` x ``height`` inches with constrained layout (no pyplot state)."""
    return Figure(figsize=(width, height), layout="constrained")


def _tick_tokens(ax, str_tokens: Sequence[str] | None, n: int, axis: str, max_labels: int = 64) -> None:
    if str_tokens is None:
        return
    if len(str_tokens) != n:
        raise ValueError(f"got {len(str_tokens)} string tokens for {n} positions")
    step = max(1, math.ceil(n / max_labels))
    ticks = list(range(0, n, step))
    labels = [repr(str_tokens[i])[1:-1] for i in ticks]
    if axis == "x":
        ax.set_xticks(ticks, labels, rotation=90, fontsize=7)
    else:
        ax.set_yticks(ticks, labels, fontsize=7)


def plot_attention_pattern(pattern, str_tokens: Sequence[str] | None = None, *, title: str | None = None) -> Figure:
    """Heatmap of one head's pattern ``[query_pos, key_pos]``, token labels on both axes."""
    p = to_numpy(pattern)
    _expect(p, (2,), "plot_attention_pattern", "[query_pos, key_pos]")
    size = min(10.0, 2.5 + 0.18 * max(p.shape))
    fig = figure(size + 1, size)
    ax = fig.add_subplot()
    im = ax.imshow(p, cmap=CMAP, vmin=0, vmax=1, interpolation="nearest")
    _tick_tokens(ax, str_tokens, p.shape[1], "x")
    _tick_tokens(ax, str_tokens, p.shape[0], "y")
    ax.set_xlabel("key position")
    ax.set_ylabel("query position")
    ax.set_title(title or "attention pattern")
    fig.colorbar(im, ax=ax, shrink=0.8, label="weight")
    return fig


def plot_curves(curves: Mapping[str, Any], *, log_x: bool = False, log_y: bool = False,
                x_label: str = "step", y_label: str = "loss", title: str | None = None) -> Figure:
    """Line plot of ``{name: values}`` or ``{name: (steps, values)}``, e.g. train and test loss."""
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("plot_curves takes a non-empty dict {name: values or (steps, values)}")
    fig = figure(6, 4)
    ax = fig.add_subplot()
    for name, curve in curves.items():
        if isinstance(curve, tuple) and len(curve) == 2:
            x, y = to_numpy(curve[0]), to_numpy(curve[1])
        else:
            y = to_numpy(curve)
            x = np.arange(1 if log_x else 0, len(y) + (1 if log_x else 0))
        if x.shape != y.shape or y.ndim != 1:
            raise ValueError(f"curve {name!r}: steps {x.shape} and values {y.shape} must be equal 1-D shapes")
        ax.plot(x, y, label=str(name), linewidth=1.5)
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    return fig


def plot_head_grid(patterns, str_tokens: Sequence[str] | None = None, *, title: str | None = None) -> Figure:
    """Every head's pattern, ``[n_heads, q, k]`` (one row) or ``[n_layers, n_heads, q, k]`` (a row per layer)."""
    p = to_numpy(patterns)
    _expect(p, (3, 4), "plot_head_grid", "[n_heads, query_pos, key_pos] or [n_layers, n_heads, query_pos, key_pos]")
    if p.ndim == 3:
        p = p[None]
    n_layers, n_heads = p.shape[:2]
    fig = figure(1.6 * n_heads + 0.8, 1.6 * n_layers + 0.6)
    axes = fig.subplots(n_layers, n_heads, squeeze=False)
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer, head]
            im = ax.imshow(p[layer, head], cmap=CMAP, vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"L{layer}H{head}", fontsize=8)
    if str_tokens is not None and len(str_tokens) != p.shape[-1]:
        raise ValueError(f"got {len(str_tokens)} string tokens for {p.shape[-1]} positions")
    fig.colorbar(im, ax=axes, shrink=0.6, label="weight")
    if title:
        fig.suptitle(title)
    return fig


def plot_head_scores(scores, title: str = "head scores", *, kind: str = "heatmap", label: str = "score") -> Figure:
    """Per-head scores ``[n_layers, n_heads]`` (e.g. induction score) as a heatmap or grouped bars."""
    s = to_numpy(scores)
    _expect(s, (2,), "plot_head_scores", "[n_layers, n_heads]")
    n_layers, n_heads = s.shape
    fig = figure(max(4.0, 0.5 * n_heads + 2), max(2.5, 0.45 * n_layers + 1.5))
    ax = fig.add_subplot()
    if kind == "heatmap":
        lim = float(np.abs(s).max()) or 1.0
        signed = s.min() < 0
        im = ax.imshow(s, cmap=DIVERGING if signed else CMAP, vmin=-lim if signed else 0, vmax=lim, aspect="auto")
        ax.set_xticks(range(n_heads))
        ax.set_yticks(range(n_layers))
        for (layer, head), v in np.ndenumerate(s):
            ax.text(head, layer, f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(v) > 0.6 * lim else "black")
        fig.colorbar(im, ax=ax, label=label)
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
    elif kind == "bar":
        width = 0.8 / n_layers
        for layer in range(n_layers):
            ax.bar(np.arange(n_heads) + layer * width, s[layer], width, label=f"layer {layer}")
        ax.set_xticks(np.arange(n_heads) + 0.4 - width / 2, [str(h) for h in range(n_heads)])
        ax.set_xlabel("head")
        ax.set_ylabel(label)
        ax.legend()
    else:
        raise ValueError(f"kind must be 'heatmap' or 'bar', got {kind!r}")
    ax.set_title(title)
    return fig


def plot_matrix(matrix, x_label: str = "", y_label: str = "", title: str | None = None, *,
                x_ticks: Sequence[str] | None = None, y_ticks: Sequence[str] | None = None,
                signed: bool | None = None) -> Figure:
    """Any 2-D matrix as an image (e.g. a QK/OV circuit, Fourier coefficients), with labelled axes."""
    m = to_numpy(matrix)
    _expect(m, (2,), "plot_matrix", "[rows, columns]")
    signed = bool(m.min() < 0) if signed is None else signed
    lim = float(np.abs(m).max()) or 1.0
    fig = figure(6, 5)
    ax = fig.add_subplot()
    im = ax.imshow(m, cmap=DIVERGING if signed else CMAP, vmin=-lim if signed else None,
                   vmax=lim if signed else None, aspect="auto", interpolation="nearest")
    if x_ticks is not None:
        _tick_tokens(ax, x_ticks, m.shape[1], "x")
    if y_ticks is not None:
        _tick_tokens(ax, y_ticks, m.shape[0], "y")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    if title:
        ax.set_title(title)
    fig.colorbar(im, ax=ax)
    return fig
