"""A chapter notebook opened alone (Colab, a course site, an empty folder) runs top to bottom.

``minigpt chapters build --out DIR`` writes the notebooks without a workspace. Run there, a chapter
writes its exercise file (the course's stub) next to itself and prints where; a file of the
learner's already there is used, and never overwritten.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from tests.chapters.learner_cells import stub_run
from tests.chapters.test_chapter_notebooks import ANSI, CELL_TIMEOUT, check_marks, output_text

from minigpt.cli import main
from minigpt.workspace.course import CHAPTER_GLOB, chapter_notebook

nbclient = pytest.importorskip("nbclient")

REPO = Path(__file__).resolve().parents[2]
CHAPTER, STEM = "01_transformer_from_scratch", "ch01_transformer"
CHAPTERS = sorted((REPO / "chapters").glob(CHAPTER_GLOB))


def run_alone(nb, folder: Path) -> None:
    """Execute ``nb`` from ``folder`` as a notebook opened there: no workspace, no $MINIGPT_EXERCISES."""
    env = {k: v for k, v in os.environ.items() if k != "MINIGPT_EXERCISES"}
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(folder)}})
    try:
        client.execute(env=env)
    except (nbclient.exceptions.CellExecutionError, nbclient.exceptions.CellTimeoutError,
            nbclient.exceptions.DeadKernelError) as exc:
        pytest.fail(f"run alone in {folder}:\n{ANSI.sub('', str(exc))}", pytrace=False)


def built_alone(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    assert main(["chapters", "build", "--out", str(folder), CHAPTER]) == 0
    assert not any((p / "exercises").is_dir() for p in (folder, *folder.parents)), "not outside a workspace"
    assert sorted(p.name for p in folder.iterdir()) == [f"{CHAPTER}.ipynb"]
    return folder


def with_solution_of(stub: str, solution: str, name: str) -> str:
    """``stub`` with the function ``name`` replaced by its solution."""
    def segment(source: str) -> tuple[int, int]:
        node = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name)
        lines = source.splitlines(keepends=True)
        return sum(map(len, lines[: node.lineno - 1])), sum(map(len, lines[: node.end_lineno]))

    (s0, s1), (r0, r1) = segment(stub), segment(solution)
    return stub[:s0] + solution[r0:r1] + stub[s1:]


@pytest.mark.slow
def test_a_notebook_alone_writes_its_exercise_file_next_to_itself_and_runs(tmp_path, record_timing):
    folder = built_alone(tmp_path)
    nb = nbformat.read(folder / f"{CHAPTER}.ipynb", as_version=4)
    start = time.perf_counter()
    run_alone(nb, folder)
    record_timing(CHAPTER, "alone, stubs", time.perf_counter() - start, cells="every cell")
    mine = folder / f"{STEM}.py"
    assert mine.read_bytes() == (REPO / "exercises" / f"{STEM}.py").read_bytes()  # the course's stub
    assert f"Wrote your exercise file {mine}" in output_text(nb)
    marks = check_marks(nb)
    assert marks and all(mark == "TODO" for mark, _ in marks), marks


@pytest.mark.slow
def test_a_notebook_alone_uses_the_learners_file_next_to_it(tmp_path):
    folder = built_alone(tmp_path)
    stub = (REPO / "exercises" / f"{STEM}.py").read_text()
    edited = with_solution_of(stub, (REPO / "solutions" / f"{STEM}.py").read_text(), "embed")
    mine = folder / f"{STEM}.py"
    mine.write_text(edited)
    before = mine.read_bytes()

    nb = nbformat.read(folder / f"{CHAPTER}.ipynb", as_version=4)
    plan = stub_run([cell.source for cell in nb.cells if cell.cell_type == "code"])
    assert plan.how == "statements"  # the imports and load_exercises, then each check alone: seconds
    nb.cells = [nbformat.v4.new_code_cell(source) for source in plan.cells]
    run_alone(nb, folder)
    assert f"Your exercise file: {mine}" in output_text(nb)
    marks = dict((exercise, mark) for mark, exercise in check_marks(nb))
    assert marks["ch01.embed"] == "PASS"
    assert {mark for exercise, mark in marks.items() if exercise != "ch01.embed"} == {"TODO"}
    assert mine.read_bytes() == before  # used, never overwritten
    assert sorted(p.name for p in folder.iterdir()) == [f"{CHAPTER}.ipynb", f"{STEM}.py"]


def install_guard(chapter: Path) -> str:
    """The statements of a chapter's first code cell up to its check that minigpt is installed."""
    first = next(cell.source for cell in chapter_notebook(chapter).cells if cell.cell_type == "code")
    tree = ast.parse(first)
    guard = next(i for i, node in enumerate(tree.body)
                 if isinstance(node, ast.If) and "find_spec" in ast.unparse(node.test))
    return "\n".join(ast.unparse(node) for node in tree.body[: guard + 1]
                     if isinstance(node, (ast.Import, ast.ImportFrom, ast.If)))


def run_without_minigpt(code: str) -> subprocess.CompletedProcess:
    """``code`` in this Python without site-packages (so without minigpt), from an empty folder."""
    return subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=REPO / "chapters")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_without_minigpt_the_first_cell_says_how_to_install_it(chapter):
    guard = install_guard(chapter)
    assert run_without_minigpt("import minigpt").returncode != 0
    run = run_without_minigpt(guard)
    assert run.returncode == 1 and "ModuleNotFoundError" in run.stderr
    assert 'pip install "minigpt-interp[course]"' in run.stderr and "pip install minigpt`" in run.stderr


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_in_colab_the_first_cell_installs_minigpt_interp(chapter):
    fake_colab = ("import subprocess, sys, types\n"
                  "sys.modules['google.colab'] = types.ModuleType('google.colab')\n"
                  "subprocess.run = lambda command, check: print('RAN', command[1:])\n")
    run = run_without_minigpt(fake_colab + install_guard(chapter))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "RAN ['-m', 'pip', 'install', '--quiet', 'minigpt-interp']"
