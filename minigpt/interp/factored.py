"""``FactoredMatrix``: a low-rank matrix ``A @ B`` kept as its two factors.

A head's OV circuit ``W_V @ W_O`` is a ``[d_model, d_model]`` matrix of rank at
most ``d_head``; its full OV circuit ``W_E @ W_V @ W_O @ W_U`` is
``[d_vocab, d_vocab]`` (2.5 billion entries for GPT-2), still of rank
``d_head``. Keeping ``A: [..., ldim, mdim]`` and ``B: [..., mdim, rdim]`` apart
makes products, norms, singular values and eigenvalues cost
``O((ldim + rdim) mdim²)`` instead of ``O(ldim rdim mdim)`` in time and
``O(ldim rdim)`` in memory.

Leading axes batch, as in torch: ``A: [n_heads, d_model, d_head]`` and
``B: [n_heads, d_head, d_model]`` hold every head's circuit at once.

>>> A = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])      # [ldim 3, mdim 2]
>>> B = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]])  # [mdim 2, rdim 4]
>>> M = FactoredMatrix(A, B)
>>> M
FactoredMatrix: Shape(torch.Size([3, 4])), Hidden Dim(2)
>>> U, S, V = M.svd()           # V, not Vh: U @ diag(S) @ V.mT is the matrix
>>> U.shape, S.shape, V.shape, torch.allclose(U @ torch.diag(S) @ V.mT, A @ B, atol=1e-6)
(torch.Size([3, 2]), torch.Size([2]), torch.Size([4, 2]), True)
>>> M[[0, 2], [1, 3]].AB        # rows 0, 2 x columns 1, 3 (a sub-matrix, as TransformerLens indexes)
tensor([[0., 1.],
        [1., 1.]])
>>> wide = FactoredMatrix(torch.ones(3, 5), torch.ones(5, 2))   # mdim 5 > rdim 2
>>> (wide @ torch.ones(2, 4)).mdim   # a product keeps the smallest inner dimension: 2, not 5
2

The behaviour is TransformerLens's ``FactoredMatrix`` (3.9), method for method,
so ARENA-style code ports unchanged: ``svd()`` returns ``U, S, V`` (``Vh`` is a
deprecated alias that also returns ``V``); ``eigenvalues`` are the ``mdim``
eigenvalues of ``B @ A``, the non-zero ones of ``A @ B``; ``M[i]`` indexes the
leading axes first, then the rows, then the columns; a product with a matrix
or another ``FactoredMatrix`` keeps the smallest inner dimension; ``*`` takes
numbers and one-element tensors; shape errors are the ``AssertionError``
(here :class:`FactoredShapeError`, also a ``ValueError``), ``RuntimeError`` or
``ValueError`` that TransformerLens raises. Beyond it: the SVD family
(``svd``, ``U``, ``S``, ``V``, ``norm``, ``collapse_*``, ``make_even``) also
runs on bf16/fp16 factors (computed in float32, returned in the factors'
dtype), where TransformerLens raises; and ``/``, ``corner``, ``to``,
``dtype``, ``device``, ``len`` and iteration over the first axis are extras.
"""

from __future__ import annotations

import functools
import numbers
import warnings

import torch
from torch import Tensor

__all__ = ["FactoredMatrix", "FactoredShapeError"]

_HALF = (torch.float16, torch.bfloat16)  # no SVD or eig kernels: computed in float32


class FactoredShapeError(AssertionError, ValueError):
    """The matrix axes of two operands do not fit.

    An ``AssertionError`` because that is what TransformerLens raises (ported
    ``except AssertionError`` clauses keep working), and a ``ValueError``
    because that is what it is.
    """


def _keep_axis(index):
    """An int index as the one-element slice that picks it, so its axis survives: ``2 -> 2:3``, ``-1 -> -1:``."""
    if isinstance(index, int):
        return slice(index, index + 1 if index != -1 else None)
    return index


def _check_scalar(scalar) -> None:
    if isinstance(scalar, Tensor) and scalar.numel() != 1:
        raise FactoredShapeError(
            f"* and / take a number or a one-element tensor, got a tensor of shape {tuple(scalar.shape)}; "
            "for a matrix product use @")


