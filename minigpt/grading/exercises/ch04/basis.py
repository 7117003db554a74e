"""Chapter 4 checks: the task's data and the Fourier basis."""

from __future__ import annotations

import math

import torch

from ...registry import Case, Mutant
from ._common import register_exercise

# ---------------------------------------------------------------------------
# modular_pairs
# ---------------------------------------------------------------------------


def modular_pairs_cases() -> list[Case]:
    return [dict(p=3), dict(p=5), dict(p=7)]


def _pairs_ab(p):
    return torch.arange(p).repeat_interleave(p), torch.arange(p).repeat(p)


def _mp_no_mod(p):
    a, b = _pairs_ab(p)
    return torch.stack([a, b, torch.full_like(a, p)], 1), a + b


def _mp_b_major(p):
    b, a = _pairs_ab(p)
    return torch.stack([a, b, torch.full_like(a, p)], 1), (a + b) % p


def _mp_no_eq(p):
    a, b = _pairs_ab(p)
    return torch.stack([a, b], 1), (a + b) % p


def _mp_eq_p_plus_1(p):
    a, b = _pairs_ab(p)
    return torch.stack([a, b, torch.full_like(a, p + 1)], 1), (a + b) % p


def _mp_eq_zero(p):
    a, b = _pairs_ab(p)
    return torch.stack([a, b, torch.zeros_like(a)], 1), (a + b) % p


register_exercise(
    id="ch04.modular_pairs", name="modular_pairs", title="The data: every a + b mod p", points=1, difficulty=1,
    hints=["a = torch.arange(p).repeat_interleave(p) and b = torch.arange(p).repeat(p) "
           "list the pairs in row a * p + b.",
           "Tokens [a, b, p] (torch.stack(..., dim=1)); labels (a + b) % p."],
    make_cases=modular_pairs_cases,
    mutants=[
        Mutant("no-mod", "the labels are a + b, not reduced mod p: take (a + b) % p (answers are tokens 0..p-1).",
               _mp_no_mod),
        Mutant("b-major", "the pairs are listed b first (row b * p + a); list them a first, row a * p + b: "
               "a = arange(p).repeat_interleave(p), b = arange(p).repeat(p).", _mp_b_major),
        Mutant("no-eq-token", "the tokens have no '=' at the end: each row is [a, b, p], three tokens, "
               "and the model answers at the '='.", _mp_no_eq),
        Mutant("eq-token-p-plus-1", "the '=' token is p + 1; the residues use 0..p-1, so '=' is token p "
               "(the vocabulary has p + 1 tokens).", _mp_eq_p_plus_1),
        Mutant("eq-token-zero", "the '=' token is 0, which is also the residue 0; '=' is token p.", _mp_eq_zero),
    ],
)

# ---------------------------------------------------------------------------
# fourier_basis
# ---------------------------------------------------------------------------


def fourier_basis_cases() -> list[Case]:
    return [dict(p=3), dict(p=7), dict(p=13)]


def _rows(p, two_pi=True, sin_first=False):
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.ones(p, dtype=torch.float64)]
    for k in range(1, (p - 1) // 2 + 1):
        angle = (2 * math.pi if two_pi else 1.0) * k * x / p
        pair = [torch.cos(angle), torch.sin(angle)]
        rows += pair[::-1] if sin_first else pair
    return torch.stack(rows)


def _unit(rows):
    return (rows / rows.norm(dim=1, keepdim=True)).float()


def _fb_not_normalised(p):
    return _rows(p).float()


def _fb_sin_first(p):
    return _unit(_rows(p, sin_first=True))


def _fb_no_2pi(p):
    return _unit(_rows(p, two_pi=False))


def _fb_columns(p):
    return _unit(_rows(p)).T.contiguous()


def _fb_sqrt_p(p):
    return (_rows(p) / math.sqrt(p)).float()


register_exercise(
    id="ch04.fourier_basis", name="fourier_basis", title="The Fourier basis of Z_p", points=2, difficulty=1,
    hints=["Rows: ones, then cos(2*pi*k*x/p) and sin(2*pi*k*x/p) for k = 1 .. (p-1)//2, over x = torch.arange(p).",
           "Divide each row by its own norm: basis / basis.norm(dim=1, keepdim=True)."],
    make_cases=fourier_basis_cases,
    mutants=[
        Mutant("not-normalised", "the rows are not unit vectors: divide each row by its own norm "
               "(the constant by sqrt(p), each cos/sin by sqrt(p/2)).", _fb_not_normalised),
        Mutant("sin-before-cos", "sin k comes before cos k; row 2k-1 is cos k and row 2k is sin k.", _fb_sin_first),
        Mutant("no-2pi", "the angle is k*x/p; a frequency-k wave makes k full turns over Z_p: 2*pi*k*x/p.",
               _fb_no_2pi),
        Mutant("columns", "the basis functions are the columns; make them the rows (basis[i] is basis "
               "function i), so that basis @ x gives coefficients.", _fb_columns),
        Mutant("divided-by-sqrt-p", "every row is divided by sqrt(p): right for the constant, but a cos/sin "
               "row has norm sqrt(p/2); divide each row by its own norm.", _fb_sqrt_p),
    ],
)
