"""Chapter 4 checks: 1-D and 2-D transforms, key frequencies, projection onto one frequency."""

from __future__ import annotations

import torch

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import _basis, register_exercise

# ---------------------------------------------------------------------------
# fft1d, fft2d
# ---------------------------------------------------------------------------


def fft1d_cases() -> list[Case]:
    g = torch.Generator().manual_seed(401)
    return [dict(x=_randn(g, 7, 5), basis=_basis(7)), dict(x=_randn(g, 5, 3, 2), basis=_basis(5)),
            dict(x=_randn(g, 11, 4), basis=_basis(11))]


def _fft1d_inverse(x, basis):
    return torch.tensordot(basis.T, x, dims=1)


def _fft1d_torch_fft(x, basis):
    return torch.fft.fft(x, dim=0).real


def _fft1d_over_p(x, basis):
    return torch.tensordot(basis, x, dims=1) / basis.shape[0]


def _fft1d_flat(x, basis):
    return basis @ x.reshape(x.shape[0], -1)


register_exercise(
    id="ch04.fft1d", name="fft1d", title="1-D Fourier transform", points=1, difficulty=1,
    hints=["Coefficient i is the dot product of basis row i with x along the first axis: "
           "torch.tensordot(basis, x, dims=1)."],
    make_cases=fft1d_cases,
    mutants=[
        Mutant("inverse", "this is the inverse transform (basis.T @ x: it builds x from coefficients); the "
               "coefficients are basis @ x.", _fft1d_inverse),
        Mutant("torch-fft", "torch.fft.fft uses complex exponentials with another normalisation; project on the "
               "given real basis instead: basis @ x.", _fft1d_torch_fft),
        Mutant("divided-by-p", "the coefficients are divided by p; the basis is orthonormal, so basis @ x is "
               "already the right scale.", _fft1d_over_p),
        Mutant("flattened", "the trailing axes are flattened; keep x's shape: [p, ...] in, [p, ...] out "
               "(tensordot, or reshape back).", _fft1d_flat),
    ],
)


def fft2d_cases() -> list[Case]:
    g = torch.Generator().manual_seed(402)
    return [dict(x=_randn(g, 5, 5), basis=_basis(5)), dict(x=_randn(g, 7, 7, 3), basis=_basis(7)),
            dict(x=_randn(g, 3, 3, 2), basis=_basis(3))]


def _fft2d_only_a(x, basis):
    return torch.einsum("ia,ab...->ib...", basis, x)


def _fft2d_b_inverse(x, basis):
    return torch.einsum("ia,bj,ab...->ij...", basis, basis, x)


def _fft2d_transposed(x, basis):
    return torch.einsum("ia,jb,ab...->ji...", basis, basis, x)


def _fft2d_inverse(x, basis):
    return torch.einsum("ai,bj,ab...->ij...", basis, basis, x)


register_exercise(
    id="ch04.fft2d", name="fft2d", title="2-D Fourier transform", points=1, difficulty=2,
    hints=["Transform one axis at a time: torch.einsum('ia,ab...->ib...', basis, x), then the b axis likewise.",
           "For a matrix x this is basis @ x @ basis.T (not basis @ x @ basis)."],
    make_cases=fft2d_cases,
    mutants=[
        Mutant("only-a", "only the first axis (a) is transformed; transform b too: basis @ x @ basis.T for a "
               "matrix.", _fft2d_only_a),
        Mutant("b-inverse", "the b axis uses basis instead of basis.T (basis @ x @ basis); the coefficient of "
               "b's function j is sum_b basis[j, b] x[a, b]: basis @ x @ basis.T.", _fft2d_b_inverse),
        Mutant("transposed", "the result is transposed: entry [i, j] is a's function i and b's function j.",
               _fft2d_transposed),
        Mutant("inverse", "this is the inverse transform (basis.T on both sides); the coefficients are "
               "basis @ x @ basis.T.", _fft2d_inverse),
    ],
)

# ---------------------------------------------------------------------------
# key_frequencies
# ---------------------------------------------------------------------------


