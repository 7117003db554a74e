"""Comparing a learner's output with the reference: type, shape, dtype, NaN/Inf, then values.

Never a broadcasting ``allclose``: a ``[4, 1]`` answer for a ``[4]`` reference
is a shape error, not a pass. Each failure says what was expected, what came,
and where the largest error is.

>>> import torch
>>> compare(torch.zeros(2, 3), torch.zeros(3, 2)).message
'wrong shape: expected (2, 3), got (3, 2) (the axes look transposed)'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor


@dataclass
class Verdict:
    passed: bool
    kind: str  # "ok" | "type" | "shape" | "dtype" | "nan" | "values"
    message: str


OK = Verdict(True, "ok", "matches the reference")


def _fmt_index(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, index)) + "]"


def _unravel(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The index of entry ``flat`` of a row-major tensor (``torch.unravel_index``, without its cost)."""
    index = []
    for n in reversed(shape):
        flat, i = divmod(flat, n)
        index.append(i)
    return tuple(reversed(index))


def compare(expected: Any, got: Any, atol: float = 1e-5, rtol: float = 1e-4, what: str = "output") -> Verdict:
    """Is ``got`` the reference ``expected``? Tensors, numbers, and tuples/lists of them."""
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            n = len(got) if isinstance(got, (tuple, list)) else None
            return Verdict(False, "type", f"expected {len(expected)} outputs, got "
                           + (f"{n}" if n is not None else f"a {type(got).__name__}"))
        for i, (e, g) in enumerate(zip(expected, got)):
            v = compare(e, g, atol, rtol, what=f"{what}[{i}]")
            if not v.passed:
                return v
        return OK
    if isinstance(expected, Tensor):
        return _compare_tensors(expected, got, atol, rtol, what)
    if isinstance(expected, (int, float)):
        if isinstance(got, Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            return Verdict(False, "type", f"{what}: expected a number, got {type(got).__name__}")
        if math.isnan(got) or math.isinf(got):
            return Verdict(False, "nan", f"{what}: expected {expected:.6g}, got {got}")
        if abs(got - expected) > atol + rtol * abs(expected):
            return Verdict(False, "values", f"{what}: expected {expected:.6g}, got {got:.6g}")
        return OK
    return Verdict(got == expected, "values" if got != expected else "ok", f"{what}: expected {expected!r}, got {got!r}")


def _compare_tensors(expected: Tensor, got: Any, atol: float, rtol: float, what: str) -> Verdict:
    if type(got) is not Tensor and not (isinstance(got, Tensor) and type(got).__name__ == "Parameter"):
        kind = type(got).__name__
        hint = " (return a torch.Tensor, not a subclass)" if isinstance(got, Tensor) else ""
        return Verdict(False, "type", f"{what}: expected a torch.Tensor, got {kind}{hint}")
    got = got.detach()
    if tuple(got.shape) != tuple(expected.shape):
        hint = ""
        if sorted(got.shape) == sorted(expected.shape) and got.ndim >= 2:
            hint = " (the axes look transposed)"
        elif got.numel() == expected.numel():
            hint = " (same number of elements: a reshape or a missing/extra axis of size 1?)"
        return Verdict(False, "shape", f"wrong shape: expected {tuple(expected.shape)}, got {tuple(got.shape)}{hint}")
    if got.dtype != expected.dtype:
        return Verdict(False, "dtype", f"{what}: expected dtype {expected.dtype}, got {got.dtype}")
    if expected.dtype == torch.bool or not expected.dtype.is_floating_point:
        wrong = (got != expected).nonzero()
        if len(wrong):
            idx = tuple(wrong[0].tolist())
            return Verdict(False, "values", f"{what}: {len(wrong)} of {expected.numel()} entries differ; first at "
                           f"{_fmt_index(idx)}: expected {expected[idx].item()}, got {got[idx].item()}")
        return OK
    bad = ~torch.isfinite(got) & torch.isfinite(expected)
    if bad.any():
        idx = tuple(bad.nonzero()[0].tolist())
        return Verdict(False, "nan", f"{what}: {int(bad.sum())} entries are NaN or infinite where the reference is "
                       f"finite; first at {_fmt_index(idx)} (expected {expected[idx].item():.6g}, got {got[idx].item()})")
    # equal infinities, and NaN where the other side has NaN too (a known mistake's output), count as equal
    same = (torch.isinf(expected) & (got == expected)) | (torch.isnan(expected) & torch.isnan(got))
    err = (got.double() - expected.double()).abs().masked_fill(same, 0.0).nan_to_num(float("inf"))
    # a NaN in the expected output (a mistake's) matches only NaN: its tolerance is 0, its error inf
    allowed = atol + rtol * expected.double().abs().masked_fill(~torch.isfinite(expected), 0.0)
    over = err > allowed
    if over.any():
        idx = _unravel(int((err - allowed).argmax()), expected.shape)
        return Verdict(False, "values", f"{what}: {int(over.sum())} of {expected.numel()} values are off; the largest "
                       f"error is at {_fmt_index(idx)}: expected {expected[idx].item():.6g}, got {got[idx].item():.6g}")
    return OK


def compare_samples(probs: Tensor, samples: Tensor, n_sigma: float = 6.0) -> Verdict:
    """Samples ``[rows, n]`` drawn per row from ``probs [rows, d_vocab]``: right support, right frequencies."""
    if type(samples) is not Tensor or samples.dtype not in (torch.int64, torch.int32):
        return Verdict(False, "type", f"expected a LongTensor of token ids, got {type(samples).__name__} "
                       f"{getattr(samples, 'dtype', '')}")
    rows, n = samples.shape[0], samples.shape[-1] if samples.ndim == 2 else 1
    samples = samples.reshape(rows, n)
    if ((samples < 0) | (samples >= probs.shape[-1])).any():
        return Verdict(False, "values", "sampled ids outside the vocabulary")
    for r in range(rows):
        counts = torch.bincount(samples[r].long(), minlength=probs.shape[-1]).double()
        impossible = (counts > 0) & (probs[r] == 0)
        if impossible.any():
            tok = int(impossible.nonzero()[0])
            return Verdict(False, "values", f"row {r}: sampled token {tok}, which has probability 0 after filtering")
        freq, p = counts / n, probs[r].double()
        sigma = (p * (1 - p) / n).sqrt().clamp_min(1.0 / n)
        z = ((freq - p).abs() / sigma).max()
        if z > n_sigma:
            tok = int(((freq - p).abs() / sigma).argmax())
            return Verdict(False, "values", f"row {r}: token {tok} was sampled with frequency {freq[tok]:.3f}, "
                           f"expected {p[tok]:.3f} (over {n} samples)")
    return OK


def compare_sample_rows(probs: Tensor, samples: Tensor, n_sigma: float = 6.0) -> Verdict:
    """One sample per row, ``samples [batch]`` drawn from ``probs [batch, d_vocab]``.

    Rows with the same probabilities are pooled (a check repeats a few
    distinct rows many times) and each pool is held to :func:`compare_samples`.
    """
    if type(samples) is not Tensor:
        return Verdict(False, "type", f"expected a LongTensor of token ids, got {type(samples).__name__}")
    if tuple(samples.shape) != tuple(probs.shape[:-1]):
        return Verdict(False, "shape", f"wrong shape: expected {tuple(probs.shape[:-1])} (one token id per row), "
                       f"got {tuple(samples.shape)}")
    distinct, which = torch.unique(probs, dim=0, return_inverse=True)
    for r in range(len(distinct)):
        verdict = compare_samples(distinct[r : r + 1], samples[which == r][None], n_sigma)
        if not verdict.passed:
            rows = (which == r).nonzero()[:, 0]
            where = f"row {int(rows[0])}" + (f" (and {len(rows) - 1} identical rows)" if len(rows) > 1 else "")
            return Verdict(False, verdict.kind, verdict.message.replace("row 0", where, 1))
    return OK
