"""The Fourier basis of ``Z_p``, and the transforms that read a grokking model in it.

A function ``f: Z_p -> R`` is a vector of ``p`` numbers. The Fourier basis of
``Z_p`` (``p`` odd) is ``p`` orthonormal vectors: the constant
``1/sqrt(p)``, then for each frequency ``k = 1 .. (p-1)/2`` a cosine and a sine,

    cos k: x ↦ cos(2π k x / p) · sqrt(2/p)        sin k: x ↦ sin(2π k x / p) · sqrt(2/p)

Row ``2k - 1`` of :func:`fourier_basis` is ``cos k``, row ``2k`` is ``sin k``.

>>> basis, names = fourier_basis(5)
>>> names
['const', 'cos 1', 'sin 1', 'cos 2', 'sin 2']
>>> torch.allclose(basis @ basis.T, torch.eye(5), atol=1e-6)
True

Transforms change basis along the token axes: :func:`fft1d` along one axis
(``W_E[:p]``, ``[p, d_model]``), :func:`fft2d` along two (anything indexed by
``a`` and ``b``, ``[p, p, ...]``). A vector made of frequency ``k`` only has
all its power at ``cos k``/``sin k``:

>>> x = torch.cos(2 * torch.pi * 2 * torch.arange(5) / 5)      # cos of frequency 2
>>> frequency_power(fft1d(x)).round(decimals=3).tolist()       # power at k = 1, 2
[0.0, 2.5]

The grokking model computes ``a + b mod p`` with trig identities on a few
*key frequencies*: ``cos(w(a+b)) = cos(wa)cos(wb) - sin(wa)sin(wb)``
with ``w = 2πk/p``. :func:`cos_xpy_direction` and :func:`sin_xpy_direction`
are those functions of ``(a, b)``, flattened to ``[p*p]`` and unit-norm.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "component_xpy", "cos_xpy_direction", "explained_variance_1d", "explained_variance_2d", "fft1d", "fft2d",
    "fourier_basis", "frequency_power", "frequency_power_2d", "key_frequencies", "n_frequencies",
    "neuron_clusters", "neuron_frequency_fractions", "project_onto_frequency", "sin_xpy_direction",
]


def _check_p(p: int) -> None:
    if not isinstance(p, int) or p < 3 or p % 2 == 0:
        raise ValueError(f"the Fourier tools take an odd p >= 3 (a prime, in the course), got {p!r}")


def n_frequencies(p: int) -> int:
    """The frequencies ``1 .. (p-1)/2`` of ``Z_p`` (``p`` odd): ``(p - 1) // 2`` of them."""
    _check_p(p)
    return (p - 1) // 2


def fourier_basis(p: int, dtype: torch.dtype = torch.float32) -> tuple[Tensor, list[str]]:
    """``(basis [p, p], names)``: row ``0`` constant, rows ``2k-1``/``2k`` cos/sin of frequency ``k``; orthonormal."""
    _check_p(p)
    x = torch.arange(p, dtype=torch.float64)
    rows, names = [torch.full((p,), 1.0 / math.sqrt(p), dtype=torch.float64)], ["const"]
    for k in range(1, n_frequencies(p) + 1):
        for name, fn in (("cos", torch.cos), ("sin", torch.sin)):
            v = fn(2 * math.pi * k * x / p)
            rows.append(v / v.norm())
            names.append(f"{name} {k}")
    return torch.stack(rows).to(dtype), names


def _basis_for(x: Tensor, p: int) -> Tensor:
    dtype = x.dtype if x.is_floating_point() else torch.float32
    return fourier_basis(p, dtype=torch.float64)[0].to(device=x.device, dtype=dtype)


def fft1d(x: Tensor, dim: int = 0) -> Tensor:
    """Coefficients of ``x`` in the Fourier basis along axis ``dim`` (of length ``p``); same shape.

    ``fft1d(W_E[:p])[2k-1]`` is how much each ``d_model`` direction varies like ``cos k`` over the tokens.
    """
    p = x.shape[dim]
    basis = _basis_for(x, p)
    return torch.movedim(torch.tensordot(basis, torch.movedim(x, dim, 0), dims=1), 0, dim)


