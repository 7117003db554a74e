"""``minigpt grade``: grade a folder of exercise files, each exercise in its own sandbox.

>>> report = GradeReport("exercises", [CheckResult("ch01.embed", "pass", 1.0, 1.0, "all 3 cases match")])
>>> report.to_dict()["score"], report.to_dict()["max_score"]
(1.0, 1.0)

A missing file, a syntax error or a wrong name is that exercise's honest
grade (``error``, with a message); nothing a submission does stops the batch.
"""

from __future__ import annotations

import os
import shutil
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .check import CheckResult
from .registry import Exercise, all_exercises, get_exercise
from .sandbox import Limits, run_exercise

MARKS = {"pass": "PASS", "fail": "FAIL", "not_implemented": "TODO", "error": "ERROR", "timeout": "TIMEOUT",
         "memory": "MEMORY", "crash": "CRASH"}
MIN_MESSAGE = 30  # columns a message needs beside its row in ``table()``; with fewer it goes under the row
UNDER_INDENT = 4


def _wrap(text: str, width: int, indent: str) -> list[str]:
    """``text`` in lines of at most ``width`` columns (``indent`` included), broken only between words;
    a word longer than the line stands alone. The text's own line breaks are kept.

    >>> _wrap("likely mistake: the variance is unbiased", 20, "  ")
    ['  likely mistake:', '  the variance is', '  unbiased']
    """
    return [line for paragraph in text.splitlines() or [""]
            for line in textwrap.wrap(paragraph, max(width, len(indent) + 1), initial_indent=indent,
                                      subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)]


@dataclass
class GradeReport:
    folder: str
    results: list[CheckResult]
    seconds: float = 0.0
    exercises: list[Exercise] = field(default_factory=list, repr=False)

    @property
    def score(self) -> float:
        return sum(r.score for r in self.results)

    @property
    def max_score(self) -> float:
        return sum(r.max_score for r in self.results)

    def to_dict(self) -> dict:
        """The ``minigpt grade --json`` format."""
        return {"score": self.score, "max_score": self.max_score, "exercises": [r.to_dict() for r in self.results]}

    def to_gradescope(self, visibility: str = "visible") -> dict:
        """Gradescope's autograder ``results.json``; ``visibility``: when students see each test
        (``visible``, ``hidden``, ``after_due_date`` or ``after_published``)."""
        titles = {ex.id: ex.title for ex in self.exercises}
        return {
            "score": self.score,
            "execution_time": round(self.seconds, 1),
            "output": f"{self.score:g} / {self.max_score:g} points",
            "tests": [{"name": f"{r.id}" + (f" ({titles[r.id]})" if r.id in titles else ""),
                       "score": r.score, "max_score": r.max_score,
                       "status": "passed" if r.status == "pass" else "failed",
                       "output": f"[{MARKS.get(r.status, r.status)}] " + r.to_dict()["message"],
                       "visibility": visibility}
                      for r in self.results],
        }

    def table(self, width: int | None = None) -> str:
        """A readable table: one line per exercise, the likely mistake under a failure, the total.

        ``width``: the columns to fit (default: the terminal's, which ``$COLUMNS`` sets). Text wraps
        between words, never inside one; when the name column leaves less than ``MIN_MESSAGE``
        columns, the message goes under its row, indented by ``UNDER_INDENT``.
        """
        width = width or shutil.get_terminal_size((100, 24)).columns
        name_w = max([len(r.id) for r in self.results] + [8])
        lines = _wrap(f"Grading {self.folder} ({len(self.results)} exercises, {self.seconds:.1f} s)", width, "")
        lines.append("")
        for r in self.results:
            head = f"{MARKS.get(r.status, r.status.upper()):8s} {r.id:{name_w}s} {r.score:>3g}/{r.max_score:<3g}  "
            beside = width - len(head) >= MIN_MESSAGE
            indent = " " * (len(head) if beside else UNDER_INDENT)
            texts = [r.message] + ([f"likely mistake: {r.diagnosis}"] if r.diagnosis else [])
            body = [line for text in texts for line in _wrap(text, width, indent)]
            if beside and body:
                body[0] = head + body[0][len(indent):]
            else:
                body.insert(0, head.rstrip())
            lines += body
        pct = 100 * self.score / self.max_score if self.max_score else 0.0
        counts = {s: sum(r.status == s for r in self.results) for s in MARKS}
        summary = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items() if n)
        lines += ["", f"Score: {self.score:g} / {self.max_score:g} ({pct:.0f}%)  [{summary}]"]
        return "\n".join(lines)

    __str__ = table


def select_exercises(folder: str | Path, exercise_ids: list[str] | None = None) -> list[Exercise]:
    """The exercises to grade: those named (an id, or a chapter prefix like ``ch01``), else every
    registered exercise whose file is in ``folder`` (every one, if none is)."""
    if exercise_ids:
        chosen: list[Exercise] = []
        for name in exercise_ids:
            group = [ex for ex in all_exercises() if ex.id.startswith(name + ".")]
            for ex in group or [get_exercise(name)]:
                if ex not in chosen:
                    chosen.append(ex)
        return chosen
    exercises = all_exercises()
    present = [ex for ex in exercises if (Path(folder) / ex.file).is_file()]
    return present or exercises


def default_jobs() -> int:
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def grade_exercises(exercises: list[Exercise], folder: str | Path, limits: Limits, jobs: int = 1,
                    on_result=None) -> list[CheckResult]:
    """Grade each exercise in a sandbox, ``jobs`` at a time; results in the order given."""
    def one(ex: Exercise) -> CheckResult:
        try:
            result = run_exercise(ex, folder, limits)
        except Exception as exc:  # a grader bug must not stop the batch; say whose fault it is
            result = CheckResult(ex.id, "error", 0.0, ex.points, f"grader error: {type(exc).__name__}: {exc}")
        if on_result is not None:
            on_result(result)
        return result

    if jobs <= 1 or len(exercises) <= 1:
        return [one(ex) for ex in exercises]
    with ThreadPoolExecutor(jobs, thread_name_prefix="minigpt-grade") as pool:
        return list(pool.map(one, exercises))


def grade_folder(path: str | Path = "exercises", exercise_ids: list[str] | None = None,
                 timeout: float | None = None, memory_mb: int = Limits.memory_mb, jobs: int = 1,
                 progress: bool = False, fork_server: bool = True) -> GradeReport:
    """Grade the exercise files in ``path``, each exercise in its own sandboxed process.

    ``timeout``: seconds of the student's code per exercise (default: each exercise's own,
    30 s); ``memory_mb``: memory per exercise on top of Python + torch; ``fork_server``:
    fork each sandbox from a process that has imported torch (False: spawn a fresh
    interpreter per exercise, ~1 s more each).
    """
    start = time.monotonic()
    exercises = select_exercises(path, exercise_ids)
    limits = Limits(timeout_s=timeout, memory_mb=memory_mb, fork_server=fork_server)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(exercises), desc="grading", unit="exercise", leave=False)
    try:
        results = grade_exercises(exercises, path, limits, jobs,
                                  on_result=(lambda _: bar.update()) if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    return GradeReport(str(path), results, time.monotonic() - start, exercises)
