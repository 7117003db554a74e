"""Chapter 4's registrar, and the helpers only its checks share (the Fourier basis, pairs, trig logits)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ...registry import exercise_registrar

register_exercise = exercise_registrar(chapter=4, file="ch04_grokking.py")


def _basis(p: int) -> Tensor:
    """The reference Fourier basis of Z_p, float32 ``[p, p]`` (rows: const, cos 1, sin 1, ...)."""
    from ....interp.fourier import fourier_basis

    return fourier_basis(p)[0]


def _pairs(p: int) -> tuple[Tensor, Tensor]:
    """``a`` and ``b`` of every pair, row ``a * p + b``, as float64 ``[p*p]``."""
    a = torch.arange(p, dtype=torch.float64).repeat_interleave(p)
    b = torch.arange(p, dtype=torch.float64).repeat(p)
    return a, b


def _trig_logits(g: torch.Generator, p: int, freqs, noise: float = 1.0) -> Tensor:
    """Logits ``[p*p, p]`` (float64) of a half-formed Fourier circuit: ``Σ_k cos(w_k(a+b-c))`` plus noise."""
    a, b = _pairs(p)
    c = torch.arange(p, dtype=torch.float64)
    logits = torch.randn(p * p, p, generator=g, dtype=torch.float64) * noise
    for k in freqs:
        w = 2 * math.pi * k / p
        logits += 3.0 * torch.cos(w * ((a + b)[:, None] - c[None, :]))
    return logits + torch.randn(1, p, generator=g, dtype=torch.float64)  # a per-answer bias (the mean term)

