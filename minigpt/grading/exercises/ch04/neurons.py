"""Chapter 4 checks: neuron clusters by frequency, the directions cos(w(a+b)) and sin(w(a+b))."""

from __future__ import annotations

import math

import torch

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import _pairs, register_exercise

# ---------------------------------------------------------------------------
# neuron_frequency_clusters
# ---------------------------------------------------------------------------


def _neuron_coeffs(p: int, plan: list[tuple], seed: int) -> torch.Tensor:
    """2-D coefficients ``[p, p, len(plan)]``; each neuron's plan is ``(freq, mean, linear, products, other)``."""
    g = torch.Generator().manual_seed(seed)
    c = _randn(g, p, p, len(plan), scale=0.02)
    for n, (k, mean, linear, products, other) in enumerate(plan):
        c[0, 0, n] = mean
        if k:
            i, j = 2 * k - 1, 2 * k
            c[i, 0, n], c[0, j, n] = linear, -linear
            c[i, i, n], c[j, j, n], c[i, j, n] = products, -products, 0.5 * products
        if other:
            c[1, 1, n] += other  # frequency 1's product term: mixes the neuron
    return c


def clusters_cases() -> list[Case]:
    return [
        dict(coeffs=_neuron_coeffs(7, [(2, 0.0, 0.3, 1.0, 0.0), (3, 5.0, 0.1, 1.0, 0.0), (2, 0.0, 1.0, 0.2, 0.0),
                                       (3, 0.0, 0.0, 1.0, 0.8), (0, 0.0, 0.0, 0.0, 0.0)], 407), threshold=0.85),
        dict(coeffs=_neuron_coeffs(5, [(2, 0.0, 0.0, 1.0, 0.0), (2, 2.0, 0.5, 0.4, 0.0), (1, 0.0, 0.5, 1.0, 0.0)],
                                   408), threshold=0.85),
        dict(coeffs=_neuron_coeffs(7, [(3, 0.0, 0.2, 1.0, 0.45), (1, 0.0, 0.0, 1.0, 0.0)], 409), threshold=0.7),
    ]


def _fractions(coeffs, blocks, mean_counts=False):
    sq = coeffs.pow(2).clone()
    if not mean_counts:
        sq[0, 0] = 0
    total = sq.sum((0, 1))
    out = []
    for k in range(1, (coeffs.shape[0] - 1) // 2 + 1):
        idx = torch.tensor(blocks(k))
        block = sq[idx][:, idx].sum((0, 1))
        if mean_counts and 0 in blocks(k):
            block = block - sq[0, 0]
        out.append(block / total)
    return torch.stack(out)


def _label(fractions, threshold, offset=1, use_threshold=True):
    best, arg = fractions.max(dim=0)
    if not use_threshold:
        return arg + offset
    return torch.where(best >= threshold, arg + offset, torch.zeros_like(arg))


def _full(k):
    return [0, 2 * k - 1, 2 * k]


def _nc_mean_in_variance(coeffs, threshold=0.85):
    return _label(_fractions(coeffs, _full, mean_counts=True), threshold)


def _nc_products_only(coeffs, threshold=0.85):
    return _label(_fractions(coeffs, lambda k: [2 * k - 1, 2 * k]), threshold)


def _nc_zero_based(coeffs, threshold=0.85):
    return _label(_fractions(coeffs, _full), threshold, offset=0)


def _nc_no_threshold(coeffs, threshold=0.85):
    return _label(_fractions(coeffs, _full), threshold, use_threshold=False)


register_exercise(
    id="ch04.neuron_frequency_clusters", name="neuron_frequency_clusters",
    title="Neurons by frequency", points=2, difficulty=3,
    hints=["Zero the mean term first (sq = coeffs**2; sq[0, 0] = 0); a neuron's variance is sq.sum((0, 1)).",
           "Frequency k's block: rows and columns [0, 2k-1, 2k] (linear terms and products), sq[idx][:, idx].",
           "Frequencies are numbered from 1; neurons below the threshold get 0."],
    make_cases=clusters_cases,
    mutants=[
        Mutant("mean-in-variance", "the mean (coefficient [0, 0]) is counted in the neuron's variance; a "
               "variance leaves the mean out: set sq[0, 0] = 0 first.", _nc_mean_in_variance),
        Mutant("products-only", "only the products (the 2x2 block of cos/sin k rows and columns) count; the "
               "linear terms cos(wa), sin(wb), ... (row or column 0) belong to frequency k too.", _nc_products_only),
        Mutant("zero-based", "the frequencies are numbered from 0; the block of rows 2k-1, 2k is frequency k "
               "(numbered from 1; 0 means no cluster).", _nc_zero_based),
        Mutant("no-threshold", "every neuron gets its best frequency; a neuron whose best fraction is below "
               "threshold belongs to no cluster: give it 0.", _nc_no_threshold),
    ],
)

# ---------------------------------------------------------------------------
# xpy_directions
# ---------------------------------------------------------------------------


def xpy_cases() -> list[Case]:
    return [dict(freq=1, p=5), dict(freq=2, p=7), dict(freq=4, p=11)]


def _xpy(freq, p, sign=1.0, two_pi=True, normalise=True):
    a, b = _pairs(p)
    angle = (2 * math.pi if two_pi else 1.0) * freq * (a + sign * b) / p
    cos, sin = torch.cos(angle), torch.sin(angle)
    return (cos / cos.norm(), sin / sin.norm()) if normalise else (cos, sin)


def _xpy_not_normalised(freq, p):
    return _xpy(freq, p, normalise=False)


def _xpy_minus(freq, p):
    return _xpy(freq, p, sign=-1.0)


def _xpy_no_2pi(freq, p):
    return _xpy(freq, p, two_pi=False)


def _xpy_swapped(freq, p):
    return _xpy(freq, p)[::-1]


register_exercise(
    id="ch04.xpy_directions", name="xpy_directions",
    title="The directions cos(w(a+b)) and sin(w(a+b))", points=1, difficulty=1,
    hints=["a = arange(p).repeat_interleave(p), b = arange(p).repeat(p) (float64); angle = 2*pi*freq*(a + b)/p.",
           "Divide each vector by its norm."],
    make_cases=xpy_cases,
    mutants=[
        Mutant("not-normalised", "the vectors are not unit vectors: divide each by its norm (the projections "
               "of the losses assume unit directions).", _xpy_not_normalised),
        Mutant("a-minus-b", "this is cos/sin(w(a - b)); the model computes a + b: cos(w(a + b)).", _xpy_minus),
        Mutant("no-2pi", "the angle is freq*(a+b)/p; w = 2*pi*freq/p.", _xpy_no_2pi),
        Mutant("swapped", "the two directions are swapped: return (cos, sin).", _xpy_swapped),
    ],
)
