"""Chapter 3 checks: full OV circuits, top-1 accuracy, composition scores, singular values of a factored matrix."""

from __future__ import annotations

import torch
from torch import Tensor

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import register_exercise

# ---------------------------------------------------------------------------
# full_ov_circuit
# ---------------------------------------------------------------------------


def ov_cases() -> list[Case]:
    g = torch.Generator().manual_seed(307)
    cases = []
    for v, d, h, e in ((7, 6, 2, 3), (5, 8, 3, 2), (9, 4, 1, 4)):
        cases.append(dict(W_E=_randn(g, v, d), W_V=_randn(g, h, d, e), W_O=_randn(g, h, e, d), W_U=_randn(g, d, v)))
    return cases


register_exercise(
    id="ch03.full_ov_circuit", name="full_ov_circuit", title="Full OV circuit", points=1, difficulty=1,
    hints=["The path of a token through the head to the logits: embed (W_E), value (W_V), output (W_O), unembed (W_U).",
           "W_E @ W_V @ W_O @ W_U broadcasts over the heads: [d_vocab d_model] @ [n_heads d_model d_head] -> "
           "[n_heads d_vocab d_head]."],
    make_cases=ov_cases,
    mutants=[
        Mutant("transposed", "each head's matrix is transposed (rows are logits); rows should be the attended "
               "token: W_E @ W_V @ W_O @ W_U, in that order.",
               lambda W_E, W_V, W_O, W_U: (W_E @ W_V @ W_O @ W_U).transpose(-1, -2)),
        Mutant("tied-unembed", "W_E.T was used as the unembedding; this model has its own W_U: end with @ W_U.",
               lambda W_E, W_V, W_O, W_U: W_E @ W_V @ W_O @ W_E.T),
        Mutant("heads-summed", "the heads were summed into one matrix; return one circuit per head, "
               "[n_heads, d_vocab, d_vocab].", lambda W_E, W_V, W_O, W_U: (W_E @ W_V @ W_O @ W_U).sum(dim=0)),
        Mutant("no-unembed", "the unembedding is missing: the result is in d_model, not in logits; multiply "
               "by W_U at the end.", lambda W_E, W_V, W_O, W_U: W_E @ W_V @ W_O),
    ],
)


# ---------------------------------------------------------------------------
# top1_accuracy
# ---------------------------------------------------------------------------


def top1_cases() -> list[Case]:
    g = torch.Generator().manual_seed(308)
    cases = []
    for n, boost in ((8, 1.5), (5, 0.8), (12, 1.2)):
        m = _randn(g, n, n) + boost * torch.eye(n)
        cases.append(dict(matrix=m))
    return cases


register_exercise(
    id="ch03.top1_accuracy", name="top1_accuracy", title="Top-1 accuracy of a circuit", points=1, difficulty=1,
    hints=["Row i is a hit when its largest entry is in column i.",
           "(matrix.argmax(dim=-1) == torch.arange(n)).float().mean()"],
    make_cases=top1_cases,
    mutants=[
        Mutant("columns", "the largest entry of each *column* was used (argmax over dim=0); take each row's "
               "argmax, dim=-1.", lambda matrix: (matrix.argmax(dim=0) == torch.arange(len(matrix))).float().mean()),
        Mutant("count", "this is the number of hits; return the fraction (divide by the number of rows, or "
               ".float().mean()).", lambda matrix: (matrix.argmax(dim=-1) == torch.arange(len(matrix))).float().sum()),
        Mutant("diagonal-positive", "this counts rows whose diagonal entry is positive; a hit needs the "
               "diagonal to be the *largest* entry of its row.", lambda matrix: (matrix.diagonal() > 0).float().mean()),
        Mutant("diagonal-above-mean", "this counts rows whose diagonal is above the row's mean; a hit needs the "
               "diagonal to be the row's *largest* entry (argmax).",
               lambda matrix: (matrix.diagonal() > matrix.mean(dim=-1)).float().mean()),
    ],
)


