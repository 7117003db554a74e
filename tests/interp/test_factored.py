"""FactoredMatrix: every result equals the same computation on the dense A @ B."""

from __future__ import annotations

import pytest
import torch

from minigpt.interp import FactoredMatrix
from minigpt.interp.factored import FactoredShapeError

close = torch.testing.assert_close


def _factors(*batch, m=7, k=3, n=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(*batch, m, k, generator=gen, dtype=torch.float64),
            torch.randn(*batch, k, n, generator=gen, dtype=torch.float64))


@pytest.mark.parametrize("batch", [(), (4,), (2, 3)])
def test_dense_views_and_products_equal_dense(batch):
    A, B = _factors(*batch)
    M, dense = FactoredMatrix(A, B), A @ B
    assert M.shape == dense.shape and M.ndim == dense.ndim and (M.ldim, M.mdim, M.rdim) == (7, 3, 5)
    close(M.AB, dense)
    close(M.T.AB, dense.transpose(-2, -1))
    close(M.corner(2), dense[..., :2, :2])
    C = torch.randn(5, 6, dtype=torch.float64)
    D = torch.randn(2, 7, dtype=torch.float64)
    close((M @ C).AB, dense @ C)
    close((D @ M).AB, D @ dense)
    close(M @ torch.ones(5, dtype=torch.float64), dense @ torch.ones(5, dtype=torch.float64))
    close(torch.ones(7, dtype=torch.float64) @ M, torch.ones(7, dtype=torch.float64) @ dense)
    close((M * 2.5).AB, dense * 2.5)
    close((M / 2).AB, dense / 2)
    close((torch.tensor(2.0, dtype=torch.float64) * M).AB, dense * 2)
    close(M.norm(), torch.linalg.matrix_norm(dense))


@pytest.mark.parametrize("k1,k2", [(2, 4), (4, 2)])
def test_product_of_factored_matrices(k1, k2):
    A1, B1 = _factors(3, m=6, k=k1, n=5, seed=1)
    A2, B2 = _factors(3, m=5, k=k2, n=8, seed=2)
    prod = FactoredMatrix(A1, B1) @ FactoredMatrix(A2, B2)
    assert isinstance(prod, FactoredMatrix) and prod.mdim == min(k1, k2)  # keeps the smallest inner dimension
    close(prod.AB, (A1 @ B1) @ (A2 @ B2))


def test_products_keep_the_smallest_inner_dimension():
    A, B = _factors(m=4, k=6, n=3, seed=5)  # mdim 6 > ldim 4, rdim 3
    M = FactoredMatrix(A, B)
    right, left = M @ torch.ones(3, 8, dtype=torch.float64), torch.ones(8, 4, dtype=torch.float64) @ M
    assert (right.mdim, left.mdim) == (3, 4)  # (A @ B) @ C and D @ (A @ B): the matrix's own side is smaller
    close(right.AB, A @ B @ torch.ones(3, 8, dtype=torch.float64))
    close(left.AB, torch.ones(8, 4, dtype=torch.float64) @ A @ B)
    assert (M.T @ torch.ones(4, 8, dtype=torch.float64)).mdim == 4


def test_broadcasting_per_head_factors_and_indexing():
    A = torch.randn(4, 1, 6, 2, dtype=torch.float64)
    B = torch.randn(1, 3, 2, 6, dtype=torch.float64)
    M, dense = FactoredMatrix(A, B), A @ B
    assert M.shape == (4, 3, 6, 6) and M.has_leading_dims and len(M) == 4 and len(list(M)) == 4
    close(M.AB, dense)
    close(M[2].AB, dense[2])
    close(M[1, 2].AB, dense[1, 2])
    close(M[1, 2, 4].AB, dense[1, 2, 4:5])                   # an int row keeps its axis
    close(M[:, :, -1, [0, 5]].AB, dense[:, :, -1:, [0, 5]])  # rows, then columns
    idx = torch.tensor([5, 0, 3])
    close(M[0, 0, idx, idx].AB, dense[0, 0][idx][:, idx])   # a block of rows x columns, not paired entries
    assert M.get_corner(2).shape == (2, 2, 2, 2) and M.corner(2).shape == (4, 3, 2, 2)
    with pytest.raises(ValueError, match="too long"):
        M[0, 0, 0, 0, 0]


@pytest.mark.parametrize("batch", [(), (3,)])
def test_svd_from_the_factors(batch):
    A, B = _factors(*batch, m=9, k=3, n=8)
    M, dense = FactoredMatrix(A, B), A @ B
    U, S, V = M.svd()
    assert U.shape == (*batch, 9, 3) and S.shape == (*batch, 3) and V.shape == (*batch, 8, 3)
    close(S, torch.linalg.svdvals(dense)[..., :3])
    close(U @ torch.diag_embed(S) @ V.mT, dense)  # V, not Vh: TransformerLens's convention
    close(U.mT @ U, torch.eye(3, dtype=torch.float64).expand(*batch, 3, 3))
    close(V.mT @ V, torch.eye(3, dtype=torch.float64).expand(*batch, 3, 3))
    close(M.collapse_l().norm(dim=(-2, -1)), M.norm())
    close(M.collapse_r() @ V.mT, dense)
    close(M.make_even().AB, dense)
    with pytest.warns(DeprecationWarning, match="returns V"):
        assert M.Vh is V


def test_half_precision_spectra_are_computed_in_float32():
    A, B = _factors(m=6, k=2, n=6, seed=4)
    M = FactoredMatrix(A.bfloat16(), B.bfloat16())
    U, S, V = M.svd()
    assert U.dtype == S.dtype == V.dtype == torch.bfloat16
    close(S.double(), torch.linalg.svdvals(A.bfloat16().double() @ B.bfloat16().double())[:2], rtol=1e-2, atol=1e-2)
    assert M.eigenvalues.dtype == torch.complex64


def test_eigenvalues_are_the_nonzero_ones_of_the_dense_matrix():
    A, B = _factors(m=6, k=2, n=6, seed=3)
    M, dense = FactoredMatrix(A, B), A @ B
    dense_eigs = torch.linalg.eigvals(dense)
    big = dense_eigs[dense_eigs.abs() > 1e-8]
    key = lambda z: sorted(z.tolist(), key=lambda c: (round(c.real, 6), round(c.imag, 6)))  # noqa: E731
    assert len(big) == 2
    for got, want in zip(key(M.eigenvalues), key(big)):
        assert abs(got - want) < 1e-8


def test_shape_errors_are_explained():
    with pytest.raises(FactoredShapeError, match="inner dimensions"):  # an AssertionError, as in TransformerLens
        FactoredMatrix(torch.zeros(3, 2), torch.zeros(3, 4))
    with pytest.raises(RuntimeError, match="do not broadcast"):
        FactoredMatrix(torch.zeros(2, 3, 2), torch.zeros(3, 2, 4))
    with pytest.raises(ValueError, match="cannot multiply"):
        FactoredMatrix(torch.zeros(3, 2), torch.zeros(2, 4)) @ torch.zeros(3, 3)
    with pytest.raises(ValueError, match="square"):
        FactoredMatrix(torch.zeros(3, 2), torch.zeros(2, 4)).BA
    with pytest.raises(AssertionError, match="one-element tensor"):
        FactoredMatrix(torch.zeros(3, 2), torch.zeros(2, 4)) * torch.ones(2)
