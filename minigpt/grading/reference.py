"""Where the reference implementations come from: the ``solutions`` package (``solutions/*.py``).

Only the grader's own process reads them; a sandboxed student process cannot
import them. For an exercise graded on its own, its dependencies are given to
the student's code as *source text* of just those reference functions (see
:func:`dependency_source`), so one bug does not cascade and the reference of
the exercise under test is never within reach.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType

from .registry import Exercise, get_exercise


def solutions_module(file: str) -> ModuleType:
    """``solutions/<file>`` as a module (``file`` like ``ch01_transformer.py``)."""
    return importlib.import_module(f"solutions.{Path(file).stem}")


def reference(ex: Exercise):
    """The reference function or class of ``ex``."""
    return getattr(solutions_module(ex.file), ex.name)


def _definition_source(file: str, name: str) -> str:
    path = Path(solutions_module(file).__file__)
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return ast.get_source_segment(path.read_text(), node)
    raise KeyError(f"{name} is not defined at the top level of {path}")


def transitive_dependencies(ex: Exercise) -> list[Exercise]:
    """Every exercise ``ex`` depends on, directly or not, dependencies first."""
    order: list[Exercise] = []

    def visit(dep_id: str) -> None:
        dep = get_exercise(dep_id)
        for d in dep.depends_on:
            visit(d)
        if dep not in order:
            order.append(dep)

    for d in ex.depends_on:
        visit(d)
    return order


def dependency_source(ex: Exercise) -> str:
    """Source of the reference versions of ``ex``'s dependencies, to exec into the student's module."""
    return "\n\n".join(_definition_source(dep.file, dep.name) for dep in transitive_dependencies(ex))
