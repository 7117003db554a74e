"""Security and bad input (issue 18, part 5): each case with its expected answer, and the server stays up.

- no key or a wrong key: 401 / 403, on every instructor route; no secret or a wrong one: 401 / 403;
- one learner can't post as another or read anyone else's results or submissions;
- malformed JSON, unknown exercise ids, oversized bodies (64 KB; uploads 5 MB): 4xx with a message;
- names with HTML or SQL in them are stored and returned as text (the page: test_page_browser.py);
- per-learner rate limits: 429 with Retry-After;
- a hostile submission (an infinite loop, os.system writing outside, an output flood, a signal to
  the server) costs only its own grade, in the sandbox; the server stays up and answers meanwhile.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests.classroom.server_helpers import running_server

httpx = pytest.importorskip("httpx")

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"id": "r1", "exercise": "ch01.embed", "status": "pass", "diagnosis_id": None, "diagnosis": None,
        "time": 1_700_000_000.0}


@pytest.fixture
def server(tmp_path):
    with running_server(tmp_path / "room.sqlite", rate=1000, burst=1000) as s:
        with httpx.Client(base_url=s.base, timeout=30) as client:
            s.client = client
            yield s
            assert client.get(f"/join/{s.code}").status_code == 200  # still up after everything the test sent


def join(server, name: str = "Ada") -> dict:
    reply = server.client.post(f"/api/join/{server.code}", json={"name": name})
    assert reply.status_code == 201, reply.text
    return {**reply.json(), "headers": {"Authorization": f"Bearer {reply.json()['secret']}"}}


def refused(reply: httpx.Response, status: int, words: str) -> None:
    assert reply.status_code == status, (reply.status_code, reply.text)
    assert words in reply.json()["error"], reply.json()


@pytest.mark.parametrize("path", ["/room/{code}", "/api/summary", "/api/room", "/api/export?format=csv"])
def test_instructor_routes_need_the_key(server, path):
    url = path.format(code=server.code)
    sep = "&" if "?" in url else "?"
    refused(server.client.get(url), 401, "instructor key")
    refused(server.client.get(f"{url}{sep}key=wrong"), 403, "wrong instructor key")
    refused(server.client.get(f"{url}{sep}key={server.key[:-1]}é"), 403, "wrong instructor key")  # not ASCII
    assert server.client.get(f"{url}{sep}key={server.key}").status_code == 200


@pytest.mark.parametrize("method, path", [("POST", "/api/results"), ("GET", "/api/me"), ("POST", "/api/submit"),
                                          ("GET", "/api/submission/abc")])
def test_learner_routes_need_a_secret(server, method, path):
    refused(server.client.request(method, path, json={}), 401, "Authorization: Bearer")
    refused(server.client.request(method, path, json={}, headers={"Authorization": "Basic YWRhOg=="}), 401, "Bearer")
    refused(server.client.request(method, path, json={}, headers={"Authorization": "Bearer not-a-secret"}), 403,
            "belongs to no learner")


def test_a_learner_cannot_post_as_another_nor_read_their_results(server):
    ada, bob = join(server, "Ada"), join(server, "Bob")
    forged = {**GOOD, "learner": ada["learner_id"], "learner_id": ada["learner_id"]}  # the body names Ada
    assert server.client.post("/api/results", json={"results": [forged], "learner_id": ada["learner_id"]},
                              headers=bob["headers"]).json() == {"stored": 1, "acked": ["r1"]}
    assert server.client.get("/api/me", headers=ada["headers"]).json()["results"] == []
    bobs = server.client.get("/api/me", headers=bob["headers"]).json()
    assert bobs["learner_id"] == bob["learner_id"] and [r["id"] for r in bobs["results"]] == ["r1"]
    source = (ROOT / "solutions" / "ch01_transformer.py").read_text()
    sid = server.client.post("/api/submit", json={"files": {"ch01_transformer.py": source}},
                             headers=ada["headers"]).json()["submission_id"]
    refused(server.client.get(f"/api/submission/{sid}", headers=bob["headers"]), 404, "no submission with this id")
    assert server.client.get(f"/api/submission/{sid}", headers=ada["headers"]).status_code == 200


def test_malformed_and_wrong_bodies_are_refused_with_a_message(server):
    ada = join(server)
    post = lambda **kw: server.client.post("/api/results", headers=ada["headers"], **kw)  # noqa: E731
    refused(post(content=b'{"results": [}'), 400, "not valid JSON")
    refused(post(content=b"\xff\xfe"), 400, "not UTF-8")
    refused(post(json=[GOOD]), 400, "must be a JSON object")
    refused(post(content=b'{"results": [{"id": "\\ud800"}]}'), 400, "surrogate")
    refused(post(json={"results": []}), 422, "non-empty list")
    refused(post(json={"results": "r1"}), 422, "non-empty list")
    reply = post(json={"results": [GOOD, {**GOOD, "id": "r2", "exercise": "ch01.attention_patern"},
                                   {**GOOD, "id": "r3", "status": "great"}, {**GOOD, "id": "r4", "time": "noon"},
                                   {**GOOD, "id": ""}, "not an object"]})
    refused(reply, 422, "5 of 6 results were refused and none was stored")
    assert [(r["index"], r["id"]) for r in reply.json()["rejected"]] == [(1, "r2"), (2, "r3"), (3, "r4"), (4, ""),
                                                                         (5, None)]
    assert "unknown exercise id 'ch01.attention_patern'" in reply.json()["rejected"][0]["error"]
    assert server.client.get("/api/me", headers=ada["headers"]).json()["results"] == []  # nothing stored
    refused(post(json={"results": [{**GOOD, "id": f"r{i}"} for i in range(101)]}), 413, "at most 100")
    refused(post(json={"results": [{**GOOD, "diagnosis": "x" * 2001}]}), 422, "at most 2000 characters")
    refused(server.client.post(f"/api/join/{server.code}", json={"name": ""}), 422, "1 to 80")
    refused(server.client.post(f"/api/join/{server.code}", json={"name": "x" * 81}), 422, "1 to 80")
    refused(server.client.post(f"/api/join/{server.code}", json={"nom": "Ada"}), 422, "give your name")
    assert post(json={"results": [GOOD]}).json()["stored"] == 1


def test_oversized_bodies_are_refused_before_they_are_read(server):
    ada = join(server)
    big = {"results": [{**GOOD, "id": f"r{i}", "diagnosis": "x" * 1900} for i in range(40)]}  # ~80 KB
    refused(server.client.post("/api/results", json=big, headers=ada["headers"]), 413, "65,536")
    chunks = (b'{"results": [' + b" " * 10_000 for _ in range(8))  # streamed, no Content-Length
    refused(server.client.post("/api/results", content=chunks, headers=ada["headers"]), 413, "65,536")
    refused(server.client.post(f"/api/join/{server.code}", content=b" " * 70_000), 413, "65,536")
    huge = {"files": {"ch01_transformer.py": "# " + "x" * (5 * 1024 * 1024)}}
    refused(server.client.post("/api/submit", json=huge, headers=ada["headers"]), 413, "5,242,880")
    for name in ("../ch01_transformer.py", "ch01/../x.py", "notes.txt", "CH01_transformer.py", "ch01_a.py\n"):
        refused(server.client.post("/api/submit", json={"files": {name: "x = 1"}}, headers=ada["headers"]), 422,
                "not an exercise file name")
    refused(server.client.post("/api/submit", json={"files": {"ch07_scratch.py": "x = 1"}}, headers=ada["headers"]),
            422, "is an exercise file")


def test_names_with_html_or_sql_are_stored_as_text(server, tmp_path):
    names = ["<img src=x onerror=window.__pwned=1>", "Robert'); DROP TABLE learners;--", '"; DELETE FROM results; --',
             "=HYPERLINK(\"http://evil\")", "名前 ✓"]
    learners = [join(server, name) for name in names]
    for learner, name in zip(learners, names):
        assert server.client.get("/api/me", headers=learner["headers"]).json()["name"] == name
    room = server.client.get("/api/room", params={"key": server.key}).json()
    assert [learner["name"] for learner in room["learners"]] == names
    with sqlite3.connect(tmp_path / "room.sqlite") as db:
        assert {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} >= {
            "learners", "results", "latest", "room", "submissions"}
        assert [row[0] for row in db.execute("SELECT name FROM learners ORDER BY joined")] == names
    live = server.client.get("/api/export", params={"key": server.key, "format": "live"}).text
    assert "'=HYPERLINK" in live  # a spreadsheet shows it as text, not a formula


def test_rate_limits_answer_429_with_retry_after(tmp_path):
    with running_server(tmp_path / "room.sqlite", rate=2, burst=5, join_rate=1, join_burst=3) as s, \
            httpx.Client(base_url=s.base) as client:
        s.client = client
        ada, bob, _ = join(s, "Ada"), join(s, "Bob"), join(s, "Cyd")
        refused(client.post(f"/api/join/{s.code}", json={"name": "Dan"}), 429, "too many requests")
        start, statuses = time.monotonic(), []
        while 429 not in statuses and len(statuses) < 50:
            limited = client.get("/api/me", headers=ada["headers"])
            statuses.append(limited.status_code)
        refilled = 2 * (time.monotonic() - start)  # tokens that came back meanwhile, at 2 per second
        assert set(statuses[:-1]) == {200} and 5 <= len(statuses) - 1 <= 5 + refilled + 1  # the burst of 5
        refused(limited, 429, "too many requests")
        assert int(limited.headers["retry-after"]) >= 1 and limited.json()["retry_after"] >= 1
        assert client.get("/api/me", headers=bob["headers"]).status_code == 200  # Bob has his own bucket
        time.sleep(0.6)
        assert client.get("/api/me", headers=ada["headers"]).status_code == 200  # refilled


HOSTILE = '''

# ---- hostile versions, defined after the solutions so that they are the ones graded

def embed(tokens, W_E):
    while True:  # an infinite loop
        pass


def pos_embed(tokens, W_pos):
    os.system("echo pwned > {marker}")  # a shell, writing outside its job directory
    return W_pos[: tokens.shape[-1]].expand(*tokens.shape, W_pos.shape[-1])


def gelu_new(x):
    print("flood " * 2_000_000)  # 12 MB of output
    return x
'''

SIGNAL_THE_SERVER = '''

def layer_norm(x, w, b, eps=1e-5):
    zygote = os.getppid()  # the fork server; its parent is the classroom server
    with open(f"/proc/{zygote}/stat") as f:
        server = int(f.read().rsplit(")", 1)[1].split()[1])
    os.kill(server, 9)
    return x
'''


@pytest.mark.slow
def test_a_hostile_submission_costs_only_its_own_grade(tmp_path):
    from minigpt.classroom.process import ServerProcess
    from minigpt.grading import all_exercises
    from minigpt.grading._confine import landlock_abi

    marker = tmp_path / "pwned.txt"
    solution = (ROOT / "solutions" / "ch01_transformer.py").read_text()
    can_scope_signals = landlock_abi() >= 6  # Linux >= 6.12: a sandbox cannot signal outside its own tree
    hostile = solution + "\nimport os\n" + HOSTILE.format(marker=marker) + (SIGNAL_THE_SERVER if can_scope_signals
                                                                           else "")
    exercises = ["ch01.embed", "ch01.pos_embed", "ch01.gelu_new", "ch01.layer_norm"]
    with ServerProcess(tmp_path / "room.sqlite", "--exercise", *exercises, "--timeout", "3", "--workers", "2") as s, \
            httpx.Client(base_url=s.base, timeout=30) as client:
        s.client = client
        eve, ada = join(s, "Eve"), join(s, "Ada")
        sids = []
        for who, source in ((eve, hostile), (ada, solution)):
            reply = client.post("/api/submit", json={"files": {"ch01_transformer.py": source}}, headers=who["headers"])
            assert reply.status_code == 202, reply.text
            sids.append((who, reply.json()["submission_id"]))
        slowest, grades = 0.0, {}
        deadline = time.monotonic() + 120
        while len(grades) < 2 and time.monotonic() < deadline:
            t0 = time.perf_counter()
            assert client.get("/api/summary", params={"key": s.key}).status_code == 200  # answers while grading
            slowest = max(slowest, time.perf_counter() - t0)
            for who, sid in sids:
                reply = client.get(f"/api/submission/{sid}", headers=who["headers"]).json()
                if reply["status"] in ("done", "failed"):
                    grades[who["learner_id"]] = reply
            time.sleep(0.2)
        assert s.proc.poll() is None, f"the server died: {s.error_output()[-2000:]}"
        eves, adas = grades[eve["learner_id"]], grades[ada["learner_id"]]
        points = {ex.id: ex.points for ex in all_exercises()}
        assert adas["status"] == "done" and adas["score"] == adas["max_score"] == sum(points[e] for e in exercises)
        status = {r["id"]: (r["status"], r["message"]) for r in eves["results"]}
        assert status["ch01.embed"][0] == "timeout" and "did not finish within 3 s" in status["ch01.embed"][1]
        assert status["ch01.gelu_new"][0] == "error" and "MB of output" in status["ch01.gelu_new"][1]
        assert status["ch01.pos_embed"][0] == "pass"  # its shell ran inside the sandbox ...
        if landlock_abi() > 0:
            assert not marker.exists()  # ... and could not write outside it
        if can_scope_signals:
            assert status["ch01.layer_norm"][0] == "error" and "PermissionError" in status["ch01.layer_norm"][1]
        assert eves["score"] == points["ch01.pos_embed"] + (0 if can_scope_signals else points["ch01.layer_norm"])
        assert slowest < 5.0, f"the server took {slowest:.1f} s to answer while grading"
        assert client.get("/api/room", params={"key": s.key}).json()["summary"]["learners"] == 2
