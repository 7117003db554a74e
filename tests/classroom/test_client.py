"""The learner's side of the classroom against a fake server: join, report (in the background, queued
when the server is away), leave, submit; and what a result carries (never the code)."""

from __future__ import annotations

import json
import os
import stat
import time

import pytest

from minigpt import classroom
from minigpt.classroom import report as reporting
from minigpt.classroom.membership import MEMBERSHIP, Membership, save_membership
from minigpt.classroom.queue import REJECTED, Outbox
from minigpt.grading import CheckResult, check, get_exercise
from minigpt.workspace import load_exercises
from solutions.ch01_transformer import layer_norm
from tests.classroom.client_helpers import PRIVATE, room, wait_for_senders, workspace  # noqa: F401 (fixtures)
from tests.classroom.fake_server import fake_classroom, free_port, silent_server

FIELDS = {"id", "exercise", "status", "diagnosis_id", "diagnosis", "time"}


def test_parse_join_url():
    assert classroom.parse_join_url("http://10.0.0.5:8765/join/AbC-12_x/") == ("http://10.0.0.5:8765", "AbC-12_x")
    assert classroom.parse_join_url(" https://host/classroom/join/X1 ") == ("https://host/classroom", "X1")
    for bad in ("http://host:8765/room/ABC?key=k", "host:8765/join/ABC", "http://host/join/", "ftp://h/join/A"):
        with pytest.raises(ValueError, match="not a join URL"):
            classroom.parse_join_url(bad)


def test_join_stores_the_secret_readable_by_its_owner_only(workspace, room):
    membership = classroom.join(room.join_url, " Ada ")
    path = workspace / MEMBERSHIP
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert saved["server"] == room.base and saved["room"] == "ROOM42" and saved["name"] == "Ada"
    assert room.learners[saved["secret"]] == {"learner_id": saved["learner_id"], "name": "Ada"}
    assert classroom.load_membership(workspace) == membership
    with pytest.raises(classroom.ClassroomError, match="already joined room ROOM42.*leave"):
        classroom.join(room.join_url, "Ada again")


def test_join_says_what_is_wrong(workspace, room, tmp_path, monkeypatch):
    with pytest.raises(classroom.ServerUnreachable, match="could not reach the classroom server"):
        classroom.join(f"http://127.0.0.1:{free_port()}/join/ROOM42", "Ada", timeout=2)
    with pytest.raises(classroom.ServerRefused, match="has no room 'NOPE'"):
        classroom.join(f"{room.base}/join/NOPE", "Ada")
    with pytest.raises(ValueError, match="1 to 80 characters"):
        classroom.join(room.join_url, "x" * 81)
    assert not (workspace / MEMBERSHIP).exists()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="not inside a course workspace.*minigpt start"):
        classroom.join(room.join_url, "Ada")


def test_check_reports_status_and_diagnosis_never_the_code(workspace, room):
    classroom.join(room.join_url, "Ada")
    mine = load_exercises("ch01_transformer")
    results = [check("ch01.layer_norm", mine.layer_norm), check("ch01.embed", mine.embed)]
    assert [r.status for r in results] == ["fail", "not_implemented"]
    wait_for_senders()
    posted = [r for batch in room.posts for r in batch]
    assert all(set(r) == FIELDS for r in posted)  # these six fields and nothing else
    got = {r["exercise"]: r for r in room.results.values()}
    assert set(got) == {"ch01.layer_norm", "ch01.embed"}
    wrong = got["ch01.layer_norm"]
    assert (wrong["status"], wrong["diagnosis_id"]) == ("fail", "eps-outside-sqrt")
    assert wrong["diagnosis"] == results[0].diagnosis and wrong["learner"] == classroom.load_membership(
        workspace).learner_id
    assert (got["ch01.embed"]["status"], got["ch01.embed"]["diagnosis_id"]) == ("todo", None)
    assert time.time() - 60 < wrong["time"] <= time.time()
    sent = b"".join(room.bodies)
    assert PRIVATE.encode() not in sent and b"var.sqrt()" not in sent and str(workspace).encode() not in sent
    assert Outbox(workspace).pending() == []


def test_nothing_is_reported_before_joining(workspace, room):
    check("ch01.layer_norm", layer_norm)
    wait_for_senders()
    assert room.bodies == [] and not (workspace / ".minigpt").exists()


def test_check_returns_at_once_when_the_server_hangs(workspace, monkeypatch):
    monkeypatch.setattr(reporting, "BACKGROUND_TIMEOUT_S", 3.0)
    mine = load_exercises("ch01_transformer")
    start = time.perf_counter()
    check("ch01.embed", mine.embed)
    alone = time.perf_counter() - start
    with silent_server() as url:  # accepts the connection, never answers
        save_membership(workspace, Membership(url, "ROOM42", "l1", "Ada", "s3cret", time.time()))
        start = time.perf_counter()
        result = check("ch01.embed", mine.embed)
        joined = time.perf_counter() - start
        assert result.status == "not_implemented"
        assert joined < alone + 1.0 < 3.0, (joined, alone)  # did not wait for the 3 s timeout
        assert [r["exercise"] for r in Outbox(workspace).pending()] == ["ch01.embed"]  # kept meanwhile
    wait_for_senders()  # the closed socket ends the send: the result is still waiting
    assert len(Outbox(workspace)) == 1


