"""The facts CI holds for every exercise of every chapter: the solution passes, the untouched stub
is not implemented, and each known mistake fails with its own diagnosis, in process and in the sandbox.

Every test here is parametrized over the registry, so a new chapter is covered as soon as its
exercises are registered; ``test_chNN_exercises.py`` holds what is particular to one chapter.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import load_stub
from minigpt.grading import all_exercises, check
from minigpt.grading.grade import grade_folder
from minigpt.grading.reference import _definition_source, dependency_source, reference

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = all_exercises()
MUTANTS = [(ex, m) for ex in EXERCISES for m in ex.mutants]
WITH_DEPENDENCIES = [ex for ex in EXERCISES if ex.depends_on]
CHAPTERS = sorted({ex.chapter for ex in EXERCISES})
FILES = sorted({ex.file for ex in EXERCISES})


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_solution_passes(ex):
    result = check(ex.id, reference(ex))
    assert result.status == "pass", str(result)
    assert result.score == ex.points


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_stub_is_not_implemented(ex):
    result = check(ex.id, getattr(load_stub(ex.file), ex.name))
    assert result.status == "not_implemented", str(result)
    assert result.score == 0


@pytest.mark.parametrize("ex, mutant", MUTANTS, ids=[f"{ex.id}-{m.name}" for ex, m in MUTANTS])
def test_mutant_fails_with_its_own_diagnosis(ex, mutant):
    result = check(ex.id, mutant.fn)
    assert result.status == "fail", str(result)
    assert result.score == 0
    assert result.diagnosis == mutant.diagnosis, str(result)
    assert mutant.diagnosis in str(result)


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_exercise_metadata(ex):
    """What every exercise has; each chapter's file checks its own kinds and how many mistakes it knows."""
    prefix = f"ch{ex.chapter:02d}"
    assert ex.id == f"{prefix}.{ex.name.lower() if ex.kind == 'module' else ex.name}"  # a class's id is lower case
    assert ex.file.startswith(f"{prefix}_") and (ROOT / "solutions" / ex.file).is_file()
    assert ex.points > 0 and ex.difficulty in (1, 2, 3)
    assert 1 <= len(ex.hints) <= 3
    assert len(ex.mutants) >= 2
    assert len({m.name for m in ex.mutants}) == len(ex.mutants)
    assert len({m.diagnosis for m in ex.mutants}) == len(ex.mutants)
    ids = [e.id for e in EXERCISES]
    for dep in ex.depends_on:  # the grader fills a dependency in from the same solutions file
        assert dep.startswith(f"{prefix}.") and ids.index(dep) < ids.index(ex.id), dep


@pytest.mark.parametrize("ex", WITH_DEPENDENCIES, ids=lambda ex: ex.id)
def test_dependencies_are_graded_with_the_reference(ex):
    """The stub, with the reference dependencies filled in, is still not implemented; with the answer, it passes."""
    stub = load_stub(ex.file)
    exec(dependency_source(ex), stub.__dict__)
    assert check(ex.id, getattr(stub, ex.name)).status == "not_implemented"
    exec(_definition_source(ex.file, ex.name), stub.__dict__)
    assert check(ex.id, getattr(stub, ex.name)).status == "pass"


@pytest.mark.parametrize("file", FILES)
def test_solutions_file_does_not_import_the_grader(file):
    tree = ast.parse((ROOT / "solutions" / file).read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if "grading" in m or m.startswith("solutions")]


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: f"ch{c:02d}")
def test_in_the_sandbox_the_solutions_score_full_marks_and_the_stubs_zero(chapter):
    prefix = f"ch{chapter:02d}"
    solutions = grade_folder(ROOT / "solutions", exercise_ids=[prefix], jobs=2)
    assert len(solutions.results) == sum(ex.chapter == chapter for ex in EXERCISES)
    assert solutions.score == solutions.max_score > 0, solutions.table()
    stubs = grade_folder(ROOT / "exercises", exercise_ids=[prefix], jobs=2)
    assert {r.status for r in stubs.results} == {"not_implemented"}, stubs.table()
