"""Grading a folder, and a room of submissions: reports written, broken submissions graded honestly, re-runs cached."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.grading.grading_toys import STUB, TOY_FILE
from minigpt.cli import main
from minigpt.grading import all_exercises
from minigpt.grading.grade import grade_folder
from minigpt.grading.workshop import grade_submissions, looks_like_submissions

IDS = ["test.double", "test.quad", "test.scale"]
ROOT = Path(__file__).resolve().parents[2]


def test_in_the_sandbox_the_solutions_score_full_marks_and_the_stubs_zero():
    chapters = [ex.id for ex in all_exercises() if not ex.id.startswith("test.")]
    if not chapters:
        pytest.skip("no chapter exercises registered yet")
    solutions = grade_folder(ROOT / "solutions", exercise_ids=chapters, jobs=2)
    assert solutions.score == solutions.max_score > 0, solutions.table()
    stubs = grade_folder(ROOT / "exercises", exercise_ids=chapters, jobs=2)
    assert {r.status for r in stubs.results} == {"not_implemented"}, stubs.table()


def make_room(root, toy):
    toy.submission(root / "ada")  # everything right
    toy.submission(root / "bob", source="def double(x)\n    return x * 2\n")  # a syntax error
    (root / "cyd").mkdir()  # handed in nothing but notes
    (root / "cyd" / "notes.txt").write_text("I ran out of time")
    partial = STUB.replace('raise NotImplementedError("multiply by two")', "return x * 3").replace(
        'raise NotImplementedError("use double twice")', "return double(double(x))")  # right, with a wrong double
    toy.submission(root / "dan" / "exercises", source=partial)  # files in an exercises/ sub-folder


def test_grade_folder_report_and_json(toy, tmp_path, capsys):
    folder = toy.submission(tmp_path / "mine", **{"return x * 2": "return x * x"})
    report = grade_folder(folder, timeout=10, jobs=2)
    assert [r.id for r in report.results] == IDS  # only the exercises whose file is there
    assert [r.status for r in report.results] == ["fail", "pass", "pass"]
    assert report.score == 3 and report.max_score == 4
    assert "squared" in report.table() and "Score: 3 / 4" in report.table()
    out = tmp_path / "grade.json"
    assert main(["grade", "--path", str(folder), "--exercise", "test.double", "--json", str(out),
                 "--gradescope", str(tmp_path / "results.json"), "--timeout", "10", "--no-progress"]) == 0
    data = json.loads(out.read_text())
    assert set(data) == {"score", "max_score", "exercises"}
    assert [set(e) for e in data["exercises"]] == [{"id", "status", "score", "max_score", "message"}]
    assert data["exercises"][0]["status"] == "fail" and "squared" in data["exercises"][0]["message"]
    gradescope = json.loads((tmp_path / "results.json").read_text())
    assert gradescope["score"] == 0 and gradescope["tests"][0]["status"] == "failed"
    assert "FAIL" in capsys.readouterr().out


def test_missing_file_and_unknown_exercise(toy, tmp_path, capsys):
    report = grade_folder(tmp_path, exercise_ids=["test"], timeout=10)  # a chapter-like prefix
    assert [(r.id, r.status) for r in report.results] == [(i, "error") for i in IDS]
    assert all("file not found" in r.message for r in report.results)
    assert main(["grade", "--path", str(tmp_path), "--exercise", "test.dubble"]) == 2
    assert "Did you mean 'test.double'" in capsys.readouterr().err


def test_workshop_reports_and_resumes(toy, tmp_path, capsys):
    room = tmp_path / "room"
    make_room(room, toy)
    assert looks_like_submissions(room) and not looks_like_submissions(room / "ada")
    out = tmp_path / "out" / "grades.csv"
    first = grade_submissions(room, out, jobs=2, timeout=10, progress=False)
    assert sorted(first.graded) == ["ada", "bob", "cyd", "dan"] and first.cached == []

    rows = {row["student"]: row for row in csv.DictReader(out.open())}
    assert list(rows["ada"]) == ["student", "total", "max_score"] + IDS
    assert {name: row["total"] for name, row in rows.items()} == {"ada": "4", "bob": "0", "cyd": "0", "dan": "2"}
    assert rows["dan"]["test.quad"] == "2" and rows["dan"]["test.double"] == "0"

    records = {rec["student"]: rec for rec in json.loads(out.with_suffix(".json").read_text())["students"]}
    status = {name: [e["status"] for e in rec["exercises"]] for name, rec in records.items()}
    assert status == {"ada": ["pass"] * 3, "bob": ["error"] * 3, "cyd": ["error"] * 3,
                      "dan": ["fail", "pass", "not_implemented"]}
    assert "SyntaxError" in records["bob"]["exercises"][0]["message"]
    assert "file not found" in records["cyd"]["exercises"][0]["message"]
    assert "three" in records["dan"]["exercises"][0]["diagnosis"]

    gradescope = json.loads((out.parent / "gradescope" / "dan" / "results.json").read_text())
    assert gradescope["score"] == 2
    assert [(t["name"].split()[0], t["score"], t["max_score"], t["status"]) for t in gradescope["tests"]] == [
        ("test.double", 0, 1, "failed"), ("test.quad", 2, 2, "passed"), ("test.scale", 0, 1, "failed")]
    assert "multiplied by three" in gradescope["tests"][0]["output"]

    summary = (out.parent / "grades_summary.md").read_text()
    assert "| `test.quad` | 50% |" in summary  # ada and dan
    assert "| 1 | `test.double` | It looks like you multiplied by three. |" in summary
    assert "**bob**" in summary and "**cyd**" in summary  # nothing of theirs could run
    assert (out.parent / "grades_summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # dan fixes double; a re-run (through the command line) grades dan only
    (room / "dan" / "exercises" / TOY_FILE).write_text(
        (room / "dan" / "exercises" / TOY_FILE).read_text().replace("return x * 3", "return x * 2"))
    capsys.readouterr()
    assert main(["grade", str(room), "--out", str(out), "--jobs", "2", "--timeout", "10", "--no-progress"]) == 0
    assert "graded 1 submissions (3 unchanged" in capsys.readouterr().out
    rows = {row["student"]: row for row in csv.DictReader(out.open())}
    assert {name: row["total"] for name, row in rows.items()} == {"ada": "4", "bob": "0", "cyd": "0", "dan": "3"}
    again = grade_submissions(room, out, jobs=2, timeout=10, progress=False)
    assert again.graded == [] and sorted(again.cached) == ["ada", "bob", "cyd", "dan"]


def test_exercises_build_command(tmp_path, capsys):
    if not any((ROOT / "solutions").glob("ch*.py")):
        pytest.skip("no solutions yet")
    assert main(["exercises", "build", "--check"]) == 0  # the committed stubs are what the build makes
    assert main(["exercises", "build", "--out", str(tmp_path)]) == 0
    built = sorted(p.name for p in tmp_path.glob("ch*.py"))
    assert built == sorted(p.name for p in (ROOT / "exercises").glob("ch*.py"))
    assert "wrote" in capsys.readouterr().out
