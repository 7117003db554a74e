"""`minigpt start`: a fresh workspace, and re-runs that never overwrite the learner's work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from minigpt.cli import main
from minigpt.workspace import load_exercises
from minigpt.workspace.course import CourseSource, course_source
from minigpt.workspace.start import MANIFEST, start_workspace

REPO = Path(__file__).resolve().parents[2]
CHAPTER = """\
# %% [markdown]
# # A tiny chapter
#
# Prose.

# %%
from minigpt.workspace import load_exercises
ex = load_exercises("ch01_transformer")
"""


@pytest.fixture
def source(tmp_path) -> CourseSource:
    """A course of one chapter and the repository's chapter-1 stubs, that a test may change."""
    root = tmp_path / "src"
    (root / "chapters").mkdir(parents=True)
    (root / "chapters" / "01_tiny.py").write_text(CHAPTER)
    (root / "exercises").mkdir()
    shutil.copy(REPO / "exercises" / "ch01_transformer.py", root / "exercises")
    return course_source(root)


def test_a_fresh_workspace_holds_the_notebooks_the_exercises_and_a_readme(tmp_path):
    source = course_source()  # the repository's course, as `minigpt start` uses it
    report = start_workspace(tmp_path / "course")
    root = tmp_path / "course"
    assert report.new and not report.kept and not report.updated
    chapters, stubs = source.chapters(), sorted((REPO / "exercises").glob("ch[0-9][0-9]_*.py"))
    assert stubs, "the repository has exercise stubs"
    for stub in stubs:  # the learner starts from the repository's stubs, byte for byte
        assert (root / "exercises" / stub.name).read_bytes() == stub.read_bytes()
    for chapter in chapters:
        nb = nbformat.read(root / f"{chapter.stem}.ipynb", as_version=4)
        nbformat.validate(nb)
        assert nb.metadata.kernelspec.name == "python3"
        assert all(cell.cell_type != "code" or not cell.outputs for cell in nb.cells)
    readme = (root / "README.md").read_text()
    assert "minigpt grade" in readme and all(f"{c.stem}.ipynb" in readme for c in chapters)
    assert sorted(report.added) == sorted(["README.md", *(f"{c.stem}.ipynb" for c in chapters),
                                           *(f"exercises/{s.name}" for s in stubs)])
    manifest = json.loads((root / MANIFEST).read_text())["files"]
    assert set(manifest) == set(report.added)


def test_the_notebooks_find_the_workspace_exercises(tmp_path, source, monkeypatch):
    start_workspace(tmp_path / "ws", source)
    monkeypatch.delenv("MINIGPT_EXERCISES", raising=False)
    monkeypatch.chdir(tmp_path / "ws")  # Jupyter runs a notebook in its own folder
    assert Path(load_exercises("ch01_transformer").__file__) == tmp_path / "ws" / "exercises" / "ch01_transformer.py"


def test_a_second_run_keeps_a_changed_exercise_byte_for_byte(tmp_path, source):
    root = tmp_path / "ws"
    start_workspace(root, source)
    mine = root / "exercises" / "ch01_transformer.py"
    edited = mine.read_bytes().replace(b"raise NotImplementedError(", b"return x  # mine\n    raise (", 1)
    mine.write_bytes(edited)
    (source.exercises_dir / "ch01_transformer.py").write_bytes(b"# a new version of the stubs\n")

    report = start_workspace(root, source)
    assert mine.read_bytes() == edited
    assert report.kept == ["exercises/ch01_transformer.py"] and not report.updated
    assert "newer version" in report.why_kept["exercises/ch01_transformer.py"]
    assert any(line.startswith("  kept     exercises/ch01_transformer.py") for line in report.lines())


def test_a_second_run_updates_untouched_files_adds_new_ones_and_restores_deleted_ones(tmp_path, source):
    root = tmp_path / "ws"
    start_workspace(root, source)
    (source.chapters_dir / "01_tiny.py").write_text(CHAPTER + "\n# %%\nprint('new cell')\n")
    (source.chapters_dir / "02_more.py").write_text("# %% [markdown]\n# # More\n\n# %%\nx = 1\n")
    (root / "README.md").unlink()

    report = start_workspace(root, source)
    assert report.updated == ["01_tiny.ipynb"]
    assert report.added == ["02_more.ipynb"]
    assert report.restored == ["README.md"] and "02_more.ipynb" in (root / "README.md").read_text()
    assert report.unchanged == ["exercises/ch01_transformer.py"] and not report.kept
    assert "new cell" in (root / "01_tiny.ipynb").read_text()

    again = start_workspace(root, source)  # nothing new: nothing written
    assert not (again.added or again.updated or again.restored or again.kept) and len(again.unchanged) == 4


def test_a_notebook_that_was_run_is_kept(tmp_path, source):
    root = tmp_path / "ws"
    start_workspace(root, source)
    path = root / "01_tiny.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="hello\n")]
    nb.cells[1].execution_count = 1
    nbformat.write(nb, path)
    ran = path.read_bytes()
    (source.chapters_dir / "01_tiny.py").write_text(CHAPTER + "\n# %%\nprint('new cell')\n")

    report = start_workspace(root, source)
    assert report.kept == ["01_tiny.ipynb"] and path.read_bytes() == ran


def test_a_folder_not_made_by_minigpt_keeps_its_files(tmp_path, source):
    root = tmp_path / "mine"
    (root / "exercises").mkdir(parents=True)
    (root / "exercises" / "ch01_transformer.py").write_text("# my own file\n")
    (root / "notes.txt").write_text("notes\n")

    report = start_workspace(root, source)
    assert report.foreign and report.kept == ["exercises/ch01_transformer.py"]
    assert (root / "exercises" / "ch01_transformer.py").read_text() == "# my own file\n"
    assert (root / "notes.txt").read_text() == "notes\n"
    assert sorted(report.added) == ["01_tiny.ipynb", "README.md"]
    assert "not made by `minigpt start`" in "\n".join(report.lines())


def test_files_no_longer_in_the_course_are_left_in_place(tmp_path, source):
    root = tmp_path / "ws"
    start_workspace(root, source)
    (source.chapters_dir / "01_tiny.py").rename(source.chapters_dir / "01_renamed.py")
    report = start_workspace(root, source)
    assert (root / "01_tiny.ipynb").is_file() and report.retired == ["01_tiny.ipynb"]
    assert report.added == ["01_renamed.ipynb"]


def test_start_refuses_the_course_sources_and_files(tmp_path, source):
    with pytest.raises(ValueError, match="course's own sources"):
        start_workspace(source.root, source)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        start_workspace(tmp_path / "file", source)


def test_the_start_command_reports_and_says_how_to_open_the_notebooks(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["start", "course"]) == 0
    out = capsys.readouterr().out
    assert "added    exercises/ch01_transformer.py" in out and "jupyter lab course" in out
    with open(tmp_path / "course" / "exercises" / "ch01_transformer.py", "a") as f:
        f.write("# my note\n")
    assert main(["start", "course"]) == 0
    out = capsys.readouterr().out
    assert "kept     exercises/ch01_transformer.py (left alone: you changed it)" in out
    assert main(["start", str(tmp_path / "course" / "README.md")]) == 2
