"""The classroom server's HTTP API against a real server (uvicorn on a free loopback port, in a thread).

The summary is held to a hand-checked room; the exports to ``minigpt grade submissions/``'s own
files for the same submission (the oracle: the workshop grader run on a folder).
"""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile
from pathlib import Path

import pytest

from tests.classroom.server_helpers import running_server

httpx = pytest.importorskip("httpx")

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0


def result(rid: str, exercise: str, status: str, t: float, diagnosis: str | None = None) -> dict:
    return {"id": rid, "exercise": exercise, "status": status, "diagnosis_id": diagnosis and diagnosis[:12],
            "diagnosis": diagnosis, "time": T0 + t}


class Learner:
    def __init__(self, client: httpx.Client, code: str, name: str):
        reply = client.post(f"/api/join/{code}", json={"name": name})
        assert reply.status_code == 201, reply.text
        self.client, self.id, self.secret = client, reply.json()["learner_id"], reply.json()["secret"]
        assert reply.json()["room"] == code
        self.headers = {"Authorization": f"Bearer {self.secret}"}

    def post(self, *results) -> httpx.Response:
        return self.client.post("/api/results", json={"results": list(results)}, headers=self.headers)

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path, headers=self.headers)


@pytest.fixture
def server(tmp_path):
    with running_server(tmp_path / "room.sqlite", exercises=["ch01.embed", "ch01.layer_norm"], timeout_s=10) as s:
        with httpx.Client(base_url=s.base, timeout=30) as client:
            s.client = client
            yield s


