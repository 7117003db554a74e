"""Grading uploaded submissions in the background, with ``minigpt grade``'s sandbox, resumably.

A submission is stored (in the SQLite file) before it is acknowledged, as ``queued``. A few
worker threads take one at a time: they write its files to a private temporary folder and
grade each exercise with :func:`minigpt.grading.grade.grade_exercises`, that is in its own
confined process (:mod:`minigpt.grading.sandbox`): the student's code never runs in the
server's process. The grade is stored as ``minigpt grade submissions/``'s record, so the
export writes the same files.

What one submission may cost: each exercise its sandbox limits (time, memory, output), and
the submission as a whole ``budget_s`` seconds; exercises left when the budget is spent are
not run (``timeout``, "not graded"). A hostile file costs its own grade, and a worker for
at most ``budget_s``.

Resuming: submissions still ``queued`` or ``grading`` when the server stopped (or was
killed) are queued again when it starts.

What the sandbox stops, and what not (see :mod:`minigpt.grading.sandbox`): it runs as the
server's user; where the kernel has Landlock (Linux >= 5.13) the student's code reads only
Python, torch, the system folders and its own job's files (not this room's SQLite file, where
the instructor key is, nor other submissions, nor the reference solutions), writes only in its
job folder, opens no TCP connection (Linux >= 6.7) and signals no process outside its own tree
(Linux >= 6.12). Without Landlock (older kernels, macOS) a submission can read what the
server's user can and carry it out in its own grade's messages, and can signal the server:
there, serve a room with untrusted submissions as a user that owns nothing else, or grade them
afterwards.
"""

from __future__ import annotations

import hashlib
import json
import queue
import tempfile
import threading
import time
import traceback
from pathlib import Path

from ..grading.check import CheckResult
from ..grading.grade import GradeReport, default_jobs, grade_exercises, select_exercises
from ..grading.sandbox import Limits
from ..grading.workshop import _mistake, _record
from .bodies import FILE_NAME, STATUS_ALIASES
from .store import StoreClosed


class Stopping(Exception):
    """The pool is stopping: the submission being graded is left for the next start."""


class GradingPool:
    def __init__(self, store, workers: int | None = None, exercise_ids: list[str] | None = None,
                 limits: Limits = Limits(), budget_s: float = 300.0):
        self.store, self.limits, self.budget_s = store, limits, budget_s
        self.workers = workers or default_jobs()
        self.exercise_ids = exercise_ids
        self.todo: queue.Queue[str | None] = queue.Queue()
        self.threads: list[threading.Thread] = []
        self.stopping = threading.Event()

    def start(self) -> None:
        """Queue what a previous run left unfinished, then start the workers."""
        for sid in self.store.unfinished_submissions():
            self.store.set_submission(sid, "queued")
            self.todo.put(sid)
        self.stopping.clear()
        for i in range(self.workers):
            # Not daemon threads: at exit, Python waits for each to finish the exercise it is running (one
            # sandbox, within its limits) instead of freezing it inside torch, which aborts the process.
            thread = threading.Thread(target=self._work, name=f"minigpt-classroom-grade-{i}")
            thread.start()
            self.threads.append(thread)

    def submit(self, sid: str) -> None:
        self.todo.put(sid)

    def stop(self, timeout: float = 1.0) -> None:
        """Ask the workers to stop after the exercise each is running; waits at most ``timeout`` seconds.

        A submission left half-graded stays ``grading`` and is graded again by the next start.
        """
        self.stopping.set()
        for _ in self.threads:
            self.todo.put(None)
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.threads = []

    def _work(self) -> None:
        while (sid := self.todo.get()) is not None:
            try:
                self._grade_and_store(sid)
            except (StoreClosed, Stopping):  # the server is stopping: the submission is resumed on restart
                return

    def _grade_and_store(self, sid: str) -> None:
        try:
            self.store.set_submission(sid, "grading")
            record = self.grade(sid)
        except (StoreClosed, Stopping):
            raise
        except Exception as exc:  # a grader bug fails this submission, never the pool
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self.store.set_submission(sid, "failed", {"error": f"grader error: {detail[:500]}"})
            return
        # Its results first, then "done": killed in between, it is graded again and its results (same ids)
        # are not stored twice.
        self.store.add_results(record["student"], submission_results(sid, record))
        self.store.set_submission(sid, "done", record)

    def grade(self, sid: str) -> dict:
        """Grade submission ``sid`` in the sandbox; ``minigpt grade submissions/``'s record of it."""
        row = self.store.submission(sid)
        files = json.loads(row["files"])
        digest = hashlib.sha256()
        with tempfile.TemporaryDirectory(prefix="minigpt-classroom-") as tmp:
            folder = Path(tmp)
            for name, source in sorted(files.items()):
                if FILE_NAME.fullmatch(name):  # checked on upload; checked again before it is a path
                    (folder / name).write_text(source, encoding="utf-8")
                    digest.update(name.encode() + b"\0" + hashlib.sha256(source.encode()).digest())
            exercises = select_exercises(folder, self.exercise_ids)
            start = time.monotonic()
            results = []
            for ex in exercises:
                if self.stopping.is_set():
                    raise Stopping(sid)
                spent = time.monotonic() - start
                if spent > self.budget_s:
                    results.append(CheckResult(ex.id, "timeout", 0.0, ex.points,
                                               f"not graded: this submission used up its {self.budget_s:g} s "
                                               "of grading time on the exercises before it"))
                else:
                    results += grade_exercises([ex], folder, self.limits)
        report = GradeReport(f"submission {sid}", results, time.monotonic() - start, exercises)
        return _record(row["learner"], report, digest.hexdigest())


def submission_results(sid: str, record: dict) -> list[dict]:
    """A graded submission as results for the room's page (ids ``submission:SID:EXERCISE``, so posted once).

    >>> record = {"exercises": [{"id": "ch01.embed", "status": "timeout", "message": "did not finish"}]}
    >>> [(r["status"], r["diagnosis"]) for r in submission_results("s1", record)]
    [('error', 'took too long')]
    """
    now = time.time()
    return [{"id": f"submission:{sid}:{e['id']}", "exercise": e["id"],
             "status": STATUS_ALIASES.get(e["status"], e["status"]), "diagnosis_id": None,
             "diagnosis": None if e["status"] == "pass" else (e.get("diagnosis") or _mistake(e)), "time": now}
            for e in record["exercises"]]