def test_results_wait_while_the_server_is_down_and_arrive_once_when_it_is_back(workspace, room):
    classroom.join(room.join_url, "Ada")
    room.stop()
    fake = [CheckResult(f"ch01.{name}", "pass", 1.0, 1.0, "ok") for name in ("embed", "pos_embed", "gelu_new")]
    for result in fake:
        classroom.report_results([result])
        wait_for_senders()
    assert len(Outbox(workspace)) == 3 and room.results == {}
    delivery = classroom.flush(workspace, timeout=2)
    assert delivery.sent == 0 and delivery.waiting == 3 and "no answer" in delivery.error
    room.start()  # back, on the same port
    classroom.report_results([CheckResult("ch01.unembed", "fail", 0.0, 1.0, "no")])  # the next report sends all
    wait_for_senders()
    assert len(Outbox(workspace)) == 0
    assert sorted(r["exercise"] for r in room.results.values()) == [
        "ch01.embed", "ch01.gelu_new", "ch01.pos_embed", "ch01.unembed"]
    posted = [r["id"] for batch in room.posts for r in batch]
    assert len(posted) == len(set(posted)) == 4  # none sent twice


def test_a_refusing_server_keeps_the_results_and_an_unknown_exercise_holds_back_no_other(workspace, room):
    classroom.join(room.join_url, "Ada")
    room.refuse = 503
    classroom.report_results([CheckResult("ch01.embed", "pass", 1.0, 1.0, "ok")])
    wait_for_senders()
    delivery = classroom.flush(workspace)
    assert (delivery.sent, delivery.waiting) == (0, 1) and "503" in delivery.error
    room.refuse = 401  # the room forgot this learner (a new database): the results wait, and the fix is named
    assert "`minigpt classroom leave`, then join again" in classroom.flush(workspace).error
    room.refuse, room.unknown = None, {"ch09.gone", "ch09.old"}
    classroom.report_results([CheckResult("ch09.gone", "pass", 1.0, 1.0, "ok"),
                              CheckResult("ch01.unembed", "pass", 1.0, 1.0, "ok")])
    wait_for_senders()
    assert sorted(r["exercise"] for r in room.results.values()) == ["ch01.embed", "ch01.unembed"]
    assert Outbox(workspace).pending() == []
    refused = Outbox(workspace, REJECTED).pending()  # kept aside, with the server's reason
    assert [r["exercise"] for r in refused] == ["ch09.gone"] and "unknown exercise id" in refused[0]["refused"]
    assert [len(batch) for batch in room.posts] == [2]  # one batch stored: the rest, posted again without ch09.gone
    room.name_rejected = False  # a server that does not say which: one result at a time finds them
    classroom.report_results([CheckResult(f"ch01.{name}", "pass", 1.0, 1.0, "ok") for name in ("mlp", "gelu_new")]
                             + [CheckResult("ch09.old", "pass", 1.0, 1.0, "ok")])
    wait_for_senders()
    assert len(room.results) == 4 and [r["exercise"] for r in Outbox(workspace, REJECTED).pending()] == [
        "ch09.gone", "ch09.old"]


def test_report_results_never_raises(workspace, room, monkeypatch):
    classroom.join(room.join_url, "Ada")
    assert classroom.report_results([object()]) is None  # not a result
    monkeypatch.setenv("MINIGPT_EXERCISES", str(workspace / "missing"))
    assert classroom.report_results([CheckResult("ch01.embed", "pass", 1.0, 1.0, "ok")]) is None


def test_what_a_result_says():
    """Hand-checked payloads: statuses as the room counts them, and the diagnosis id of each kind."""
    layer_norm_ex = get_exercise("ch01.layer_norm")
    mutant = layer_norm_ex.mutants[1]
    cases = [
        (CheckResult("ch01.layer_norm", "fail", 0, 2, "m", mutant.diagnosis, [], "mutant"), "fail", mutant.name),
        (CheckResult("ch01.layer_norm", "fail", 0, 2, "m", "over the wrong axis", [], "axis"), "fail", "axis"),
        (CheckResult("ch01.layer_norm", "fail", 0, 2, "m"), "fail", None),
        (CheckResult("ch01.layer_norm", "timeout", 0, 2, "ran 30 s"), "error", "timeout"),
        (CheckResult("ch01.layer_norm", "crash", 0, 2, "signal 11"), "error", "crash"),
        (CheckResult("ch01.layer_norm", "error", 0, 2, "raised ValueError (line 3 of /home/ada/x.py)"), "error", None),
    ]
    for result, status, diagnosis_id in cases:
        payload = classroom.result_payload(result, now=12.5)
        assert set(payload) == FIELDS and payload["time"] == 12.5
        assert (payload["status"], payload["diagnosis_id"]) == (status, diagnosis_id), result
        assert "/home/ada" not in json.dumps(payload)  # the message (which quotes paths) stays home
    long = CheckResult("ch01.embed", "fail", 0, 1, "m", "x" * 5000, [], "axis")
    assert len(classroom.result_payload(long)["diagnosis"]) == reporting.MAX_DIAGNOSIS