# ---------------------------------------------------------------------------
# composition_score
# ---------------------------------------------------------------------------


def composition_cases() -> list[Case]:
    g = torch.Generator().manual_seed(309)
    return [dict(W_A=_randn(g, 6, 6), W_B=_randn(g, 6, 6)),
            dict(W_A=_randn(g, 3, 5, 5), W_B=_randn(g, 3, 5, 5)),
            dict(W_A=_randn(g, 2, 1, 4, 4), W_B=_randn(g, 1, 3, 4, 4))]


def _fro(M: Tensor) -> Tensor:
    return torch.linalg.matrix_norm(M)


register_exercise(
    id="ch03.composition_score", name="composition_score", title="Composition score", points=1, difficulty=2,
    hints=["The Frobenius norm of a matrix is sqrt((M ** 2).sum()) over its last two axes: "
           "torch.linalg.matrix_norm(M).",
           "||W_A @ W_B|| / (||W_A|| * ||W_B||), every norm over the last two axes only (leading axes are a batch)."],
    make_cases=composition_cases,
    mutants=[
        Mutant("not-normalised", "the product's norm is not divided by ||W_A|| * ||W_B||; without that, the "
               "score grows with the weights' scale.", lambda W_A, W_B: _fro(W_A @ W_B)),
        Mutant("spectral-norm", "these are spectral norms (largest singular value, ord=2); the score uses "
               "Frobenius norms (torch.linalg.matrix_norm's default).",
               lambda W_A, W_B: torch.linalg.matrix_norm(W_A @ W_B, ord=2)
               / (torch.linalg.matrix_norm(W_A, ord=2) * torch.linalg.matrix_norm(W_B, ord=2))),
        Mutant("squared-norms", "the norms are squared (sums of squares without the square root); take "
               "sqrt of each sum of squares.",
               lambda W_A, W_B: _fro(W_A @ W_B) ** 2 / (_fro(W_A) ** 2 * _fro(W_B) ** 2)),
        Mutant("reversed-product", "the product is W_B @ W_A; W_A writes first and W_B reads what it wrote: "
               "W_A @ W_B.", lambda W_A, W_B: _fro(W_B @ W_A) / (_fro(W_A) * _fro(W_B))),
        Mutant("norm-over-batch", "the norms were taken over every axis, batch included; take them over the "
               "last two axes only (one score per pair of matrices).",
               lambda W_A, W_B: torch.linalg.norm(W_A @ W_B) / (torch.linalg.norm(W_A) * torch.linalg.norm(W_B))),
    ],
)


# ---------------------------------------------------------------------------
# k_composition_scores
# ---------------------------------------------------------------------------


def k_comp_cases() -> list[Case]:
    g = torch.Generator().manual_seed(310)
    cases = []
    for h, d, e in ((3, 6, 2), (2, 8, 4), (4, 5, 2)):
        cases.append(dict(W_V0=_randn(g, h, d, e), W_O0=_randn(g, h, e, d), W_Q1=_randn(g, h, d, e),
                          W_K1=_randn(g, h, d, e)))
    return cases


def _k_comp(W_V0, W_O0, W_Q1, W_K1, *, ov_t=False, qk_t=True, table_t=False, normalise=True):
    W_OV = W_V0 @ W_O0
    W_QK = W_Q1 @ W_K1.transpose(-1, -2)
    A = W_OV.transpose(-1, -2) if ov_t else W_OV
    B = W_QK.transpose(-1, -2) if qk_t else W_QK
    A, B = A[:, None], B[None]
    score = _fro(A @ B) / (_fro(A) * _fro(B) if normalise else 1.0)
    return score.T if table_t else score


