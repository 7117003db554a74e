"""Where the room is: the summary per exercise, the grid of learners x exercises, the time line of passes.

Each learner counts once per exercise, with their *latest* result (by their own clock): a
learner who failed and then passed counts as a pass, and the mistakes are those the room
is making now. The time line shows when passes happened: a learner's pass of an exercise
once, and again only after a result that was not a pass (see ``passes`` in :mod:`.store`),
however often a chapter checks it.

>>> rows = [{"learner": "a", "exercise": "ch01.embed", "status": "fail", "diagnosis": "summed the wrong axis"},
...         {"learner": "b", "exercise": "ch01.embed", "status": "pass", "diagnosis": None}]
>>> summary_of(3, rows, ["ch01.embed", "ch01.mlp"])["ch01.embed"]
{'pass': 1, 'fail': 1, 'error': 0, 'todo': 1, 'mistakes': {'summed the wrong axis': 1}}
"""

from __future__ import annotations

import csv
import io
from collections import Counter

NO_DIAGNOSIS = {"fail": "wrong output, no known mistake matched", "error": "an error (no diagnosis)"}
MAX_MISTAKES = 10  # per exercise, the most common first


def mistake(row) -> str | None:
    """What a failing result says went wrong, in words that group across learners."""
    if row["status"] not in NO_DIAGNOSIS:
        return None
    return " ".join((row["diagnosis"] or "").split()) or NO_DIAGNOSIS[row["status"]]


def summary_of(n_learners: int, latest, exercises: list[str]) -> dict[str, dict]:
    """``{exercise: {"pass", "fail", "error", "todo", "mistakes": {text: learners}}}``; the four counts add up
    to ``n_learners`` (todo: no result yet, or a latest "todo")."""
    counts = {ex: Counter() for ex in exercises}
    mistakes = {ex: Counter() for ex in exercises}
    for row in latest:
        ex = row["exercise"]
        counts.setdefault(ex, Counter())[row["status"]] += 1
        why = mistake(row)
        if why:
            mistakes.setdefault(ex, Counter())[why] += 1
    out = {}
    for ex, c in counts.items():
        done = c["pass"] + c["fail"] + c["error"]
        out[ex] = {"pass": c["pass"], "fail": c["fail"], "error": c["error"], "todo": n_learners - done,
                   "mistakes": dict(mistakes.get(ex, Counter()).most_common(MAX_MISTAKES))}
    return out


def room_data(store, exercises: list[str], titles: dict[str, str], show_all: bool) -> dict:
    """Everything the instructor's page draws, as JSON: learners, exercises, cells, time line, summary.

    ``show_all``: a column for every exercise in ``exercises``; else only for those with a result.
    """
    learners = store.learners()
    latest = store.latest()
    summary = summary_of(len(learners), latest, exercises)
    seen = {row["exercise"] for row in latest}
    columns = [ex for ex in summary if show_all or ex in seen]
    cells: dict[str, dict] = {}
    for row in latest:
        cells.setdefault(row["learner"], {})[row["exercise"]] = {
            "status": row["status"], "diagnosis": mistake(row), "time": row["time"]}
    names = {row["id"]: row["name"] for row in learners}
    timeline = [{"time": row["time"], "learner": row["learner"], "name": names.get(row["learner"], "?"),
                 "exercise": row["exercise"]} for row in store.passes()]  # once per pass after a non-pass
    return {"code": store.code, "learners": [{"id": row["id"], "name": row["name"]} for row in learners],
            "exercises": [{"id": ex, "title": titles.get(ex, ex)} for ex in columns],
            "cells": cells, "timeline": timeline,
            "summary": {"learners": len(learners), "exercises": summary}}


def safe_cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: a leading ``= + - @`` (a formula) gets a quote mark."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def live_csv(data: dict) -> str:
    """The grid as CSV: one row per learner, one column per exercise, its latest status (blank: todo)."""
    out = io.StringIO()
    writer = csv.writer(out)
    ids = [ex["id"] for ex in data["exercises"]]
    writer.writerow(["learner", "learner_id", "passed"] + ids)
    for learner in data["learners"]:
        mine = data["cells"].get(learner["id"], {})
        statuses = [mine[ex]["status"] if ex in mine else "" for ex in ids]
        writer.writerow([safe_cell(learner["name"]), learner["id"], statuses.count("pass")] + statuses)
    return out.getvalue()