def test_join_page_tells_the_learner_the_command(server):
    page = server.client.get(f"/join/{server.code}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"minigpt classroom join {server.join_url} --name" in page.text
    assert server.client.get("/join/nope").status_code == 404
    reply = server.client.post("/api/join/nope", json={"name": "Ada"})
    assert reply.status_code == 404 and "no room with this code" in reply.json()["error"]


def test_results_are_stored_once_and_each_learner_reads_their_own(server):
    ada, bob = Learner(server.client, server.code, "  Ada   Lovelace "), Learner(server.client, server.code, "Bob")
    first = result("r1", "ch01.embed", "fail", 1, "summed over the wrong axis")
    assert ada.post(first).json() == {"stored": 1, "acked": ["r1"]}
    again = ada.post(first, result("r2", "ch01.embed", "not_implemented", 2))  # a retry, and a grader status
    assert again.json() == {"stored": 1, "acked": ["r1", "r2"]}
    assert bob.post(result("r1", "ch01.embed", "pass", 3)).json()["stored"] == 1  # ids are per learner
    mine = ada.get("/api/me").json()
    assert (mine["learner_id"], mine["name"], mine["room"]) == (ada.id, "Ada Lovelace", server.code)
    assert [(r["id"], r["status"], r["diagnosis"]) for r in mine["results"]] == [
        ("r1", "fail", "summed over the wrong axis"), ("r2", "todo", None)]
    assert [r["status"] for r in bob.get("/api/me").json()["results"]] == ["pass"]


def test_summary_counts_each_learners_latest_result(server):
    """A hand-checked room of four: the latest result per learner counts, by the learner's clock."""
    ada, bob, cyd, _dan = (Learner(server.client, server.code, n) for n in ("Ada", "Bob", "Cyd", "Dan"))
    axis, eps = "summed over the wrong axis", "eps outside the square root"
    ada.post(result("a1", "ch01.embed", "fail", 1, axis), result("a2", "ch01.embed", "pass", 2))
    bob.post(result("b2", "ch01.embed", "fail", 5, axis))
    bob.post(result("b1", "ch01.embed", "pass", 4))  # arrives later, but is older: bob still fails
    cyd.post(result("c1", "ch01.embed", "error", 1), result("c2", "ch01.layer_norm", "fail", 2, eps),
             result("c3", "ch01.layer_norm", "fail", 3, eps))
    summary = server.client.get("/api/summary", params={"key": server.key}).json()
    assert summary == {"learners": 4, "exercises": {
        "ch01.embed": {"pass": 1, "fail": 1, "error": 1, "todo": 1,
                       "mistakes": {axis: 1, "an error (no diagnosis)": 1}},
        "ch01.layer_norm": {"pass": 0, "fail": 1, "error": 0, "todo": 3, "mistakes": {eps: 1}}}}


def test_room_grid_timeline_and_polling(server):
    ada, bob = Learner(server.client, server.code, "Ada"), Learner(server.client, server.code, "Bob")
    ada.post(result("a1", "ch01.embed", "pass", 3), result("a2", "ch01.embed", "pass", 9))
    bob.post(result("b1", "ch01.layer_norm", "fail", 1, "eps outside the square root"))
    room = server.client.get("/api/room", params={"key": server.key}).json()
    assert room["code"] == server.code and room["poll_s"] == 2.0
    assert [learner["name"] for learner in room["learners"]] == ["Ada", "Bob"]
    assert [ex["id"] for ex in room["exercises"]] == ["ch01.embed", "ch01.layer_norm"]  # the room's exercises
    assert room["cells"][ada.id] == {"ch01.embed": {"status": "pass", "diagnosis": None, "time": T0 + 9}}
    assert room["cells"][bob.id]["ch01.layer_norm"]["diagnosis"] == "eps outside the square root"
    assert room["timeline"] == [{"time": T0 + 3, "learner": ada.id, "name": "Ada", "exercise": "ch01.embed"}]
    same = server.client.get("/api/room", params={"key": server.key, "since": room["version"]}).json()
    assert same == {"version": room["version"], "unchanged": True}
    bob.post(result("b2", "ch01.layer_norm", "pass", 2))
    changed = server.client.get("/api/room", params={"key": server.key, "since": room["version"]}).json()
    assert changed["version"] != room["version"] and changed["cells"][bob.id]["ch01.layer_norm"]["status"] == "pass"
    # checked again and again (a chapter's mine_or_reference): no new pass; a pass after a fail: one more
    ada.post(result("a3", "ch01.embed", "fail", 10, "summed over the wrong axis"),
             result("a4", "ch01.embed", "pass", 11), result("a5", "ch01.embed", "pass", 12))
    room = server.client.get("/api/room", params={"key": server.key}).json()
    assert [(p["name"], p["exercise"], p["time"] - T0) for p in room["timeline"]] == [
        ("Bob", "ch01.layer_norm", 2), ("Ada", "ch01.embed", 3), ("Ada", "ch01.embed", 11)]
    assert room["summary"]["exercises"]["ch01.embed"]["pass"] == 1  # each learner once, with the latest status


def wait_for_grade(learner: Learner, sid: str, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = learner.get(f"/api/submission/{sid}").json()
        if reply["status"] in ("done", "failed"):
            return reply
        time.sleep(0.2)
    raise AssertionError(f"submission {sid} not graded within {timeout} s: {reply}")


@pytest.mark.slow
def test_a_submission_is_graded_in_the_sandbox_and_exported_as_minigpt_grade_does(server, tmp_path):
    from minigpt.grading.workshop import grade_submissions

    ada = Learner(server.client, server.code, "Ada <b>")
    source = (ROOT / "solutions" / "ch01_transformer.py").read_text()
    wrong = source.replace("return W_E[tokens]", "return W_E[tokens] * 2")  # embed is wrong, layer_norm right
    assert wrong != source
    reply = ada.client.post("/api/submit", json={"files": {"ch01_transformer.py": wrong, "ch09_notes.py": "x = 1"}},
                            headers=ada.headers)
    assert reply.status_code == 202 and reply.json()["status"] == "queued"
    graded = wait_for_grade(ada, reply.json()["submission_id"])
    assert graded["status"] == "done" and (graded["score"], graded["max_score"]) == (2, 3)
    assert server.room.store.submission(graded["submission_id"])["files"] == "{}"  # graded: the files are dropped
    assert {r["id"]: r["status"] for r in graded["results"]} == {"ch01.embed": "fail", "ch01.layer_norm": "pass"}
    cells = server.client.get("/api/room", params={"key": server.key}).json()["cells"][ada.id]
    assert {ex: c["status"] for ex, c in cells.items()} == {"ch01.embed": "fail", "ch01.layer_norm": "pass"}

    # The oracle: `minigpt grade submissions/` on a folder holding the same file for the same student.
    label = f"Ada-b_{ada.id[:8]}"
    (tmp_path / "subs" / label).mkdir(parents=True)
    (tmp_path / "subs" / label / "ch01_transformer.py").write_text(wrong)
    grade_submissions(tmp_path / "subs", tmp_path / "out" / "grades.csv", jobs=1, timeout=10,
                      exercise_ids=["ch01.embed", "ch01.layer_norm"], progress=False)
    exported = server.client.get("/api/export", params={"key": server.key, "format": "csv"})
    assert exported.status_code == 200 and 'filename="grades.csv"' in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows == list(csv.reader((tmp_path / "out" / "grades.csv").open()))
    ours = json.loads(server.client.get("/api/export", params={"key": server.key, "format": "json"}).text)
    theirs = json.loads((tmp_path / "out" / "grades.json").read_text())
    strip = lambda s: {**s, "key": None, "seconds": None}  # noqa: E731 (the hash of the files, wall time)
    assert [strip(s) for s in ours["students"]] == [strip(s) for s in theirs["students"]]
    assert ours["exercises"] == theirs["exercises"] and ours["grader"] == theirs["grader"]
    archive = zipfile.ZipFile(io.BytesIO(server.client.get("/api/export", params={"key": server.key,
                                                                                  "format": "gradescope"}).content))
    assert archive.namelist() == [f"gradescope/{label}/results.json"]
    gradescope = json.loads(archive.read(f"gradescope/{label}/results.json"))
    assert gradescope["score"] == 2 and [t["status"] for t in gradescope["tests"]] == ["failed", "passed"]
    live = list(csv.reader(io.StringIO(server.client.get("/api/export", params={"key": server.key,
                                                                                "format": "live"}).text)))
    assert live == [["learner", "learner_id", "passed", "ch01.embed", "ch01.layer_norm"],
                    ["Ada <b>", ada.id, "1", "fail", "pass"]]
    assert server.client.get("/api/export", params={"key": server.key, "format": "pdf"}).status_code == 422
