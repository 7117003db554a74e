"""`minigpt chapters build`: jupytext percent sources -> notebooks, the same bytes on every build."""

from __future__ import annotations

import nbformat

from minigpt.cli import main
from minigpt.workspace.course import build_chapters, chapter_notebook, course_source, notebook_bytes

CHAPTER = """\
# %% [markdown]
# # Attention
#
# Where does a token look?

# %%
# %matplotlib inline
x = 1

# %%
x + 1
"""


def test_a_chapter_becomes_a_notebook_with_the_python3_kernel(tmp_path):
    path = tmp_path / "02_attention.py"
    path.write_text(CHAPTER)
    nb = chapter_notebook(path)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"]
    assert nb.cells[0].source.startswith("# Attention") and nb.cells[1].source.startswith("%matplotlib inline")
    assert nb.metadata.kernelspec.name == "python3" and "jupytext" not in nb.metadata
    assert notebook_bytes(path) == notebook_bytes(path)  # stable cell ids: a rebuild changes nothing


def test_chapters_build_writes_every_chapter(tmp_path, capsys):
    assert main(["chapters", "build", "--out", str(tmp_path / "nb")]) == 0
    chapters = course_source().chapters()
    for chapter in chapters:
        nbformat.validate(nbformat.read(tmp_path / "nb" / f"{chapter.stem}.ipynb", as_version=4))
    assert len(list((tmp_path / "nb").glob("*.ipynb"))) == len(chapters)
    assert main(["chapters", "build", "--out", str(tmp_path / "nb"), "99_nothing"]) == 2
    assert "no chapter 99_nothing" in capsys.readouterr().err
    assert main(["chapters", "list"]) == 0


def test_build_chooses_chapters_by_name_or_number(tmp_path):
    src = tmp_path / "src" / "chapters"
    src.mkdir(parents=True)
    for name in ("01_one", "02_two"):
        (src / f"{name}.py").write_text(CHAPTER)
    source = course_source(tmp_path / "src")
    assert [p.name for p in build_chapters(tmp_path / "out", source, names=["02"])] == ["02_two.ipynb"]
    assert [p.name for p in build_chapters(tmp_path / "out", source)] == ["01_one.ipynb", "02_two.ipynb"]