def fft2d(x: Tensor) -> Tensor:
    """Coefficients along the first two axes (``a`` and ``b``, each of length ``p``): ``[p, p, ...]`` → same shape.

    Entry ``[i, j]`` pairs basis function ``i`` of ``a`` with basis function ``j`` of ``b``.
    """
    if x.ndim < 2 or x.shape[0] != x.shape[1]:
        raise ValueError(f"fft2d takes [p, p, ...] (a then b), got shape {tuple(x.shape)}")
    basis = _basis_for(x, x.shape[0])
    along_a = torch.tensordot(basis, x, dims=1)  # [i b ...]: two 2-D products, never a [p, p, p, p] tensor
    return torch.movedim(torch.tensordot(basis, along_a, dims=([1], [1])), 0, 1)


def frequency_power(coeffs: Tensor) -> Tensor:
    """Power per frequency of 1-D coefficients ``[p, ...]``: ``[(p-1)/2]``, ``cos k² + sin k²`` summed over the rest.

    The constant (row 0) is left out: it is the mean, not a frequency.
    """
    p = coeffs.shape[0]
    sq = coeffs.pow(2).reshape(p, -1).sum(-1)
    return sq[1::2] + sq[2::2]


def frequency_power_2d(coeffs: Tensor) -> Tensor:
    """Power per frequency of 2-D coefficients ``[p, p, ...]``: ``[(p-1)/2, ...]``.

    Frequency ``k`` owns the terms built from ``{1, cos k, sin k}`` of ``a`` and of ``b``
    (a 3×3 block of the 2-D spectrum) except ``1 × 1``: the linear terms
    ``cos(wa)``, ``sin(wb)``, ... and the products ``cos(wa)cos(wb)``, ...
    """
    p = coeffs.shape[0]
    n = n_frequencies(p)
    sq = coeffs.pow(2)
    out = []
    for k in range(1, n + 1):
        idx = torch.tensor([0, 2 * k - 1, 2 * k], device=coeffs.device)
        block = sq.index_select(0, idx).index_select(1, idx)
        out.append(block.sum((0, 1)) - block[0, 0])
    return torch.stack(out)


def explained_variance_1d(x: Tensor, freqs) -> float:
    """Fraction of ``x``'s variance along axis 0 (mean removed) that lies in the frequencies ``freqs``."""
    power = frequency_power(fft1d(x.double()))
    return float(power[[k - 1 for k in freqs]].sum() / power.sum())


def explained_variance_2d(x: Tensor, freqs) -> float:
    """Fraction of the variance of ``x [p, p, ...]`` over ``(a, b)`` that the terms of ``freqs`` explain.

    With ``x`` the neuron activations ``[p, p, d_mlp]``: how much of the neurons' behaviour the key
    frequencies (their linear and product terms) account for, all neurons together.
    """
    coeffs = fft2d(x.double())
    total = coeffs.pow(2).sum() - coeffs[0, 0].pow(2).sum()
    return float(frequency_power_2d(coeffs)[[k - 1 for k in freqs]].sum() / total)


def project_onto_frequency(x: Tensor, freq: int) -> Tensor:
    """The part of ``x [p, ...]`` made of frequency ``freq`` (its ``cos``/``sin`` components along axis 0).

    ``fft1d`` keeps 2 of ``p`` coefficients and transforms back; the rest is zeroed.
    """
    p = x.shape[0]
    if not 1 <= freq <= n_frequencies(p):
        raise ValueError(f"freq must be in 1..{n_frequencies(p)} for p={p}, got {freq}")
    basis = _basis_for(x, p)[2 * freq - 1: 2 * freq + 1]  # [2, p]
    return torch.tensordot(basis.T, torch.tensordot(basis, x, dims=1), dims=1)