def _planted(p: int, d: int, rows: dict[int, list[float]], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    c = _randn(g, p, d, scale=1e-3)
    for row, values in rows.items():
        c[row] = torch.tensor(values)
    return c


def key_frequencies_cases() -> list[Case]:
    return [
        # cos 4 strongest, then sin 2 (sin only), then a weak frequency 1 below 10 % of the top
        dict(coeffs=_planted(11, 2, {7: [30.0, 0.0], 4: [0.0, 20.0], 1: [5.0, 5.0], 9: [1.0, 0.5]}, 403),
             rel_threshold=0.1),
        dict(coeffs=_planted(13, 3, {11: [4.0, 1.0, 0.0], 12: [0.0, 3.0, 1.0], 3: [2.0, 0.0, 0.0],
                                     6: [0.0, 0.0, 1.5], 5: [0.3, 0.0, 0.0]}, 404), rel_threshold=0.1),
        dict(coeffs=_planted(7, 1, {6: [2.0], 3: [1.0], 1: [0.6]}, 405), rel_threshold=0.2),
    ]


def _power(coeffs):
    sq = coeffs.pow(2).reshape(coeffs.shape[0], -1).sum(-1)
    return sq[1::2] + sq[2::2]


def _select(power, rel, offset=1, ascending=False, absolute=False):
    order = torch.argsort(power, descending=True, stable=True)
    limit = rel if absolute else rel * power[order[0]]
    keep = [int(i) + offset for i in order if power[i] >= limit]
    return sorted(keep) if ascending else keep


def _kf_zero_based(coeffs, rel_threshold=0.1):
    return _select(_power(coeffs), rel_threshold, offset=0)


def _kf_misaligned(coeffs, rel_threshold=0.1):
    sq = coeffs.pow(2).reshape(coeffs.shape[0], -1).sum(-1)
    return _select(sq[0:-1:2] + sq[1::2], rel_threshold)


def _kf_cos_only(coeffs, rel_threshold=0.1):
    sq = coeffs.pow(2).reshape(coeffs.shape[0], -1).sum(-1)
    return _select(sq[1::2], rel_threshold)


def _kf_ascending(coeffs, rel_threshold=0.1):
    return _select(_power(coeffs), rel_threshold, ascending=True)


def _kf_absolute(coeffs, rel_threshold=0.1):
    return _select(_power(coeffs), rel_threshold, absolute=True)


def _kf_norms(coeffs, rel_threshold=0.1):
    return _select(_power(coeffs).sqrt(), rel_threshold)


register_exercise(
    id="ch04.key_frequencies", name="key_frequencies", title="Key frequencies", points=2, difficulty=2,
    hints=["Power of frequency k: squares of rows 2k-1 (cos) and 2k (sin), summed over the other axes; "
           "power[i] is frequency i + 1.",
           "Keep power >= rel_threshold * power.max(), sorted by power, largest first "
           "(torch.argsort(descending=True))."],
    make_cases=key_frequencies_cases,
    mutants=[
        Mutant("zero-based", "the frequencies are numbered from 0; frequency k (rows 2k-1, 2k) is k, "
               "numbered from 1: add 1 to the index.", _kf_zero_based),
        Mutant("misaligned-rows", "the rows are paired (0, 1), (2, 3), ...: row 0 is the constant; "
               "frequency k is rows 2k-1 and 2k: coeffs[1::2] and coeffs[2::2].", _kf_misaligned),
        Mutant("cos-only", "only the cos rows count; a frequency's power is cos² + sin² (a wave with a phase "
               "has both).", _kf_cos_only),
        Mutant("ascending", "the frequencies are sorted by k; sort them by power, strongest first.",
               _kf_ascending),
        Mutant("absolute-threshold", "rel_threshold is used as an absolute power; it is relative: keep "
               "power >= rel_threshold * the largest power.", _kf_absolute),
        Mutant("norms", "the threshold is applied to norms (square roots); compare powers (sums of squares).",
               _kf_norms),
    ],
)

# ---------------------------------------------------------------------------
# project_onto_frequency
# ---------------------------------------------------------------------------


def project_cases() -> list[Case]:
    g = torch.Generator().manual_seed(406)
    return [dict(x=_randn(g, 7, 4), freq=2, basis=_basis(7)), dict(x=_randn(g, 11, 3), freq=5, basis=_basis(11)),
            dict(x=_randn(g, 5, 2, 2), freq=1, basis=_basis(5))]


def _proj_rows(x, basis, lo, hi):
    rows = basis[lo:hi]
    return torch.tensordot(rows.T, torch.tensordot(rows, x, dims=1), dims=1)


def _proj_cos_only(x, freq, basis):
    return _proj_rows(x, basis, 2 * freq - 1, 2 * freq)


def _proj_coeffs(x, freq, basis):
    return torch.tensordot(basis[2 * freq - 1: 2 * freq + 1], x, dims=1)


def _proj_off_by_one(x, freq, basis):
    return _proj_rows(x, basis, 2 * freq, 2 * freq + 2)


def _proj_removes(x, freq, basis):
    return x - _proj_rows(x, basis, 2 * freq - 1, 2 * freq + 1)


register_exercise(
    id="ch04.project_onto_frequency", name="project_onto_frequency",
    title="Project onto one frequency", points=1, difficulty=2,
    hints=["rows = basis[2*freq - 1 : 2*freq + 1] ([2, p]); coefficients rows @ x; back with rows.T @ coefficients."],
    make_cases=project_cases,
    mutants=[
        Mutant("cos-only", "only the cos component is kept; keep sin too (rows 2k-1 and 2k).", _proj_cos_only),
        Mutant("coefficients", "this returns the 2 coefficients; transform them back to x's coordinates "
               "(rows.T @ coefficients) so the result has x's shape.", _proj_coeffs),
        Mutant("off-by-one-rows", "rows 2k and 2k+1 are sin k and cos k+1; frequency k is rows 2k-1 (cos) and "
               "2k (sin).", _proj_off_by_one),
        Mutant("removes-frequency", "this removes the frequency and keeps the rest; keep only that frequency.",
               _proj_removes),
    ],
)
