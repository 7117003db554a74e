"""Chapter 3 checks: reading one head, by its OV circuit's eigenvalues and by what its queries and keys read."""

from __future__ import annotations

import torch
from torch import Tensor

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import register_exercise

# ---------------------------------------------------------------------------
# copying_score
# ---------------------------------------------------------------------------


def copying_cases() -> list[Case]:
    g = torch.Generator().manual_seed(312)
    A = _randn(g, 3, 9, 4)
    # a copying-like circuit (B close to A.T), a random one, an anti-copying one: every sign and complex pairs
    B = torch.stack([A[0].T + 0.6 * _randn(g, 4, 9), _randn(g, 4, 9), -A[2].T + 0.6 * _randn(g, 4, 9)])
    A2, B2 = _randn(g, 8, 3), _randn(g, 3, 8)
    return [dict(A=A, B=B), dict(A=A2, B=B2)]


def _eigenvalues(A: Tensor, B: Tensor) -> Tensor:
    return torch.linalg.eigvals(B @ A)  # [..., k] complex


def _real_first(A, B):
    eig = _eigenvalues(A, B).real
    return eig.sum(dim=-1) / eig.abs().sum(dim=-1)


def _positive_share(A, B):
    eig = _eigenvalues(A, B)
    return eig.real.clamp(min=0).sum(dim=-1) / eig.abs().sum(dim=-1)


def _symmetric_solver(A, B):
    eig = torch.linalg.eigvalsh(B @ A)
    return eig.sum(dim=-1) / eig.abs().sum(dim=-1)


def _singular_values(A, B):
    S = torch.linalg.svdvals(B @ A)
    return S.sum(dim=-1) / S.abs().sum(dim=-1)


register_exercise(
    id="ch03.copying_score", name="copying_score", title="Copying score from eigenvalues", points=1, difficulty=2,
    hints=["The non-zero eigenvalues of A @ B are the eigenvalues of the small B @ A: torch.linalg.eigvals(B @ A) "
           "(complex, even for a real matrix).",
           "Sum the complex eigenvalues, divide by the sum of their moduli (.abs() on the complex tensor), and take "
           ".real of the ratio at the end."],
    make_cases=copying_cases,
    mutants=[
        Mutant("singular-values", "singular values are never negative, so this is always 1: the sign of what a head "
               "does lives in the eigenvalues. Use torch.linalg.eigvals(B @ A).", _singular_values),
        Mutant("real-part-first", "the real parts were taken before the absolute values, so |λ| of a complex "
               "eigenvalue lost its imaginary part; take .abs() of the complex eigenvalues, and .real of the ratio "
               "only at the end.", _real_first),
        Mutant("positive-count", "this is the fraction of eigenvalues with a positive real part; the score weighs "
               "each by its size: Σλ / Σ|λ|.",
               lambda A, B: (_eigenvalues(A, B).real > 0).float().mean(dim=-1)),
        Mutant("positive-share", "this is the positive eigenvalues' share of the mass, in [0, 1]; the score counts "
               "negative eigenvalues against the positive ones, Σλ / Σ|λ|, in [-1, 1].", _positive_share),
        Mutant("symmetric-solver", "torch.linalg.eigvalsh assumes a symmetric matrix and reads only one triangle of "
               "it; a circuit is not symmetric: use torch.linalg.eigvals.", _symmetric_solver),
        Mutant("not-normalised", "this is Σλ (the trace), which grows with the weights' scale; divide by Σ|λ|.",
               lambda A, B: _eigenvalues(A, B).sum(dim=-1).real),
    ],
    atol=1e-4,  # the dense route, eigvals(A @ B), adds n - k eigenvalues that are zero up to rounding
)


# ---------------------------------------------------------------------------
# decompose_q, decompose_k: the same mistakes, on queries and on keys
# ---------------------------------------------------------------------------


def decompose_cases() -> list[Case]:
    g = torch.Generator().manual_seed(313)
    cases = []
    for n_components, batch, pos, d_model, d_head in ((4, 2, 3, 6, 2), (3, 1, 4, 5, 3), (5, 3, 2, 4, 2)):
        cases.append(dict(components=_randn(g, n_components, batch, pos, d_model, shift=0.5),
                          scale=torch.rand(batch, pos, 1, generator=g) + 0.5,
                          W=_randn(g, d_model, d_head), b=_randn(g, d_head)))
    return cases


def _parts(components, scale, W, b, *, centre=True, divide=True, times=False, bias="row", axis=-1):
    if centre:
        components = components - components.mean(dim=axis, keepdim=True)
    if divide:
        components = components * scale if times else components / scale
    parts = components @ W
    if bias == "row":
        return torch.cat([parts, b.expand_as(parts[0])[None]])
    return parts + b if bias == "every" else parts


def _register_decompose(*, name: str, title: str, side: str, weight: str, bias: str, difficulty: int,
                        hints: list[str], **fields) -> None:
    """``decompose_q`` or ``decompose_k``: the function takes (components, scale, W_Q|W_K, b_Q|b_K)."""

    def renamed(case: Case) -> Case:
        return dict(components=case["components"], scale=case["scale"], **{weight: case["W"], bias: case["b"]})

    def mistake(**wrong):
        return lambda components, scale, **weights: _parts(components, scale, weights[weight], weights[bias], **wrong)

    register_exercise(
        id=f"ch03.{name}", name=name, title=title, points=1, difficulty=difficulty, hints=hints,
        make_cases=lambda: [renamed(case) for case in decompose_cases()],
        mutants=[
            Mutant("not-centred", f"each component's mean over d_model was not subtracted; LayerNorm centres the "
                   f"residual, and the mean is linear: subtract each component's own mean (dim=-1) before {weight}.",
                   mistake(centre=False)),
            Mutant("not-scaled", "the components were not divided by scale; LayerNorm divides the centred residual "
                   "by its scale, one number per position ([batch, pos, 1]).", mistake(divide=False)),
            Mutant("times-scale", "the components were multiplied by scale; LayerNorm divides by it.",
                   mistake(times=True)),
            Mutant("centred-over-pos", "the mean was taken over the positions; LayerNorm centres each position's "
                   "vector over d_model: mean(dim=-1).", mistake(axis=-2)),
            Mutant("bias-in-every-part", f"{bias} was added to every component's part, so the parts sum to "
                   f"n_components x {bias} too many; add it once, as a part of its own at the end.",
                   mistake(bias="every")),
            Mutant("no-bias-part", f"the bias part is missing: without {bias} the parts do not sum to the {side}; "
                   f"append {bias} (the same at every position) as the last part.", mistake(bias="none")),
        ],
        **fields,
    )


_register_decompose(
    name="decompose_q", title="A head's queries by component", side="queries", weight="W_Q", bias="b_Q",
    difficulty=2,
    hints=["LayerNorm's mean is linear: centre each component on its own, (c - c.mean(dim=-1, keepdim=True)), "
           "then divide by scale ([batch, pos, 1] broadcasts).",
           "parts = centred / scale @ W_Q is [n_components batch pos d_head]; append b_Q.expand_as(parts[0])[None] "
           "with torch.cat."],
)

_register_decompose(
    name="decompose_k", title="A head's keys by component", side="keys", weight="W_K", bias="b_K", difficulty=1,
    hints=["A key reads the residual stream exactly as a query does, through W_K and b_K: call decompose_q."],
    depends_on=["ch03.decompose_q"],
)
