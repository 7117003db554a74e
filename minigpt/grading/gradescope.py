"""Grading one Gradescope submission: what ``run_autograder`` does on Gradescope's machine.

Gradescope unpacks the autograder (``minigpt autograder build``) into
``/autograder/source``, puts the student's files in ``/autograder/submission``
and reads ``/autograder/results/results.json`` when ``run_autograder`` ends.
``$GRADESCOPE_ROOT`` stands in for ``/autograder`` (to try an autograder out).

The student's exercise files may be at the top of the submission, in an
``exercises/`` folder, or deeper (a zipped workspace): the folder holding most
of the graded files wins, the shallowest on a tie. Each exercise is graded in
the sandbox (see :mod:`minigpt.grading.sandbox`); ``results.json`` is written
last, through a temporary file, so nothing the student's code wrote there
survives, and it is written even when the grader itself fails.

>>> sorted(VISIBILITIES)
['after_due_date', 'after_published', 'hidden', 'visible']
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

ROOT_ENV = "GRADESCOPE_ROOT"
CONFIG = "autograder.json"  # in source/: what `minigpt autograder build` chose (exercises, limits, visibility)
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")  # Gradescope's
MAX_DEPTH = 4  # folders below the submission searched for exercise files


def gradescope_root(root: str | os.PathLike | None = None) -> Path:
    """``root``, else ``$GRADESCOPE_ROOT``, else ``/autograder``."""
    return Path(root or os.environ.get(ROOT_ENV) or "/autograder")


def submission_folder(submission: Path, files: set[str]) -> Path:
    """The folder under ``submission`` that holds most of ``files`` (the shallowest on a tie)."""
    found = [(0, 0, submission)]  # (files, -depth, folder)
    for folder, dirs, names in os.walk(submission):  # links are not followed
        depth = len(Path(folder).relative_to(submission).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")) and depth < MAX_DEPTH)
        count = sum(1 for name in names if name in files and not os.path.islink(os.path.join(folder, name)))
        found.append((count, -depth, Path(folder)))
    return max(found, key=lambda f: f[:2])[2]


def run_submission(root: str | os.PathLike | None = None) -> dict:
    """Grade ``<root>/submission`` as ``<root>/source/autograder.json`` says; write and return ``results.json``."""
    root = gradescope_root(root)
    start = time.monotonic()
    try:
        results = _grade(root)
    except Exception as exc:  # the grader's own failure: still a valid results.json, and it says whose fault
        results = {"score": 0.0, "tests": [],
                   "output": f"The autograder failed, not your code: {type(exc).__name__}: {exc}. "
                             "Please tell your instructor."}
    results["execution_time"] = round(time.monotonic() - start, 1)
    write_results(root / "results" / "results.json", results)
    return results


def _grade(root: Path) -> dict:
    from .grade import default_jobs, grade_folder
    from .registry import get_exercise
    from .sandbox import Limits

    config = json.loads((root / "source" / CONFIG).read_text())
    ids = list(config["exercises"])
    visibility = config.get("visibility", "visible")
    submission = root / "submission"
    folder = submission_folder(submission, {get_exercise(i).file for i in ids})
    report = grade_folder(folder, exercise_ids=ids, timeout=config.get("timeout"),
                          memory_mb=config.get("memory_mb") or Limits.memory_mb,
                          jobs=config.get("jobs") or default_jobs(), progress=False)
    results = report.to_gradescope(visibility=visibility)
    where = f"{folder.relative_to(submission).as_posix()}/" if folder != submission else "your submission"
    results["output"] = f"Graded the exercise files in {where}. {results['output']}"
    return results


def write_results(path: Path, results: dict) -> None:
    """Write ``results`` to ``path`` through a temporary file, replacing whatever is there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, path)
