"""``FactoredMatrix``: a low-rank matrix ``A @ B`` kept as its two factors.

A head's OV circuit ``W_V @ W_O`` is a ``[d_model, d_model]`` matrix of rank at
most ``d_head``; its full OV circuit ``W_E @ W_V @ W_O @ W_U`` is
``[d_vocab, d_vocab]`` (2.5 billion entries for GPT-2), still of rank
``d_head``. Keeping ``A: [..., m, k]`` and ``B: [..., k, n]`` apart makes
products, norms, singular values and eigenvalues cost ``O((m + n) k²)``
instead of ``O(m n k)`` in time and ``O(m n)`` in memory.

Leading axes batch, as in torch: ``A: [n_heads, d_model, d_head]`` and
``B: [n_heads, d_head, d_model]`` hold every head's circuit at once.

>>> A, B = torch.randn(5, 2), torch.randn(2, 4)
>>> M = FactoredMatrix(A, B)
>>> M.shape, M.mdim
(torch.Size([5, 4]), 2)
>>> torch.allclose(M.AB, A @ B) and torch.allclose((M @ torch.eye(4)).AB, A @ B)
True
>>> M.S.shape                   # only mdim = 2 singular values can be non-zero
torch.Size([2])

Conventions follow TransformerLens's ``FactoredMatrix``: ``svd()`` returns
``U, S, Vh`` with ``U @ diag(S) @ Vh == A @ B`` (torch.linalg.svd's
convention); ``eigenvalues`` are the ``mdim`` eigenvalues of ``B @ A``, which
are the non-zero eigenvalues of ``A @ B``.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

__all__ = ["FactoredMatrix"]


class FactoredMatrix:
    """The matrix ``A @ B`` (``A: [..., ldim, mdim]``, ``B: [..., mdim, rdim]``), never materialised unless asked."""

    def __init__(self, A: Tensor, B: Tensor) -> None:
        if A.ndim < 2 or B.ndim < 2:
            raise ValueError(f"both factors need at least 2 axes, got A {tuple(A.shape)} and B {tuple(B.shape)}")
        if A.shape[-1] != B.shape[-2]:
            raise ValueError(
                f"inner dimensions differ: A is {tuple(A.shape)} ([..., ldim, mdim]), B is {tuple(B.shape)} "
                f"([..., mdim, rdim]); A.shape[-1] must equal B.shape[-2]")
        batch = torch.broadcast_shapes(A.shape[:-2], B.shape[:-2])
        self.A = A.expand(*batch, *A.shape[-2:])
        self.B = B.expand(*batch, *B.shape[-2:])

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
        return torch.Size((*self.A.shape[:-1], self.rdim))

    @property
    def ndim(self) -> int:
        return self.A.ndim

    @property
    def dtype(self) -> torch.dtype:
        return self.A.dtype

    @property
    def device(self) -> torch.device:
        return self.A.device

    def __repr__(self) -> str:
        return f"FactoredMatrix(shape={tuple(self.shape)}, mdim={self.mdim})"

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> "FactoredMatrix":
        """Index the leading (batch) axes only: ``circuits[head]``. For entries use :meth:`corner` or ``.AB``."""
        if not isinstance(index, tuple):
            index = (index,)
        if len(index) > self.ndim - 2:
            raise IndexError(
                f"a FactoredMatrix of shape {tuple(self.shape)} indexes only its {self.ndim - 2} batch axes; "
                "use .AB (dense) or .corner(k) to read entries")
        return FactoredMatrix(self.A[index], self.B[index])

    def to(self, *args, **kwargs) -> "FactoredMatrix":
        return FactoredMatrix(self.A.to(*args, **kwargs), self.B.to(*args, **kwargs))

    # -- dense views ---------------------------------------------------------------------
    @property
    def AB(self) -> Tensor:
        """The dense matrix ``A @ B``: ``[..., ldim, rdim]``."""
        return self.A @ self.B

    @property
    def BA(self) -> Tensor:
        """``B @ A``: ``[..., mdim, mdim]`` (needs ``ldim == rdim``)."""
        if self.ldim != self.rdim:
            raise ValueError(f"B @ A needs a square matrix, this one is {self.ldim} x {self.rdim}")
        return self.B @ self.A

    def corner(self, k: int = 3) -> Tensor:
        """The top-left ``k x k`` entries of ``A @ B``, computed from ``k`` rows of ``A`` and ``k`` columns of ``B``."""
        return self.A[..., :k, :] @ self.B[..., :, :k]

    @property
    def T(self) -> "FactoredMatrix":
        """The transpose ``(A @ B).T = B.T @ A.T``, still factored."""
        return FactoredMatrix(self.B.transpose(-2, -1), self.A.transpose(-2, -1))

    # -- products ------------------------------------------------------------------------
    def __matmul__(self, other):
        """``self @ other``: a FactoredMatrix for a matrix or FactoredMatrix; a dense tensor for a vector."""
        if isinstance(other, FactoredMatrix):
            # keep the smaller inner dimension: A1 (B1 A2 B2) or (A1 B1 A2) B2
            if self.mdim <= other.mdim:
                return FactoredMatrix(self.A, (self.B @ other.A) @ other.B)
            return FactoredMatrix((self.A @ self.B) @ other.A, other.B)
        if not isinstance(other, Tensor):
            return NotImplemented
        if other.ndim == 1:
            return (self.A @ (self.B @ other[:, None]))[..., 0]  # [..., ldim]
        if other.shape[-2] != self.rdim:
            raise ValueError(f"cannot multiply {tuple(self.shape)} by {tuple(other.shape)}")
        return FactoredMatrix(self.A, self.B @ other)

    def __rmatmul__(self, other):
        """``other @ self`` for a dense ``other``."""
        if not isinstance(other, Tensor):
            return NotImplemented
        if other.ndim == 1:
            return ((other[None] @ self.A) @ self.B)[..., 0, :]  # [..., rdim]
        if other.shape[-1] != self.ldim:
            raise ValueError(f"cannot multiply {tuple(other.shape)} by {tuple(self.shape)}")
        return FactoredMatrix(other @ self.A, self.B)

    def __mul__(self, scalar) -> "FactoredMatrix":
        """Scale by a number (or a tensor broadcasting over the batch axes, shaped ``[..., 1, 1]``)."""
        return FactoredMatrix(self.A * scalar, self.B)

    __rmul__ = __mul__

    def __truediv__(self, scalar) -> "FactoredMatrix":
        return FactoredMatrix(self.A / scalar, self.B)

    # -- spectra -------------------------------------------------------------------------
    @functools.cached_property
    def _svd(self) -> tuple[Tensor, Tensor, Tensor]:
        # A = Ua Sa Vha and B = Ub Sb Vhb, so AB = Ua (Sa Vha Ub Sb) Vhb; the middle is mdim x mdim.
        Ua, Sa, Vha = torch.linalg.svd(self.A, full_matrices=False)  # [.., l, r1] [.., r1] [.., r1, m]
        Ub, Sb, Vhb = torch.linalg.svd(self.B, full_matrices=False)  # [.., m, r2] [.., r2] [.., r2, n]
        middle = Sa[..., :, None] * (Vha @ Ub) * Sb[..., None, :]      # [.., r1, r2]
        Um, S, Vhm = torch.linalg.svd(middle, full_matrices=False)
        return Ua @ Um, S, Vhm @ Vhb

    def svd(self) -> tuple[Tensor, Tensor, Tensor]:
        """``U [..., ldim, r], S [..., r], Vh [..., r, rdim]`` with ``U @ diag(S) @ Vh == A @ B``, ``r <= mdim``.

        Computed from the SVDs of the two factors and of a small ``r x r`` matrix,
        never from ``A @ B``.
        """
        return self._svd

    @property
    def U(self) -> Tensor:
        return self._svd[0]

    @property
    def S(self) -> Tensor:
        return self._svd[1]

    @property
    def Vh(self) -> Tensor:
        return self._svd[2]

    @property
    def eigenvalues(self) -> Tensor:
        """The ``mdim`` eigenvalues of ``B @ A`` (complex): the non-zero eigenvalues of ``A @ B``."""
        return torch.linalg.eigvals(self.BA)

    def norm(self) -> Tensor:
        """The Frobenius norm ``||A @ B||_F``, as ``sqrt(sum((AᵀA) * (B Bᵀ)))``: ``[...]``."""
        gram_a = self.A.transpose(-2, -1) @ self.A  # [..., mdim, mdim]
        gram_b = self.B @ self.B.transpose(-2, -1)  # [..., mdim, mdim]
        return (gram_a * gram_b).sum(dim=(-2, -1)).clamp(min=0).sqrt()

    def collapse_l(self) -> Tensor:
        """``diag(S) @ Vh``: ``[..., r, rdim]``, the matrix seen from its column space (same norms)."""
        return self.S[..., :, None] * self.Vh

    def collapse_r(self) -> Tensor:
        """``U @ diag(S)``: ``[..., ldim, r]``."""
        return self.U * self.S[..., None, :]
