"""Where a notebook finds the learner's exercise file: the workspace's exercises/, or next to itself when alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from minigpt.workspace.notebook import exercise_file, load_exercises

REPO = Path(__file__).resolve().parents[2]
STUB = REPO / "exercises" / "ch01_transformer.py"


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv("MINIGPT_EXERCISES", raising=False)


def test_alone_the_stub_is_written_next_to_the_notebook_once(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = exercise_file("ch01_transformer")
    assert path == tmp_path / "ch01_transformer.py" and path.read_bytes() == STUB.read_bytes()
    assert f"Wrote your exercise file {path}" in capsys.readouterr().out
    path.write_text(path.read_text() + "\n# mine\n")
    edited = path.read_bytes()
    assert Path(load_exercises("ch01_transformer").__file__) == path
    assert path.read_bytes() == edited and f"Your exercise file: {path}" in capsys.readouterr().out


def test_a_workspace_wins_over_a_file_next_to_the_notebook(tmp_path, monkeypatch, capsys):
    (tmp_path / "exercises").mkdir()
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert exercise_file("ch01_transformer") == tmp_path / "exercises" / "ch01_transformer.py"
    assert not (tmp_path / "notebooks" / "ch01_transformer.py").exists() and capsys.readouterr().out == ""


def test_an_unknown_exercise_file_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="no exercise file ch99_nothing.py"):
        exercise_file("ch99_nothing")
    assert not list(tmp_path.iterdir())