def test_leave_sends_what_it_can_then_forgets_the_room(workspace, room):
    classroom.join(room.join_url, "Ada")
    room.refuse = 503
    classroom.report_results([CheckResult("ch01.embed", "pass", 1.0, 1.0, "ok")] * 2)
    wait_for_senders()
    left = classroom.leave()
    assert (left.membership.name, left.sent, left.dropped) == ("Ada", 0, 2)
    assert not (workspace / MEMBERSHIP).exists() and Outbox(workspace).pending() == []
    check("ch01.layer_norm", layer_norm)  # after leaving: nothing goes
    wait_for_senders()
    assert room.results == {} and len(Outbox(workspace)) == 0
    assert classroom.leave().membership is None
    room.refuse = None
    classroom.join(room.join_url, "Ada")
    classroom.report_results([CheckResult("ch01.embed", "pass", 1.0, 1.0, "ok")])
    assert classroom.leave().dropped == 0 and len(room.results) == 1  # sent before leaving


def test_submit_uploads_the_exercise_files_and_polls_the_grade(workspace, room):
    with pytest.raises(classroom.ClassroomError, match="has not joined a room"):
        classroom.submit(classroom.exercise_files())
    classroom.join(room.join_url, "Ada")
    files = classroom.exercise_files()
    assert [p.name for p in files] == ["ch01_transformer.py", "ch02_attention.py"]  # not notes.py
    submission_id = classroom.submit(files)
    uploaded = room.submissions[submission_id]["files"]
    assert uploaded == {p.name: p.read_text() for p in files}
    polls = []
    state = classroom.wait_for_grade(submission_id, poll_s=0.01, on_poll=polls.append)
    assert state["status"] == "done" and state["score"] == 3.0 and [p["status"] for p in polls] == ["queued", "done"]
    assert classroom.load_membership(workspace).submissions == [submission_id]
    with pytest.raises(TimeoutError, match="still 'queued'"):
        classroom.wait_for_grade(classroom.submit(files), timeout_s=0)
    big = workspace / "exercises" / "ch03_induction.py"
    big.write_text("# " + "x" * (6 * 2**20))
    with pytest.raises(classroom.ClassroomError, match="at most 5 MB"):
        classroom.submit([big])


def test_a_second_room_gets_only_its_own_results(workspace, room):
    """Results queued for a room that was left never reach the next one."""
    classroom.join(room.join_url, "Ada")
    room.stop()
    classroom.report_results([CheckResult("ch01.embed", "pass", 1.0, 1.0, "ok")])
    wait_for_senders()
    classroom.leave(timeout=1)
    with fake_classroom() as other:
        classroom.join(other.join_url, "Ada")
        classroom.report_results([CheckResult("ch01.unembed", "pass", 1.0, 1.0, "ok")], wait=5)
        assert [r["exercise"] for r in other.results.values()] == ["ch01.unembed"]


@pytest.mark.slow
def test_end_to_end_with_the_real_server(workspace, tmp_path):
    """The real server on a free loopback port: join, check() a real exercise, see it in the summary,
    submit, get the grade; the server is stopped at the end."""
    helpers = pytest.importorskip("tests.classroom.server_helpers")  # skips without the classroom extra
    from minigpt.classroom._http import request

    with helpers.running_server(tmp_path / "room.sqlite", exercises=["ch01.layer_norm", "ch01.embed"]) as server:
        classroom.join(server.join_url, "Ada <b>")
        mine = load_exercises("ch01_transformer")
        wrong = check("ch01.layer_norm", mine.layer_norm)
        check("ch01.embed", mine.embed)
        wait_for_senders()
        assert Outbox(workspace).pending() == []
        summary = request("GET", server.api(f"/api/summary?key={server.key}"))
        assert summary["learners"] == 1
        layer_norm_row, embed_row = summary["exercises"]["ch01.layer_norm"], summary["exercises"]["ch01.embed"]
        assert (layer_norm_row["pass"], layer_norm_row["fail"], layer_norm_row["mistakes"]) == (0, 1, {wrong.diagnosis: 1})
        assert (embed_row["todo"], embed_row["fail"]) == (1, 0)
        me = request("GET", server.api("/api/me"), secret=classroom.load_membership(workspace).secret)
        assert me["name"] == "Ada <b>" and sorted(r["exercise"] for r in me["results"]) == ["ch01.embed",
                                                                                          "ch01.layer_norm"]
        assert classroom.flush(workspace).sent == 0  # nothing waits, nothing goes twice
        submission_id = classroom.submit(classroom.exercise_files())
        state = classroom.wait_for_grade(submission_id, timeout_s=120, poll_s=0.2)
        assert state["status"] == "done", state
        graded = {r["id"]: r["status"] for r in state["results"]}
        assert graded == {"ch01.layer_norm": "fail", "ch01.embed": "not_implemented"}
        assert state["score"] == 0.0 and state["max_score"] > 0