register_exercise(
    id="ch03.k_composition_scores", name="k_composition_scores", title="K-composition scores", points=2, difficulty=2,
    hints=["W_OV = W_V0 @ W_O0 and W_QK = W_Q1 @ W_K1.transpose(-1, -2) are [n_heads d_model d_model].",
           "The keys read the residual on W_QK's right: compose W_OV[i] with W_QK[j].T; index W_OV[:, None] and "
           "W_QK.transpose(-1, -2)[None] so composition_score broadcasts to [n0, n1]."],
    make_cases=k_comp_cases,
    mutants=[
        Mutant("q-composition", "this is Q-composition (W_OV @ W_QK: the earlier head feeding the queries); "
               "K-composition feeds the keys, which sit on W_QK's right: use W_QK.T.",
               lambda **kw: _k_comp(**kw, qk_t=False)),
        Mutant("transposed-table", "rows and columns are swapped; rows are layer-0 heads, columns layer-1 "
               "heads: entry [i, j] = composition_score(W_OV[i], W_QK[j].T).",
               lambda **kw: _k_comp(**kw, table_t=True)),
        Mutant("ov-transposed", "the OV circuit is transposed (W_O.T @ W_V.T); a head writes x @ W_V @ W_O, so "
               "W_OV = W_V0 @ W_O0.", lambda **kw: _k_comp(**kw, ov_t=True)),
        Mutant("not-normalised", "the scores are not normalised; use composition_score, which divides by "
               "||W_A|| * ||W_B||.", lambda **kw: _k_comp(**kw, normalise=False)),
    ],
    depends_on=["ch03.composition_score"],
)


# ---------------------------------------------------------------------------
# factored_singular_values
# ---------------------------------------------------------------------------


def svd_cases() -> list[Case]:
    g = torch.Generator().manual_seed(311)
    # square products, so that the look-alike B @ A can be computed too
    return [dict(A=_randn(g, 8, 3), B=_randn(g, 3, 8)), dict(A=_randn(g, 7, 2), B=_randn(g, 2, 7)),
            dict(A=_randn(g, 10, 4), B=_randn(g, 4, 10))]


def _svds(A, B):
    _, S_A, Vh_A = torch.linalg.svd(A, full_matrices=False)
    U_B, S_B, _ = torch.linalg.svd(B, full_matrices=False)
    return S_A, Vh_A, U_B, S_B


def _no_s_b(A, B):
    S_A, Vh_A, U_B, S_B = _svds(A, B)
    return torch.linalg.svdvals(torch.diag(S_A) @ Vh_A @ U_B)


def _eigenvalues(A, B):
    return torch.linalg.eigvals(B @ A).abs().sort(descending=True).values


register_exercise(
    id="ch03.factored_singular_values", name="factored_singular_values",
    title="Singular values of a factored matrix", points=3, difficulty=3,
    hints=["U_A and Vh_B do not change singular values (orthonormal columns / rows): only the k x k middle matters.",
           "middle = torch.diag(S_A) @ Vh_A @ U_B @ torch.diag(S_B); return torch.linalg.svdvals(middle)."],
    make_cases=svd_cases,
    mutants=[
        Mutant("products-of-singular-values", "S_A * S_B is not the spectrum of A @ B: the factors' singular "
               "vectors need not line up. Take the SVD of diag(S_A) @ Vh_A @ U_B @ diag(S_B).",
               lambda A, B: _svds(A, B)[0] * _svds(A, B)[3]),
        Mutant("B-times-A", "these are the singular values of B @ A; they differ from those of A @ B (it is the "
               "*eigenvalues* that B @ A shares). Use the middle matrix diag(S_A) Vh_A U_B diag(S_B).",
               lambda A, B: torch.linalg.svdvals(B @ A)),
        Mutant("middle-without-S_B", "the middle matrix lacks diag(S_B) on its right: "
               "diag(S_A) @ Vh_A @ U_B @ diag(S_B).", _no_s_b),
        Mutant("eigenvalues", "these are the sizes of the eigenvalues (of B @ A); singular values differ from "
               "them unless the matrix is symmetric. Take torch.linalg.svdvals of the middle matrix.", _eigenvalues),
    ],
)
