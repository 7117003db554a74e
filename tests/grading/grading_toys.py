"""A toy set of exercises for the grader's tests, registered for a while and removed after.

Its reference lives in a solutions-like file under ``tmp_path``, reached by
patching :func:`minigpt.grading.reference.solutions_module`, so these tests
do not depend on the chapters' content.
"""

from __future__ import annotations

import contextlib
import importlib.util
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from minigpt.grading import Exercise, Mutant, register
from minigpt.grading import reference as reference_mod
from minigpt.grading import registry

TOY_FILE = "toy_exercises.py"

SOLUTION = '''
import torch
from torch import nn


def double(x):
    """Twice ``x``."""
    return x * 2


def quad(x):
    """Four times ``x``, using ``double``."""
    return double(double(x))


class Scale(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.w = nn.Parameter(torch.ones(cfg.d_model))

    def forward(self, x):
        return x * self.w
'''

STUB = '''
import torch
from torch import nn


def double(x):
    raise NotImplementedError("multiply by two")


def quad(x):
    raise NotImplementedError("use double twice")


class Scale(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.w = nn.Parameter(torch.ones(cfg.d_model))

    def forward(self, x):
        raise NotImplementedError
'''


def _double_cases():
    g = torch.Generator().manual_seed(0)
    return [{"x": torch.randn(4, 3, generator=g)}, {"x": torch.randn(5, generator=g)}]


def _scale_cases():
    g = torch.Generator().manual_seed(1)
    cfg = {"n_layers": 1, "d_model": 8, "n_heads": 2, "d_vocab": 16, "n_ctx": 8}
    return [{"cfg": cfg, "state_dict": {"w": torch.randn(8, generator=g)}, "x": torch.randn(2, 8, generator=g)}]


@dataclass
class Toy:
    solution_dir: Path
    ids: list[str]

    def submission(self, folder: Path, source: str | None = None, **replace: str) -> Path:
        """Write a student's folder: the solution, a custom source, or the solution with functions replaced."""
        folder.mkdir(parents=True, exist_ok=True)
        text = SOLUTION if source is None else textwrap.dedent(source)
        for old, new in replace.items():
            assert old in text, old
            text = text.replace(old, new)
        (folder / TOY_FILE).write_text(text)
        return folder


@contextlib.contextmanager
def toy_exercises(root: Path, monkeypatch: pytest.MonkeyPatch):
    """Register ``test.double``, ``test.quad`` (depends on double) and ``test.scale`` (a module) for a while."""
    solution_dir = root / "toy_solutions"
    solution_dir.mkdir()
    (solution_dir / TOY_FILE).write_text(SOLUTION)
    spec = importlib.util.spec_from_file_location("toy_solutions_module", solution_dir / TOY_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    original = reference_mod.solutions_module
    monkeypatch.setattr(reference_mod, "solutions_module",
                        lambda file: module if file == TOY_FILE else original(file))
    registry._load_all()
    exercises = [
        Exercise(id="test.double", chapter=99, title="Double", file=TOY_FILE, name="double", points=1,
                 difficulty=1, hints=["Multiply by two."], make_cases=_double_cases, timeout_s=10,
                 mutants=[Mutant("triple", "It looks like you multiplied by three.", lambda x: x * 3),
                          Mutant("square", "It looks like you squared instead of doubling.", lambda x: x * x)]),
        Exercise(id="test.quad", chapter=99, title="Quad", file=TOY_FILE, name="quad", points=2, difficulty=1,
                 hints=[], make_cases=_double_cases, depends_on=["test.double"], timeout_s=10),
        Exercise(id="test.scale", chapter=99, title="Scale", file=TOY_FILE, name="Scale", points=1, difficulty=1,
                 hints=[], make_cases=_scale_cases, kind="module", timeout_s=10),
    ]
    for ex in exercises:
        register(ex)
    try:
        yield Toy(solution_dir, [ex.id for ex in exercises])
    finally:
        for ex in exercises:
            registry._EXERCISES.pop(ex.id, None)
