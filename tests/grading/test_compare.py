"""The comparisons behind every verdict: NaN and infinities are judged, never waved through."""

from __future__ import annotations

import torch

from minigpt.grading.compare import compare

NAN, INF = float("nan"), float("inf")


def test_nan_expected_matches_only_nan():  # a known mistake's output may hold NaN; a finite answer is not it
    assert not compare(torch.tensor([NAN, 1.0]), torch.tensor([0.0, 1.0])).passed
    assert compare(torch.tensor([NAN, 1.0]), torch.tensor([NAN, 1.0])).passed


def test_nan_where_the_reference_is_finite_fails_with_the_nan_kind():
    verdict = compare(torch.tensor([0.5, 1.0]), torch.tensor([NAN, 1.0]))
    assert not verdict.passed and verdict.kind == "nan"


def test_equal_infinities_match_and_opposite_ones_do_not():
    assert compare(torch.tensor([-INF, 2.0]), torch.tensor([-INF, 2.0])).passed
    assert not compare(torch.tensor([-INF, 2.0]), torch.tensor([INF, 2.0])).passed
    assert not compare(torch.tensor([-INF, 2.0]), torch.tensor([0.0, 2.0])).passed