def key_frequencies(x: Tensor, rel_threshold: float = 0.1, max_k: int | None = None) -> list[int]:
    """The frequencies that carry ``x``'s variance along axis 0, strongest first.

    ``x`` is ``[p, ...]`` (e.g. ``W_E[:p]``). A frequency is *key* when its power is at least
    ``rel_threshold`` times the strongest frequency's; ``max_k`` caps how many are returned.
    """
    power = frequency_power(fft1d(x.double()))
    order = torch.argsort(power, descending=True)
    keep = [int(k) + 1 for k in order if power[k] >= rel_threshold * power[order[0]]]
    return keep[:max_k] if max_k else keep


def neuron_frequency_fractions(acts: Tensor) -> Tensor:
    """``[(p-1)/2, d_mlp]``: the fraction of each neuron's variance over ``(a, b)`` due to each frequency.

    ``acts`` are neuron activations ``[p, p, d_mlp]`` (at ``=``, for every pair ``a, b``). A neuron
    with fraction ~1 at ``k`` is a function of ``cos/sin(wa)`` and ``cos/sin(wb)`` for that one ``w``.
    """
    coeffs = fft2d(acts.double())
    total = coeffs.pow(2).sum((0, 1)) - coeffs[0, 0].pow(2)  # [d_mlp]
    return (frequency_power_2d(coeffs) / total.clamp_min(1e-30)).float()


def neuron_clusters(fractions: Tensor, threshold: float = 0.85) -> dict[int, list[int]]:
    """Neurons grouped by their dominant frequency: ``{k: [neuron, ...]}``, for fraction ≥ ``threshold``.

    ``fractions`` is :func:`neuron_frequency_fractions`' ``[(p-1)/2, d_mlp]``. Dead or mixed neurons are
    left out. Frequencies are sorted by cluster size, largest first.
    """
    best, arg = fractions.max(dim=0)
    clusters: dict[int, list[int]] = {}
    for neuron in torch.nonzero(best >= threshold).flatten().tolist():
        clusters.setdefault(int(arg[neuron]) + 1, []).append(neuron)
    return dict(sorted(clusters.items(), key=lambda kv: -len(kv[1])))


def cos_xpy_direction(freq: int, p: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``cos(w(a+b))`` as a unit vector over the pairs, ``[p*p]`` (row ``a*p + b``), ``w = 2π freq / p``.

    Built from the basis: ``(cos a · cos b - sin a · sin b) / sqrt(2)``.
    """
    basis, _ = fourier_basis(p, torch.float64)
    c, s = basis[2 * freq - 1], basis[2 * freq]
    return ((torch.outer(c, c) - torch.outer(s, s)).flatten() / math.sqrt(2)).to(dtype)


def sin_xpy_direction(freq: int, p: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``sin(w(a+b))`` as a unit vector over the pairs, ``[p*p]``: ``(sin a · cos b + cos a · sin b) / sqrt(2)``."""
    basis, _ = fourier_basis(p, torch.float64)
    c, s = basis[2 * freq - 1], basis[2 * freq]
    return ((torch.outer(s, c) + torch.outer(c, s)).flatten() / math.sqrt(2)).to(dtype)


def component_xpy(x: Tensor, freqs) -> Tensor:
    """The part of ``x [p*p, ...]`` (a function of the pair, row ``a*p + b``) along ``cos/sin(w(a+b))`` for ``freqs``.

    For logits ``[p*p, p]`` this is the part that depends on ``a + b`` through the key frequencies
    only: what the restricted loss keeps and the excluded loss removes.
    """
    p = math.isqrt(x.shape[0])
    if p * p != x.shape[0]:
        raise ValueError(f"component_xpy takes [p*p, ...] (one row per pair a, b), got shape {tuple(x.shape)}")
    flat = x.reshape(p * p, -1)
    out = torch.zeros_like(flat)
    for k in freqs:
        for direction in (cos_xpy_direction(k, p, flat.dtype), sin_xpy_direction(k, p, flat.dtype)):
            direction = direction.to(flat.device)
            out = out + torch.outer(direction, direction @ flat)
    return out.reshape(x.shape)
