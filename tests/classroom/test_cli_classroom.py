"""``minigpt classroom join|status|submit|leave|serve`` and the report of ``minigpt grade``, against a fake room."""

from __future__ import annotations

import builtins
import sys

import pytest

from minigpt.classroom.membership import MEMBERSHIP
from minigpt.classroom.queue import Outbox
from minigpt.cli import main
from tests.classroom.client_helpers import room, wait_for_senders, workspace  # noqa: F401 (fixtures)


def test_join_status_leave(workspace, room, capsys):
    assert main(["classroom", "join", room.join_url, "--name", "Ada Lovelace"]) == 0
    out = capsys.readouterr().out
    assert f"joined room ROOM42 at {room.base} as 'Ada Lovelace'" in out and "never your code" in out
    assert main(["classroom", "status"]) == 0
    out = capsys.readouterr().out
    assert "room ROOM42" in out and "0 results sent, 0 waiting" in out
    room.stop()
    Outbox(workspace).append([{"id": "r1", "exercise": "ch01.embed", "status": "pass", "diagnosis_id": None,
                               "diagnosis": None, "time": 1.0}])
    assert main(["classroom", "status"]) == 1  # the server is away: says so, and the result waits
    assert "0 results sent, 1 waiting (no answer from" in capsys.readouterr().out
    room.start()
    assert main(["classroom", "status"]) == 0 and "1 result sent, 0 waiting" in capsys.readouterr().out
    assert main(["classroom", "leave"]) == 0
    assert f"left room ROOM42 at {room.base}" in capsys.readouterr().out
    assert not (workspace / MEMBERSHIP).exists()
    assert main(["classroom", "leave"]) == 0 and "had not joined" in capsys.readouterr().out


def test_errors_name_the_fix(workspace, room, tmp_path, monkeypatch, capsys):
    assert main(["classroom", "status"]) == 2
    assert "has not joined a room: run `minigpt classroom join URL --name NAME`" in capsys.readouterr().err
    assert main(["classroom", "join", "http://127.0.0.1:8765/room/ROOM42?key=k", "--name", "Ada"]) == 2
    assert "is not a join URL" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert main(["classroom", "join", room.join_url, "--name", "Ada"]) == 2
    assert "not inside a course workspace" in capsys.readouterr().err


def test_submit_names_the_files_and_asks_first(workspace, room, monkeypatch, capsys):
    main(["classroom", "join", room.join_url, "--name", "Ada"])
    capsys.readouterr()

    def no_terminal(question):
        raise EOFError

    monkeypatch.setattr(builtins, "input", no_terminal)
    assert main(["classroom", "submit"]) == 1
    out = capsys.readouterr().out
    assert "ch01_transformer.py, ch02_attention.py" in out and "nothing uploaded" in out and not room.submissions
    questions = []
    monkeypatch.setattr(builtins, "input", lambda q: questions.append(q) or "y")
    assert main(["classroom", "submit"]) == 0
    assert questions == ["upload these 2 files? [y/N] "] and len(room.submissions) == 1
    assert f"submitted: {next(iter(room.submissions))}" in capsys.readouterr().out
    monkeypatch.setattr(builtins, "input", lambda q: pytest.fail("--yes asks nothing"))
    assert main(["classroom", "submit", "--yes", "--wait", "--timeout", "30"]) == 0
    assert "graded: 3 / 5 points" in capsys.readouterr().out and len(room.submissions) == 2
    assert main(["classroom", "status"]) == 0  # the latest submission's grade
    assert "graded: 3 / 5 points" in capsys.readouterr().out


def test_serve_without_the_extra_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "starlette", None)
    monkeypatch.delitem(sys.modules, "minigpt.classroom.server", raising=False)
    assert main(["classroom", "serve", "--port", "0"]) == 2
    assert 'pip install "minigpt-interp[classroom]"' in capsys.readouterr().err


@pytest.mark.slow
def test_minigpt_grade_reports_each_exercise(workspace, room, capsys):
    """`minigpt grade` in a joined workspace: the sandbox's results go to the room as well."""
    main(["classroom", "join", room.join_url, "--name", "Ada"])
    assert main(["grade", "--path", "exercises", "--exercise", "ch01.layer_norm", "ch01.embed", "--no-progress"]) == 0
    assert "likely mistake" in capsys.readouterr().out
    wait_for_senders()
    got = {r["exercise"]: (r["status"], r["diagnosis_id"]) for r in room.results.values()}
    assert got == {"ch01.layer_norm": ("fail", "eps-outside-sqrt"), "ch01.embed": ("todo", None)}


def test_serve_refuses_another_interface_unless_allowed(capsys):
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    assert main(["classroom", "serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


@pytest.mark.slow
def test_serve_prints_the_urls_a_learner_joins_with(workspace, tmp_path):
    """`minigpt classroom serve` in its own process: its two lines are read as a script reads them."""
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    import os
    import subprocess
    import threading

    from minigpt.classroom import join, load_membership
    from minigpt.classroom.process import LINES

    proc = subprocess.Popen([sys.executable, "-m", "minigpt.cli", "classroom", "serve", "--db",
                             str(tmp_path / "room.sqlite"), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    printed = []
    reader = threading.Thread(target=lambda: printed.extend([proc.stdout.readline(), proc.stdout.readline()]),
                              daemon=True)
    reader.start()
    try:
        reader.join(120)
        found = LINES.search("".join(printed))
        assert found, printed
        join(f"{found['base']}/join/{found['code']}", "Ada")
        assert load_membership(workspace).room == found["code"]
    finally:
        proc.terminate()
        proc.wait(30)
        proc.stdout.close()