class FactoredMatrix:
    """The matrix ``A @ B`` (``A: [..., ldim, mdim]``, ``B: [..., mdim, rdim]``), never materialised unless asked.

    The leading axes of ``A`` and ``B`` broadcast against each other, as in
    ``A @ B``: ``A: [n_heads, 1, d, k]`` with ``B: [1, n_heads, k, d]`` is
    every pair of heads.
    """

    def __init__(self, A: Tensor, B: Tensor) -> None:
        if A.ndim < 2 or B.ndim < 2:
            raise IndexError(
                f"both factors need at least 2 axes ([..., ldim, mdim] and [..., mdim, rdim]), "
                f"got A {tuple(A.shape)} and B {tuple(B.shape)}")
        if A.shape[-1] != B.shape[-2]:
            raise FactoredShapeError(
                f"inner dimensions differ: A is {tuple(A.shape)} ([..., ldim, mdim]), B is {tuple(B.shape)} "
                f"([..., mdim, rdim]); A.shape[-1] must equal B.shape[-2]")
        try:
            leading = torch.broadcast_shapes(A.shape[:-2], B.shape[:-2])
        except RuntimeError as err:
            raise RuntimeError(
                f"the leading axes of A {tuple(A.shape)} and B {tuple(B.shape)} do not broadcast: {err}") from err
        self.A = A.expand(*leading, *A.shape[-2:])  # [*leading, ldim, mdim]
        self.B = B.expand(*leading, *B.shape[-2:])  # [*leading, mdim, rdim]

    # -- shape ---------------------------------------------------------------------------
    @property
    def ldim(self) -> int:
        return self.A.shape[-2]

    @property
    def mdim(self) -> int:
        return self.A.shape[-1]

    @property
    def rdim(self) -> int:
        return self.B.shape[-1]

    @property
    def shape(self) -> torch.Size:
        """``[*leading, ldim, rdim]``, the shape of ``A @ B``."""
        return torch.Size((*self.A.shape[:-1], self.rdim))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def has_leading_dims(self) -> bool:
        return self.ndim > 2

    @property
    def pair(self) -> tuple[Tensor, Tensor]:
        """``(A, B)``, broadcast to the same leading axes."""
        return self.A, self.B

    @property
    def dtype(self) -> torch.dtype:
        return self.A.dtype

    @property
    def device(self) -> torch.device:
        return self.A.device

    def __repr__(self) -> str:
        return f"FactoredMatrix: Shape({self.shape}), Hidden Dim({self.mdim})"

    def __len__(self) -> int:
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))  # indexing alone would never run out of rows

    def __getitem__(self, index) -> FactoredMatrix:
        """Index the leading axes, then the rows (``ldim``), then the columns (``rdim``); always a FactoredMatrix.

        With ``n`` leading axes, an index of at most ``n`` entries picks heads
        (``circuits[3]``); one more picks rows of ``A``; two more pick rows of
        ``A`` and columns of ``B``, so ``M[rows, cols]`` is the sub-matrix
        ``rows x cols`` (not numpy's paired entries) and ``M[idx, idx]``
        samples a square block of a full OV circuit. An int on a row or column
        axis keeps that axis (length 1). ``None`` adds an axis and counts as no
        entry.
        """
        index = index if isinstance(index, tuple) else (index,)
        n_leading = self.ndim - 2
        n_entries = sum(entry is not None for entry in index)
        if n_entries <= n_leading:
            return FactoredMatrix(self.A[index], self.B[index])
        if n_entries == n_leading + 1:
            *leading, rows = index
            return FactoredMatrix(self.A[(*leading, _keep_axis(rows))], self.B[tuple(leading)])
        if n_entries == n_leading + 2:
            *leading, rows, cols = index
            return FactoredMatrix(self.A[(*leading, _keep_axis(rows))],
                                  self.B[(*leading, slice(None), _keep_axis(cols))])
        raise ValueError(f"{index} is too long an index for a FactoredMatrix with shape {self.shape}: "
                         f"at most {n_leading} leading entries, then rows, then columns")

    def unsqueeze(self, dim: int) -> FactoredMatrix:
        """A new leading axis of length 1 at ``dim`` (count it from the left: the last two axes are the matrix)."""
        return FactoredMatrix(self.A.unsqueeze(dim), self.B.unsqueeze(dim))

    def to(self, *args, **kwargs) -> FactoredMatrix:
        return FactoredMatrix(self.A.to(*args, **kwargs), self.B.to(*args, **kwargs))

    # -- dense views ---------------------------------------------------------------------
    @property
    def AB(self) -> Tensor:
        """The dense matrix ``A @ B``: ``[..., ldim, rdim]`` (``ldim * rdim`` numbers per matrix: mind the memory)."""
        return self.A @ self.B

    @property
    def BA(self) -> Tensor:
        """``B @ A``: ``[..., mdim, mdim]``; needs a square matrix (``ldim == rdim``)."""
        if self.ldim != self.rdim:
            raise FactoredShapeError(f"B @ A needs a square matrix (ldim == rdim), this one is {tuple(self.shape)}")
        return self.B @ self.A

    def corner(self, k: int = 3) -> Tensor:
        """The top-left ``k x k`` entries of every matrix, ``[..., k, k]``, from ``k`` rows of A and ``k`` columns of B."""
        return self.A[..., :k, :] @ self.B[..., :, :k]

    def get_corner(self, k: int = 3) -> Tensor:
        """:meth:`corner`, with the first ``k`` along every leading axis too: ``[min(k, ·), ..., k, k]``."""
        return self.corner(k)[(slice(k),) * (self.ndim - 2)]

    @property
    def T(self) -> FactoredMatrix:
        """The transpose ``(A @ B).T = B.T @ A.T``, still factored: ``[..., rdim, ldim]``."""
        return FactoredMatrix(self.B.mT, self.A.mT)

    # -- products ------------------------------------------------------------------------
    def __matmul__(self, other):
        """``self @ other``: a FactoredMatrix for a matrix ``[..., rdim, n]`` or a FactoredMatrix, a tensor ``[..., ldim]`` for a vector ``[rdim]``.

        The product keeps the smaller inner dimension: with ``mdim < rdim``,
        ``A @ (B @ other)`` (inner ``mdim``); otherwise ``(A @ B) @ other``
        (inner ``rdim``). With a FactoredMatrix ``C @ D`` it is
        ``(self @ C) @ D``, so the inner dimension is the smallest of the chain.
        """
        if isinstance(other, FactoredMatrix):
            return (self @ other.A) @ other.B
        if not isinstance(other, Tensor):
            return NotImplemented
        if other.ndim < 2:
            if other.ndim == 0 or other.shape[-1] != self.rdim:
                raise RuntimeError(f"cannot multiply {tuple(self.shape)} by a vector {tuple(other.shape)}: "
                                   f"it needs {self.rdim} entries")
            return (self.A @ (self.B @ other.unsqueeze(-1))).squeeze(-1)  # [..., ldim]
        if other.shape[-2] != self.rdim:
            raise FactoredShapeError(f"cannot multiply {tuple(self.shape)} by {tuple(other.shape)}: "
                                     f"the right matrix needs {self.rdim} rows")
        if self.mdim < self.rdim:
            return FactoredMatrix(self.A, self.B @ other)
        return FactoredMatrix(self.AB, other)

    def __rmatmul__(self, other):
        """``other @ self``: a FactoredMatrix for a matrix ``[..., n, ldim]``, a tensor ``[..., rdim]`` for a vector ``[ldim]``.

        As for ``@`` on the right: ``(other @ A) @ B`` when ``mdim < ldim``,
        else ``other @ (A @ B)``.
        """
        if isinstance(other, FactoredMatrix):
            return other.A @ (other.B @ self)
        if not isinstance(other, Tensor):
            return NotImplemented
        if other.ndim == 0 or other.shape[-1] != self.ldim:
            raise FactoredShapeError(f"cannot multiply {tuple(other.shape)} by {tuple(self.shape)}: "
                                     f"the left operand needs {self.ldim} columns")
        if other.ndim == 1:
            return ((other.unsqueeze(-2) @ self.A) @ self.B).squeeze(-2)  # [..., rdim]
        if self.mdim < self.ldim:
            return FactoredMatrix(other @ self.A, self.B)
        return FactoredMatrix(other, self.AB)

    def __mul__(self, scalar) -> FactoredMatrix:
        """Scale by a number or a one-element tensor (it scales ``A``; a ``[1, 1, 1]`` tensor adds a leading axis)."""
        if not isinstance(scalar, (numbers.Number, Tensor)):
            return NotImplemented
        _check_scalar(scalar)
        return FactoredMatrix(self.A * scalar, self.B)

    __rmul__ = __mul__

    def __truediv__(self, scalar) -> FactoredMatrix:
        if not isinstance(scalar, (numbers.Number, Tensor)):
            return NotImplemented
        _check_scalar(scalar)
        return FactoredMatrix(self.A / scalar, self.B)

    # -- spectra -------------------------------------------------------------------------
    @functools.cached_property
    def _svd(self) -> tuple[Tensor, Tensor, Tensor]:
        # A = Ua Sa Vha and B = Ub Sb Vhb, so AB = Ua (Sa Vha Ub Sb) Vhb; the middle is at most mdim x mdim.
        A, B = (self.A.float(), self.B.float()) if self.dtype in _HALF else (self.A, self.B)
        Ua, Sa, Vha = torch.linalg.svd(A, full_matrices=False)  # [.., ldim, r1] [.., r1] [.., r1, mdim]
        Ub, Sb, Vhb = torch.linalg.svd(B, full_matrices=False)  # [.., mdim, r2] [.., r2] [.., r2, rdim]
        middle = Sa[..., :, None] * (Vha @ Ub) * Sb[..., None, :]  # [.., r1, r2]
        Um, S, Vhm = torch.linalg.svd(middle, full_matrices=False)
        U, V = Ua @ Um, (Vhm @ Vhb).mT  # [.., ldim, r] [.., rdim, r]
        return U.to(self.dtype), S.to(self.dtype), V.to(self.dtype)

    def svd(self) -> tuple[Tensor, Tensor, Tensor]:
        """``U [..., ldim, r], S [..., r], V [..., rdim, r]`` with ``U @ diag(S) @ V.mT == A @ B``, ``r <= mdim``.

        ``V``, not ``torch.linalg.svd``'s ``Vh = V.mT`` (TransformerLens's
        convention): the columns of ``U`` and of ``V`` are the left and right
        singular vectors. Computed from the SVDs of the two factors and of a
        small ``r x r`` matrix, never from ``A @ B``, and cached.
        """
        return self._svd

    @property
    def U(self) -> Tensor:
        """Left singular vectors as columns: ``[..., ldim, r]``."""
        return self._svd[0]

    @property
    def S(self) -> Tensor:
        """Singular values, largest first: ``[..., r]``."""
        return self._svd[1]

    @property
    def V(self) -> Tensor:
        """Right singular vectors as columns: ``[..., rdim, r]``."""
        return self._svd[2]

    @property
    def Vh(self) -> Tensor:
        """Deprecated, as in TransformerLens: returns ``V`` (not its transpose). Use ``.V``, or ``.V.mT`` for Vh."""
        warnings.warn("FactoredMatrix.Vh returns V (the right singular vectors as columns), not V's transpose, "
                      "as TransformerLens's does; use .V, or .V.mT for torch.linalg.svd's Vh",
                      DeprecationWarning, stacklevel=2)
        return self._svd[2]

    @property
    def eigenvalues(self) -> Tensor:
        """The ``mdim`` eigenvalues of ``B @ A``, complex, ``[..., mdim]``: the non-zero eigenvalues of ``A @ B``.

        If ``B A v = λ v`` then ``A B (A v) = λ (A v)``, so every eigenvalue of
        the small ``B @ A`` is one of ``A @ B``. 16-bit factors give complex64.
        """
        BA = self.BA
        return torch.linalg.eigvals(BA.float() if BA.dtype in _HALF else BA)

    def norm(self) -> Tensor:
        """The Frobenius norm ``||A @ B||_F = sqrt(Σ S²)``: ``[...]``."""
        return self.S.pow(2).sum(dim=-1).sqrt()

    def collapse_l(self) -> Tensor:
        """``diag(S) @ V.mT``: ``[..., r, rdim]``, the matrix without its left orthogonal factor ``U`` (same norms)."""
        return self.S[..., :, None] * self.V.mT

    def collapse_r(self) -> Tensor:
        """``U @ diag(S)``: ``[..., ldim, r]``, the matrix without its right orthogonal factor ``V.mT``."""
        return self.U * self.S[..., None, :]

    def make_even(self) -> FactoredMatrix:
        """The same matrix as ``(U sqrt(S)) @ (sqrt(S) V.mT)``: each factor carries half the spectrum."""
        root = self.S.sqrt()
        return FactoredMatrix(self.U * root[..., None, :], root[..., :, None] * self.V.mT)
