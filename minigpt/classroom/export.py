"""The room's grades as files: ``minigpt grade submissions/``'s own writers, run on the graded submissions.

Each learner's latest graded submission is one student of a
:class:`minigpt.grading.workshop.WorkshopResult`; :func:`minigpt.grading.workshop.write_reports`
writes ``grades.csv``, ``grades.json`` and ``gradescope/<student>/results.json`` into a
temporary folder, and the one asked for is sent (Gradescope's as a zip).

A student's name in those files is made from the learner's name and id, with nothing a path
or a spreadsheet could read as more than text:

>>> student_label("../Ada <b>", "3f2a9c01d4e5b6a7")
'Ada-b_3f2a9c01'
"""

from __future__ import annotations

import io
import json
import re
import tempfile
import zipfile
from pathlib import Path

from ..grading import all_exercises
from ..grading.workshop import WorkshopResult, grader_fingerprint, write_reports

FORMATS = {"csv": ("text/csv; charset=utf-8", "grades.csv"),
           "json": ("application/json", "grades.json"),
           "gradescope": ("application/zip", "gradescope.zip")}


def student_label(name: str, learner_id: str) -> str:
    """A file-safe, unique name for a learner: the name's letters, digits, ``.``, ``-`` and ``_``, then the id."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-_")[:40]
    return f"{slug}_{learner_id[:8]}" if slug else learner_id[:8]


def graded_room(store) -> WorkshopResult:
    """The latest graded submission of every learner who has one, as ``minigpt grade submissions/`` sees a room."""
    records = {}
    for row in store.latest_graded():
        label = student_label(row["name"], row["learner"])
        records[label] = {**json.loads(row["record"]), "student": label}
    graded = list(dict.fromkeys(e["id"] for record in records.values() for e in record["exercises"]))
    exercises = {ex.id: ex for ex in all_exercises()}
    return WorkshopResult(records, [exercises[i] for i in graded if i in exercises])  # in the order graded


def export(store, fmt: str) -> tuple[bytes, str, str]:
    """``(content, media type, file name)`` of the room's grades in ``fmt`` (csv, json or gradescope)."""
    media_type, filename = FORMATS[fmt]
    room = graded_room(store)
    with tempfile.TemporaryDirectory(prefix="minigpt-classroom-export-") as tmp:
        files = write_reports(room, Path(tmp) / "grades.csv", grader_fingerprint(room.exercises))
        if fmt != "gradescope":
            return files[fmt].read_bytes(), media_type, filename
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            folder = files["gradescope"]
            for path in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
                archive.write(path, path.relative_to(folder.parent).as_posix())
        return buffer.getvalue(), media_type, filename
