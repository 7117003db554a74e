"""minigpt's FactoredMatrix against TransformerLens's, operation by operation.

Each operation runs on both classes built from the same factors: a result
must match in type, shape, dtype, inner dimension and values (the factors
``A`` and ``B`` of a FactoredMatrix result too, not only ``A @ B``); an
exception must be of the type TransformerLens raises. The matrix: leading
axes (none, one, two that broadcast between ``A`` and ``B``), every ordering
of ``mdim`` against ``ldim`` and ``rdim``, float64 / float32 / bfloat16,
numbers and tensors on either side, FactoredMatrix @ FactoredMatrix,
indexing, and the errors on mismatched dimensions; then random shapes
(hypothesis, sizes from 1). Singular vectors are compared up to a sign per
singular value. Where TransformerLens has no 16-bit SVD (it raises), ours
is held to TransformerLens's on the float32 factors.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TLFactoredMatrix = pytest.importorskip("transformer_lens").FactoredMatrix

from minigpt.interp import FactoredMatrix  # noqa: E402

DIMS = {  # (ldim, mdim, rdim)
    "mdim smallest": (6, 2, 5),
    "mdim largest": (3, 7, 4),
    "mdim = ldim": (4, 4, 6),
    "mdim = rdim": (6, 4, 4),
    "mdim between": (3, 5, 8),
    "square": (5, 3, 5),
    "square, mdim larger": (3, 5, 3),
}
LEADING = {"none": ((), ()), "one": ((3,), (3,)), "broadcast": ((2, 1), (1, 3)), "B only": ((), (2,))}
DTYPES = [torch.float64, torch.float32, torch.bfloat16]
TOL = {torch.float64: 1e-9, torch.float32: 1e-4, torch.bfloat16: 3e-2}  # relative to the result's largest entry
CASES = [pytest.param(LEADING[lead], DIMS[dims], dtype, id=f"{lead}-{dims}-{str(dtype)[6:]}")
         for lead, dims, dtype in itertools.product(LEADING, DIMS, DTYPES)]


def _randn(*shape, dtype, gen):
    return torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)


def _factors(leading, dims, dtype, seed=0):
    (lead_a, lead_b), (ldim, mdim, rdim) = leading, dims
    gen = torch.Generator().manual_seed(seed)
    return _randn(*lead_a, ldim, mdim, dtype=dtype, gen=gen), _randn(*lead_b, mdim, rdim, dtype=dtype, gen=gen)


def assert_same(ours, theirs, dtype):
    """``ours`` is ``theirs`` in type, shape, dtype and (to the dtype's tolerance) value."""
    if isinstance(theirs, TLFactoredMatrix):
        assert isinstance(ours, FactoredMatrix)
        assert (ours.shape, ours.mdim) == (theirs.shape, theirs.mdim)
        assert_same(ours.A, theirs.A, dtype)
        assert_same(ours.B, theirs.B, dtype)
    elif isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            assert_same(o, t, dtype)
    elif isinstance(theirs, torch.Tensor):
        assert isinstance(ours, torch.Tensor) and (ours.shape, ours.dtype) == (theirs.shape, theirs.dtype)
        scale = theirs.abs().max().item() if theirs.numel() else 1.0
        torch.testing.assert_close(ours, theirs, rtol=0, atol=TOL[dtype] * max(scale, 1.0))
    else:
        assert ours == theirs and type(ours) is type(theirs)


def assert_same_op(op, A, B, dtype):
    """Run ``op(M, cls)`` with ``M = cls(A, B)`` for both classes; same result or same exception type."""
    try:
        want = op(TLFactoredMatrix(A, B), TLFactoredMatrix)
    except Exception as err:  # noqa: BLE001 — the point is the type TransformerLens raises
        with pytest.raises(type(err)):
            op(FactoredMatrix(A, B), FactoredMatrix)
        return
    assert_same(op(FactoredMatrix(A, B), FactoredMatrix), want, dtype)


def _operations(shape, mdim, dtype, seed=1):
    """Named ``op(M, cls)`` for a matrix of ``shape`` (leading axes, ldim, rdim); ``cls`` builds factored operands."""
    *leading, ldim, rdim = shape
    gen = torch.Generator().manual_seed(seed)

    def t(*s):
        return _randn(*s, dtype=dtype, gen=gen)

    bcast = (4, *(1,) * len(leading))  # broadcasts against any leading axes, adds one of length 4
    n_lead = len(leading)
    lead0 = (0,) * n_lead
    every = (slice(None),) * n_lead
    rows, cols = torch.tensor([0, ldim - 1, 0]), torch.tensor([rdim - 1, 0])
    ops = {
        "AB": lambda M, F: M.AB, "BA": lambda M, F: M.BA, "T": lambda M, F: M.T,
        "shape": lambda M, F: M.shape, "ndim": lambda M, F: M.ndim, "pair": lambda M, F: M.pair,
        "dims": lambda M, F: (M.ldim, M.mdim, M.rdim), "has_leading_dims": lambda M, F: M.has_leading_dims,
        "repr": lambda M, F: repr(M), "unsqueeze(0)": lambda M, F: M.unsqueeze(0),
        "unsqueeze(-1)": lambda M, F: M.unsqueeze(-1),
        "get_corner()": lambda M, F: M.get_corner(), "get_corner(2)": lambda M, F: M.get_corner(2),
        # products with tensors, both sides; widths below, at and above mdim so both factorings occur
        "@ vector": (lambda M, F, v=t(rdim): M @ v), "vector @": (lambda M, F, v=t(ldim): v @ M),
        "@ wrong vector": (lambda M, F, v=t(rdim + 1): M @ v),
        "wrong vector @": (lambda M, F, v=t(ldim + 1): v @ M),
        "@ wrong matrix": (lambda M, F, x=t(rdim + 1, 2): M @ x),
        "wrong matrix @": (lambda M, F, x=t(2, ldim + 1): x @ M),
        "@ batched vectors": (lambda M, F, x=t(4, rdim): M @ x),
        "@ broadcast matrix": (lambda M, F, x=t(*bcast, rdim, 3): M @ x),
        "broadcast matrix @": (lambda M, F, x=t(*bcast, 3, ldim): x @ M),
        "@ mismatched leading": (lambda M, F, x=t(5, 7, rdim, 2): M @ x),
        # products of factored matrices; M.__rmatmul__(X) is X @ M with the factoring TransformerLens uses there
        "rmatmul(factored)": (lambda M, F, a=t(3, 2), b=t(2, ldim): M.__rmatmul__(F(a, b))),
        # scalars, both sides
        "* float": lambda M, F: M * 2.5, "float *": lambda M, F: 2.5 * M, "* int": lambda M, F: M * 3,
        "* 0-d tensor": (lambda M, F, s=t(): M * s), "0-d tensor *": (lambda M, F, s=t(): s * M),
        "* [1] tensor": (lambda M, F, s=t(1): M * s), "* [1, 1, 1] tensor": (lambda M, F, s=t(1, 1, 1): M * s),
        "* [2] tensor": (lambda M, F, s=t(2): M * s), "[2] tensor *": (lambda M, F, s=t(2): s * M),
        # indexing: leading axes, then rows, then columns
        "[0]": lambda M, F: M[0], "[-1]": lambda M, F: M[-1], "[0:2]": lambda M, F: M[0:2],
        "[None]": lambda M, F: M[None], "[lead, row]": lambda M, F: M[(*lead0, 1 % ldim)],
        "[lead, -1]": lambda M, F: M[(*lead0, -1)], "[:, rows]": lambda M, F: M[(*every, rows)],
        "[:, 1:3]": lambda M, F: M[(*every, slice(1, 3))],
        "[lead, row, col]": lambda M, F: M[(*lead0, 0, rdim - 1)],
        "[:, -1, -1]": lambda M, F: M[(*every, -1, -1)],
        "[:, rows, cols]": lambda M, F: M[(*every, rows, cols)],
        "[:, list, :]": lambda M, F: M[(*every, [ldim - 1, 0], slice(None))],
        "[:, :, -2:]": lambda M, F: M[(*every, slice(None), slice(-2, None))],
        "too long": lambda M, F: M[(*lead0, 0, 0, 0)],
    }
    if leading:
        ops["[heads, rows, cols]"] = lambda M, F: M[(*(slice(None),) * (n_lead - 1), torch.tensor([0, -1]),
                                                    rows, cols)]
    for width in sorted({1, mdim, rdim + 3}):
        ops[f"@ [rdim, {width}]"] = lambda M, F, x=t(rdim, width): M @ x
        ops[f"[{width}, ldim] @"] = lambda M, F, x=t(width, ldim): x @ M
        ops[f"@ factored, mdim {width}"] = lambda M, F, a=t(rdim, width), b=t(width, 3): M @ F(a, b)
    return ops


@pytest.mark.parametrize("leading,dims,dtype", CASES)
def test_every_operation_matches_transformer_lens(leading, dims, dtype):
    A, B = _factors(leading, dims, dtype)
    shape = FactoredMatrix(A, B).shape
    for name, op in _operations(shape, dims[1], dtype).items():
        try:
            assert_same_op(op, A, B, dtype)
        except (AssertionError, pytest.fail.Exception) as err:
            raise AssertionError(f"{name}: {err}") from err


def _signs(ours: torch.Tensor, theirs: torch.Tensor) -> torch.Tensor:
    """Per column, the sign that turns our singular vectors into theirs: ``[..., 1, r]``."""
    return torch.where((ours.double() * theirs.double()).sum(dim=-2, keepdim=True) < 0, -1, 1).to(ours.dtype)


@pytest.mark.parametrize("leading,dims,dtype", CASES)
def test_svd_family_matches_transformer_lens(leading, dims, dtype):
    A, B = _factors(leading, dims, dtype)
    ours = FactoredMatrix(A, B)
    # TransformerLens has no 16-bit SVD (it raises): ours is held to its float32 answer, rounded
    theirs = TLFactoredMatrix(A.float(), B.float()) if dtype == torch.bfloat16 else TLFactoredMatrix(A, B)
    if dtype == torch.bfloat16:
        with pytest.raises(NotImplementedError):
            TLFactoredMatrix(A, B).svd()

    def cast(x):
        return x.to(dtype)

    U, S, V = ours.svd()
    U_tl, S_tl, V_tl = (cast(x) for x in theirs.svd())
    sign = _signs(U, U_tl)
    assert_same(S, S_tl, dtype)
    assert_same((U * sign, V * sign), (U_tl, V_tl), dtype)
    assert_same((ours.U * sign, ours.S, ours.V * sign), (U_tl, S_tl, V_tl), dtype)
    with pytest.warns(DeprecationWarning, match="returns V"):
        Vh = ours.Vh
    assert_same(Vh * sign, V_tl, dtype)  # TransformerLens's Vh is V, too
    assert_same(ours.norm(), cast(theirs.norm()), dtype)
    assert_same(ours.collapse_l() * sign.mT, cast(theirs.collapse_l()), dtype)
    assert_same(ours.collapse_r() * sign, cast(theirs.collapse_r()), dtype)
    even, even_tl = ours.make_even(), theirs.make_even()
    assert_same(FactoredMatrix(even.A * sign, even.B * sign.mT),
                TLFactoredMatrix(cast(even_tl.A), cast(even_tl.B)), dtype)
    dense = (A.double() @ B.double())
    torch.testing.assert_close((U.double() * S.double()[..., None, :]) @ V.double().mT, dense,
                               rtol=0, atol=TOL[dtype] * 10 * max(dense.abs().max().item(), 1.0))


def _assert_same_spectrum(ours: torch.Tensor, theirs: torch.Tensor, dtype) -> None:
    """The same multiset of complex eigenvalues (each of ours near one of theirs, and back)."""
    assert (ours.shape, ours.dtype) == (theirs.shape, theirs.dtype)
    gaps = (ours[..., :, None] - theirs[..., None, :]).abs()  # [..., ours, theirs]
    tol = TOL[dtype] * max(theirs.abs().max().item(), 1.0)
    assert gaps.min(dim=-1).values.max() <= tol and gaps.min(dim=-2).values.max() <= tol


@pytest.mark.parametrize("leading,dims,dtype", CASES)
def test_eigenvalues_match_transformer_lens(leading, dims, dtype):
    A, B = _factors(leading, dims, dtype)
    ours, theirs = FactoredMatrix(A, B), TLFactoredMatrix(A, B)
    if dims[0] != dims[2]:
        with pytest.raises(AssertionError):
            theirs.eigenvalues
        with pytest.raises(AssertionError):
            ours.eigenvalues
        return
    _assert_same_spectrum(ours.eigenvalues, theirs.eigenvalues, dtype)


def test_construction_errors_have_transformer_lens_types():
    cases = {
        "inner dimensions": (torch.zeros(3, 2), torch.zeros(3, 4)),
        "leading axes": (torch.zeros(2, 3, 2), torch.zeros(3, 2, 4)),
        "a vector factor": (torch.zeros(3), torch.zeros(3, 4)),
    }
    for A, B in cases.values():
        with pytest.raises(Exception) as theirs:  # noqa: PT011
            TLFactoredMatrix(A, B)
        with pytest.raises(type(theirs.value)):
            FactoredMatrix(A, B)


@st.composite
def _shapes(draw):
    n_lead = draw(st.integers(0, 2))
    lead_a = tuple(draw(st.sampled_from([1, 2, 3])) for _ in range(n_lead))
    lead_b = tuple(draw(st.sampled_from([1, size])) for size in lead_a)[draw(st.integers(0, n_lead)):]
    dims = tuple(draw(st.integers(1, 6)) for _ in range(3))
    return (lead_a, lead_b), dims, draw(st.sampled_from(DTYPES)), draw(st.integers(0, 2**16))


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(_shapes())
def test_random_shapes_match_transformer_lens(case):
    leading, dims, dtype, seed = case
    A, B = _factors(leading, dims, dtype, seed=seed)
    shape = FactoredMatrix(A, B).shape
    for name, op in _operations(shape, dims[1], dtype, seed=seed + 1).items():
        try:
            assert_same_op(op, A, B, dtype)
        except (AssertionError, pytest.fail.Exception) as err:
            raise AssertionError(f"{name} on {leading} {dims} {dtype}: {err}") from err
    if dtype != torch.bfloat16:
        ours, theirs = FactoredMatrix(A, B), TLFactoredMatrix(A, B)
        assert_same(ours.S, theirs.S, dtype)
        assert_same(ours.norm(), theirs.norm(), dtype)
