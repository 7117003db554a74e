"""Figures of the Fourier analysis of a grokking model (matplotlib ``Figure`` objects, no pyplot state).

>>> import torch
>>> fig = plot_frequency_spectrum(torch.rand(56), key=[14, 35])
>>> fig.axes[0].get_xlabel()
'frequency k'
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .plots import CMAP, DIVERGING, figure, to_numpy

__all__ = ["plot_frequency_spectrum", "plot_fourier_coeffs", "plot_grid", "plot_grids", "plot_neuron_fractions",
           "plot_progress", "plot_spectrum_over_training"]

KEY_COLOR = "tab:red"


def plot_frequency_spectrum(power, key: Sequence[int] = (), *, title: str = "power per frequency",
                            y_label: str = "power (cos² + sin²)", log_y: bool = False) -> Figure:
    """Bars of a spectrum ``[(p-1)/2]`` (frequency ``k = 1 ..``), the key frequencies in red."""
    power = to_numpy(power)
    ks = np.arange(1, len(power) + 1)
    fig = figure(7, 3)
    ax = fig.add_subplot()
    colors = [KEY_COLOR if k in set(key) else "tab:blue" for k in ks]
    ax.bar(ks, power, color=colors, width=0.8)
    for k in key:
        ax.annotate(str(k), (k, power[k - 1]), ha="center", va="bottom", fontsize=8, color=KEY_COLOR)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("frequency k")
    ax.set_ylabel(y_label)
    ax.set_title(title)
    return fig


def plot_fourier_coeffs(coeffs, names: Sequence[str] | None = None, *, title: str = "Fourier coefficients",
                        x_label: str = "d_model", max_labels: int = 40) -> Figure:
    """1-D coefficients ``[p, n]`` (rows = basis functions) as an image, basis names on the rows."""
    c = to_numpy(coeffs)
    lim = float(np.abs(c).max()) or 1.0
    fig = figure(7, 5)
    ax = fig.add_subplot()
    im = ax.imshow(c, cmap=DIVERGING, vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
    if names is not None:
        step = 1 if len(names) <= max_labels else 2 * math.ceil(len(names) / (2 * max_labels))
        rows = [0] + list(range(1, len(names), step))  # the constant, then cos rows: one label per frequency
        ax.set_yticks(rows, [names[i] for i in rows], fontsize=6)
    ax.set_xlabel(x_label)
    ax.set_ylabel("Fourier basis function")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def plot_grid(grid, *, title: str = "", x_label: str = "b", y_label: str = "a", signed: bool | None = None,
              ticks: Sequence[str] | None = None) -> Figure:
    """One function of ``(a, b)``, ``[p, p]`` (an activation, a 2-D spectrum with basis names as ``ticks``)."""
    return plot_grids({title: grid}, x_label=x_label, y_label=y_label, signed=signed, ticks=ticks)


def plot_grids(grids: Mapping[str, object], *, x_label: str = "b", y_label: str = "a", signed: bool | None = None,
               ticks: Sequence[str] | None = None, cols: int = 4, title: str | None = None) -> Figure:
    """Several ``[p, p]`` functions of ``(a, b)`` side by side, ``{title: grid}``."""
    items = [(name, to_numpy(g)) for name, g in grids.items()]
    n = len(items)
    cols = min(cols, n)
    rows = (n + cols - 1) // cols
    fig = figure(3.2 * cols + 0.4, 3.0 * rows + 0.3)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (name, g) in zip(axes, items):
        sgn = bool(g.min() < 0) if signed is None else signed
        lim = float(np.abs(g).max()) or 1.0
        im = ax.imshow(g, cmap=DIVERGING if sgn else CMAP, vmin=-lim if sgn else 0, vmax=lim,
                       interpolation="nearest")
        if ticks is not None:
            step = 1 if len(ticks) <= 32 else 2 * math.ceil(len(ticks) / 64)  # even: cos rows stay cos rows
            idx = range(0, len(ticks), step)
            ax.set_xticks(idx, [ticks[i] for i in idx], rotation=90, fontsize=5)
            ax.set_yticks(idx, [ticks[i] for i in idx], fontsize=5)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        fig.colorbar(im, ax=ax, shrink=0.7)
    for ax in axes[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return fig


def plot_neuron_fractions(fractions, clusters: Mapping[int, Sequence[int]] | None = None, *,
                          title: str = "fraction of each neuron's variance per frequency") -> Figure:
    """``[(p-1)/2, d_mlp]`` fractions as an image; neurons sorted by cluster when ``clusters`` is given."""
    f = to_numpy(fractions)
    order = list(range(f.shape[1]))
    if clusters:
        grouped = [n for members in clusters.values() for n in members]
        order = grouped + [n for n in order if n not in set(grouped)]
    fig = figure(8, 4)
    ax = fig.add_subplot()
    im = ax.imshow(f[:, order], cmap=CMAP, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_xlabel("neuron" + (" (sorted by cluster)" if clusters else ""))
    ax.set_ylabel("frequency k")
    ax.set_yticks(range(0, f.shape[0], 5), [str(k + 1) for k in range(0, f.shape[0], 5)])
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="fraction of variance")
    return fig


def plot_progress(rows: Sequence[Mapping], keys: Sequence[str], *, log_y: bool = True, log_x: bool = False,
                  marks: Mapping[str, float] | None = None, title: str | None = None,
                  y_label: str = "loss") -> Figure:
    """Curves over training from history rows ``[{"step": ..., key: ...}, ...]``; ``marks``: labelled steps."""
    fig = figure(7, 4)
    ax = fig.add_subplot()
    for key in keys:
        pts = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
        if pts:
            x, y = zip(*pts)
            ax.plot(x, y, label=key.replace("_", " "), linewidth=1.5)
    for i, (label, step) in enumerate((marks or {}).items()):
        if step is None:
            continue
        ax.axvline(step, color="grey", linestyle="--", linewidth=1)
        ax.text(step, 0.99 - 0.06 * (i % 3), " " + label, transform=ax.get_xaxis_transform(), fontsize=8, va="top",
                color="grey")  # staggered, so that close marks stay readable
    if log_y:
        ax.set_yscale("log")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(y_label)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_spectrum_over_training(steps: Sequence[int], spectra, *, title: str = "embedding power per frequency",
                                log: bool = True) -> Figure:
    """``spectra [n_steps, (p-1)/2]`` as an image: time across, frequency up. Key frequencies light up."""
    s = to_numpy(spectra)
    s = s / s.sum(axis=1, keepdims=True).clip(min=1e-30)
    fig = figure(8, 4)
    ax = fig.add_subplot()
    shown = np.log10(s.clip(min=1e-4)) if log else s
    im = ax.imshow(shown.T, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest",
                   extent=(steps[0], steps[-1], 0.5, s.shape[1] + 0.5))
    ax.set_xlabel("epoch")
    ax.set_ylabel("frequency k")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="log10 share of power" if log else "share of power")
    return fig
