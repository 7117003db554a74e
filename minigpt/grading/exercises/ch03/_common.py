"""Helpers shared by chapter 3's checks."""

from __future__ import annotations

import torch
from torch import Tensor

from ...registry import Exercise, register

FILE = "ch03_induction.py"
INF = float("inf")


def _randn(g: torch.Generator, *shape: int, scale: float = 1.0, shift: float = 0.0) -> Tensor:
    return torch.randn(*shape, generator=g) * scale + shift


def _pattern(g: torch.Generator, batch: int, heads: int, pos: int, sharpness: float = 2.0) -> Tensor:
    """A random causal attention pattern ``[batch n_heads pos pos]`` (rows sum to 1, zeros above the diagonal)."""
    scores = _randn(g, batch, heads, pos, pos, scale=sharpness)
    future = torch.ones(pos, pos, dtype=torch.bool).triu(diagonal=1)
    return scores.masked_fill(future, -INF).softmax(dim=-1)


def _ex(id: str, name: str, title: str, points: float, difficulty: int, hints, cases, mutants, **kw) -> Exercise:
    return register(Exercise(id=f"ch03.{id}", chapter=3, title=title, file=FILE, name=name, points=points,
                             difficulty=difficulty, hints=hints, make_cases=cases, mutants=mutants, **kw))
