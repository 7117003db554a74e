"""Every chapter, built as the learner gets it (jupytext -> .ipynb) and executed top to bottom (nbclient, offline).

With the solutions (``MINIGPT_EXERCISES=solutions/``) every cell runs and every check passes;
with the untouched stubs the chapter runs and its checks say TODO. The stubs run executes only
what can behave differently from the solutions run (learner_cells.py says what and why), so CI
does not execute each chapter twice; ``MINIGPT_STUBS_FULL=1`` runs every cell with the stubs too.
Times are recorded (see conftest.py), not asserted.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest
from tests.chapters.learner_cells import learner_checks, stub_run

from minigpt.workspace.course import CHAPTER_GLOB, chapter_notebook

nbclient = pytest.importorskip("nbclient")

REPO = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((REPO / "chapters").glob(CHAPTER_GLOB))
CELL_TIMEOUT = 600  # a hang guard only: a chapter's budget is 3 minutes in all
ANSI = re.compile(r"\x1b\[[0-9;]*m")
CHECK_MARK = re.compile(r"\[(PASS|FAIL|TODO|ERROR|TIMEOUT|MEMORY|CRASH)\] (ch\d\d\.\w+)")


def execute(nb, exercises: Path, cwd: Path) -> float:
    """Run ``nb`` in a python3 kernel (this interpreter's) from ``cwd``; the seconds it took."""
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(cwd)}})
    start = time.perf_counter()
    error = None
    try:
        client.execute(env={**os.environ, "MINIGPT_EXERCISES": str(exercises)})
    except (nbclient.exceptions.CellExecutionError, nbclient.exceptions.CellTimeoutError,
            nbclient.exceptions.DeadKernelError) as exc:
        error = ANSI.sub("", str(exc))  # the failing cell and its traceback, without terminal colours
    if error is not None:
        pytest.fail(f"with MINIGPT_EXERCISES={exercises}:\n{error}", pytrace=False)
    return time.perf_counter() - start


def output_text(nb) -> str:
    """Everything the code cells printed or displayed as text."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif "data" in out:
                parts.append(out["data"].get("text/plain", ""))
    return "\n".join(parts)


def check_marks(nb) -> list[tuple[str, str]]:
    """``[(mark, exercise id), ...]`` for every check result the chapter showed."""
    return CHECK_MARK.findall(output_text(nb))


def test_python3_kernel_is_this_interpreter(tmp_path):
    """The chapters run in the environment under test (ipykernel's python3 spec runs sys.executable)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.prefix)")])
    execute(nb, REPO / "solutions", tmp_path)
    assert nb.cells[0].outputs[0]["text"].strip() == sys.prefix


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_runs_with_the_solutions(chapter, tmp_path, record_timing):
    nb = chapter_notebook(chapter)
    seconds = execute(nb, REPO / "solutions", tmp_path)
    record_timing(chapter.stem, "solutions", seconds, cells=f"{len(nb.cells)} cells")
    checked = learner_checks([cell.source for cell in nb.cells if cell.cell_type == "code"])
    shown = [(mark, exercise) for mark, exercise in check_marks(nb) if exercise in checked]
    assert {e for _, e in shown} == checked, f"checks that showed no result: {checked - {e for _, e in shown}}"
    assert all(mark == "PASS" for mark, _ in shown), f"with the solutions every check passes: {shown}"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_runs_with_the_stubs(chapter, tmp_path, record_timing):
    nb = chapter_notebook(chapter)
    code = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    plan = stub_run(code)
    if os.environ.get("MINIGPT_STUBS_FULL") == "1":
        plan.cells, plan.how, plan.checks, plan.fallbacks = code, "full", None, None
    if not plan.cells:
        pytest.skip("no cell uses the exercises: the solutions run covers the chapter")
    nb.cells = [nbformat.v4.new_code_cell(source) for source in plan.cells]
    seconds = execute(nb, REPO / "exercises", tmp_path)
    what = {"statements": f"its imports + {len(plan.cells) - 1} learner statements",
            "prefix": f"its first {len(plan.cells)} of {len(code)} code cells", "full": "every cell"}[plan.how]
    record_timing(chapter.stem, "stubs", seconds, cells=what)
    checked = learner_checks(code)
    shown = [(mark, exercise) for mark, exercise in check_marks(nb) if exercise in checked]
    assert {e for _, e in shown} == checked, f"checks that showed no result: {checked - {e for _, e in shown}}"
    assert all(mark == "TODO" for mark, _ in shown), f"an untouched stub is TODO, never anything else: {shown}"
    if plan.fallbacks is not None:  # each mine_or_reference says it falls back to the reference
        assert output_text(nb).count("note: using the reference") == plan.fallbacks, output_text(nb)
