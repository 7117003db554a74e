"""Starting, stopping and restarting the server: the printed lines, what a restart keeps, resumed grading.

- ``python -m minigpt.classroom.server --port 0`` prints exactly the two lines (the real port), and
  stops cleanly on SIGTERM; a restart on the same file prints the same code and key, and the
  learners' secrets and results are still there;
- submissions left queued or half-graded by a stopped server are graded by the next one;
- a host other than loopback needs allow_remote, and then gets a warning.
"""

from __future__ import annotations

import re
import signal
import time

import pytest

from tests.classroom.server_helpers import running_server

httpx = pytest.importorskip("httpx")

from minigpt.classroom.process import ServerProcess  # noqa: E402
from minigpt.classroom.store import Store  # noqa: E402

RESULT = {"id": "r1", "exercise": "ch01.embed", "status": "pass", "diagnosis_id": None, "diagnosis": None,
          "time": 1_700_000_000.0}


def test_the_command_prints_two_lines_and_stops_cleanly(tmp_path):
    with ServerProcess(tmp_path / "room.sqlite") as server:
        lines = server.printed.splitlines()
        port = int(server.base.rsplit(":", 1)[1])
        assert port > 0 and lines == [f"join: http://127.0.0.1:{port}/join/{server.code}",
                                      f"instructor: http://127.0.0.1:{port}/room/{server.code}?key={server.key}"]
        assert re.fullmatch(r"[A-Za-z0-9_-]{8}", server.code) and re.fullmatch(r"[A-Za-z0-9_-]{32}", server.key)
        assert httpx.get(f"{server.join_url}").status_code == 200
        # A clean stop: uvicorn shuts down, the store closes (SQLite folds its WAL file back in and removes it),
        # then uvicorn re-raises the signal, as it does since 0.29.
        assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM) and server.error_output() == ""
        assert not (tmp_path / "room.sqlite-wal").exists()


def test_a_restart_keeps_the_room_its_learners_and_their_results(tmp_path):
    db = tmp_path / "room.sqlite"
    with running_server(db) as server:
        joined = httpx.post(f"{server.base}/api/join/{server.code}", json={"name": "Ada"}).json()
        headers = {"Authorization": f"Bearer {joined['secret']}"}
        assert httpx.post(f"{server.base}/api/results", json={"results": [RESULT]}, headers=headers).status_code == 200
    with running_server(db) as again:
        assert (again.code, again.key) == (server.code, server.key) and again.base != server.base
        me = httpx.get(f"{again.base}/api/me", headers=headers).json()  # the secret still works
        assert me["name"] == "Ada" and [r["id"] for r in me["results"]] == ["r1"]
        assert httpx.post(f"{again.base}/api/results", json={"results": [RESULT]},
                          headers=headers).json() == {"stored": 0, "acked": ["r1"]}  # not counted twice
    with Store(db) as store:
        assert store.count_results() == 1 and len(store.learners()) == 1
    with running_server(tmp_path / "other.sqlite") as other:  # another file, another room
        assert (other.code, other.key) != (server.code, server.key)


@pytest.mark.slow
def test_unfinished_submissions_are_graded_after_a_restart(tmp_path):
    from pathlib import Path

    solution = (Path(__file__).resolve().parents[2] / "solutions" / "ch01_transformer.py").read_text()
    db = tmp_path / "room.sqlite"
    with Store(db) as store:  # as a killed server leaves it: one queued, one half-graded
        ada, bob = store.add_learner("Ada"), store.add_learner("Bob")
        queued = store.add_submission(ada.id, {"ch01_transformer.py": solution})
        grading = store.add_submission(bob.id, {"ch01_transformer.py": solution})
        store.set_submission(grading, "grading")
    with running_server(db, exercises=["ch01.embed"], timeout_s=10) as server:
        store = server.room.store
        deadline = time.monotonic() + 90
        while store.unfinished_submissions() and time.monotonic() < deadline:
            time.sleep(0.2)
        for sid in (queued, grading):
            row = store.submission(sid)
            assert row["status"] == "done", dict(row)
        summary = httpx.get(f"{server.base}/api/summary", params={"key": server.key}).json()
        assert summary["exercises"]["ch01.embed"]["pass"] == 2  # the grades reached the room


def test_a_remote_host_needs_allow_remote_and_gets_a_warning(tmp_path, monkeypatch, capsys):
    from minigpt.classroom import server as server_module

    with pytest.raises(ValueError, match="--allow-remote"):
        server_module.serve(tmp_path / "room.sqlite", host="0.0.0.0", port=0)
    ran = []
    monkeypatch.setattr(server_module._Server, "run", lambda self, sockets: ran.append(sockets[0].getsockname()))
    server_module.serve(tmp_path / "room.sqlite", host="0.0.0.0", port=0, allow_remote=True)
    assert "warning: serving on 0.0.0.0" in capsys.readouterr().err and ran[0][0] == "0.0.0.0"
    assert server_module.is_loopback("::1") and not server_module.is_loopback("192.168.1.5")


def test_a_busy_port_says_what_to_do(tmp_path, capsys):
    from minigpt.classroom.serve_cli import main
    from minigpt.classroom.server import bind

    taken = bind("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        assert main(["--db", str(tmp_path / "room.sqlite"), "--port", str(port)]) == 2
        assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
        assert main(["--db", str(tmp_path / "room.sqlite"), "--exercise", "ch01.nope", "--port", "0"]) == 2
        assert "ch01.nope" in capsys.readouterr().err
    finally:
        taken.close()
