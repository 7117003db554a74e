"""Helpers shared by chapter 1's checks."""

from __future__ import annotations

import torch
from torch import Tensor

from ...registry import Exercise, register

FILE = "ch01_transformer.py"
INF = float("inf")


def _randn(g: torch.Generator, *shape: int, scale: float = 1.0, shift: float = 0.0) -> Tensor:
    return torch.randn(*shape, generator=g) * scale + shift


def _ex(id: str, name: str, title: str, points: float, difficulty: int, hints, cases, mutants, **kw) -> Exercise:
    return register(Exercise(id=f"ch01.{id}", chapter=1, title=title, file=FILE, name=name, points=points,
                             difficulty=difficulty, hints=hints, make_cases=cases, mutants=mutants, **kw))

