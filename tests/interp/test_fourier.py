"""The Fourier tools of minigpt.interp against direct computations (oracles: torch.fft, least squares)."""

from __future__ import annotations

import math

import pytest
import torch

from minigpt.interp.fourier import (component_xpy, cos_xpy_direction, explained_variance_1d, explained_variance_2d,
                                    fft1d, fft2d, fourier_basis, frequency_power, frequency_power_2d,
                                    key_frequencies, neuron_clusters, neuron_frequency_fractions,
                                    project_onto_frequency, sin_xpy_direction)


@pytest.mark.parametrize("p", [3, 5, 13, 59, 113])
def test_basis_is_orthonormal(p):
    basis, names = fourier_basis(p, torch.float64)
    assert basis.shape == (p, p) and len(names) == p
    assert torch.allclose(basis @ basis.T, torch.eye(p, dtype=torch.float64), atol=1e-12)
    assert names[0] == "const" and names[1] == "cos 1" and names[-1] == f"sin {(p - 1) // 2}"


def test_basis_by_hand():
    basis, _ = fourier_basis(3, torch.float64)
    expected = torch.tensor([[1, 1, 1], [2, -1, -1], [0, math.sqrt(3), -math.sqrt(3)]], dtype=torch.float64)
    expected = expected / expected.norm(dim=1, keepdim=True)
    assert torch.allclose(basis, expected, atol=1e-12)


@pytest.mark.parametrize("p", [2, 4, 0, -3])
def test_even_or_tiny_p_is_refused(p):
    with pytest.raises(ValueError, match="odd p"):
        fourier_basis(p)


def test_fft1d_matches_torch_fft_power():
    """Power per frequency equals |rfft|² rescaled (2/p), the oracle."""
    p = 13
    x = torch.randn(p, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    coeffs = fft1d(x)
    basis, _ = fourier_basis(p, torch.float64)
    assert torch.allclose(basis.T @ coeffs, x, atol=1e-12)  # invertible: the basis is orthonormal
    oracle = (torch.fft.rfft(x, dim=0).abs() ** 2 * 2 / p)[1:].sum(-1)
    assert torch.allclose(frequency_power(coeffs), oracle, atol=1e-10)


def test_fft1d_along_another_axis():
    x = torch.randn(4, 7, dtype=torch.float64)
    assert torch.allclose(fft1d(x, dim=1), fft1d(x.T).T)


def test_fft2d_is_fft1d_twice():
    p = 7
    x = torch.randn(p, p, 3, dtype=torch.float64)
    twice = fft1d(fft1d(x, dim=0), dim=1)
    assert torch.allclose(fft2d(x), twice, atol=1e-12)
    with pytest.raises(ValueError, match=r"\[p, p"):
        fft2d(torch.randn(7, 5))


def planted_embedding(p, freqs, d_model=32, noise=0.05, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.arange(p, dtype=torch.float64)
    w = torch.zeros(p, d_model, dtype=torch.float64)
    for k in freqs:
        for fn in (torch.cos, torch.sin):
            w += fn(2 * math.pi * k * x / p)[:, None] * torch.randn(d_model, dtype=torch.float64, generator=gen)
    return w + noise * torch.randn(p, d_model, dtype=torch.float64, generator=gen)


@pytest.mark.parametrize("freqs", [[14, 35, 41], [3], [1, 56, 20, 7, 30]])
def test_key_frequencies_recovers_planted_ones(freqs):
    w = planted_embedding(113, freqs)
    assert sorted(key_frequencies(w)) == sorted(freqs)
    assert explained_variance_1d(w, freqs) > 0.99
    assert key_frequencies(w, max_k=1)[0] in freqs


def test_project_onto_frequency():
    p = 11
    x = torch.arange(p, dtype=torch.float64)
    pure = torch.cos(2 * math.pi * 3 * x / p + 0.4)
    other = torch.sin(2 * math.pi * 5 * x / p)
    assert torch.allclose(project_onto_frequency(pure + other, 3), pure, atol=1e-12)
    assert torch.allclose(project_onto_frequency(pure, 4), torch.zeros(p, dtype=torch.float64), atol=1e-12)


def test_neuron_fractions_and_clusters():
    p = 13
    a = torch.arange(p, dtype=torch.float64)[:, None]
    b = torch.arange(p, dtype=torch.float64)[None, :]
    w = lambda k: 2 * math.pi * k / p  # noqa: E731
    neurons = torch.stack([
        torch.cos(w(2) * a) * torch.cos(w(2) * b) + 0.3 * torch.sin(w(2) * b),  # pure frequency 2
        torch.cos(w(5) * (a + b)),  # pure frequency 5
        torch.cos(w(2) * a) + torch.cos(w(5) * b),  # half and half
    ], dim=-1)
    f = neuron_frequency_fractions(neurons)
    assert f.shape == (6, 3)
    assert f[1, 0] > 0.999 and f[4, 1] > 0.999
    assert abs(f[1, 2] - 0.5) < 1e-6 and abs(f[4, 2] - 0.5) < 1e-6
    assert neuron_clusters(f) == {2: [0], 5: [1]}
    assert abs(explained_variance_2d(neurons, [2, 5]) - 1.0) < 1e-9
    assert torch.allclose(frequency_power_2d(fft2d(neurons)).sum(0),
                          fft2d(neurons).pow(2).sum((0, 1)) - fft2d(neurons)[0, 0].pow(2))


@pytest.mark.parametrize("k", [1, 3])
def test_xpy_directions_are_the_trig_functions(k):
    p = 7
    a = torch.arange(p, dtype=torch.float64).repeat_interleave(p)
    b = torch.arange(p, dtype=torch.float64).repeat(p)
    cos = torch.cos(2 * math.pi * k * (a + b) / p)
    sin = torch.sin(2 * math.pi * k * (a + b) / p)
    assert torch.allclose(cos_xpy_direction(k, p, torch.float64), cos / cos.norm(), atol=1e-12)
    assert torch.allclose(sin_xpy_direction(k, p, torch.float64), sin / sin.norm(), atol=1e-12)


def test_component_xpy_is_a_least_squares_projection():
    p, freqs = 7, [1, 3]
    a = torch.arange(p, dtype=torch.float64).repeat_interleave(p)
    b = torch.arange(p, dtype=torch.float64).repeat(p)
    design = torch.stack([fn(2 * math.pi * k * (a + b) / p) for k in freqs for fn in (torch.cos, torch.sin)], 1)
    y = torch.randn(p * p, 4, dtype=torch.float64)
    coef = torch.linalg.lstsq(design, y).solution
    assert torch.allclose(component_xpy(y, freqs), design @ coef, atol=1e-10)
