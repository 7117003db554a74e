"""The course material: where the chapter sources and exercise stubs are, and how a chapter becomes a notebook.

A chapter is ``chapters/NN_name.py`` in jupytext's percent format; its exercises are
``exercises/chNN_*.py`` (the stubs ``minigpt exercises build`` makes from ``solutions/``).
An editable install (``pip install -e .``, what the README does) reads both folders in the
repository; a wheel carries copies of them in ``minigpt/workspace/course/`` (``setup.py``
puts them there at build time).

>>> chapter_title_of("# %% [markdown]\\n# # Attention\\n#\\n# Where does a token look?\\n")
'Attention'
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

PACKAGED = Path(__file__).parent / "course"  # only in a wheel (see setup.py)
REPOSITORY = Path(__file__).resolve().parents[2]
CHAPTER_GLOB, EXERCISE_GLOB = "[0-9][0-9]_*.py", "ch[0-9][0-9]_*.py"
# Every notebook runs on the standard kernel: the python3 of the environment Jupyter starts from.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


@dataclass(frozen=True)
class CourseSource:
    """The folders the course is copied from."""

    root: Path

    @property
    def chapters_dir(self) -> Path:
        return self.root / "chapters"

    @property
    def exercises_dir(self) -> Path:
        return self.root / "exercises"

    def chapters(self) -> list[Path]:
        """The chapter sources, in order: ``chapters/01_transformer_from_scratch.py``, ..."""
        return sorted(self.chapters_dir.glob(CHAPTER_GLOB)) if self.chapters_dir.is_dir() else []

    def exercises(self) -> list[Path]:
        """The exercise stubs: ``exercises/ch01_transformer.py``, ..."""
        return sorted(self.exercises_dir.glob(EXERCISE_GLOB)) if self.exercises_dir.is_dir() else []

    def exercises_of(self, chapter: Path) -> list[Path]:
        """The exercise files of one chapter (``01_...`` goes with ``ch01_*.py``)."""
        return [p for p in self.exercises() if p.name[2:4] == chapter.name[:2]]


def course_source(root: str | os.PathLike | None = None) -> CourseSource:
    """The course material: ``root`` if given, else the copy inside the package, else the repository."""
    candidates = [Path(root)] if root is not None else [PACKAGED, REPOSITORY]
    for candidate in candidates:
        if (candidate / "chapters").is_dir() or (candidate / "exercises").is_dir():
            return CourseSource(candidate.resolve())
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"found no course material (chapters/ or exercises/) in {looked}: this minigpt was installed without "
        "it; install from the repository (`pip install -e .`) or from a wheel built from it")


def chapter_title_of(text: str) -> str | None:
    """The first Markdown heading of a percent-format chapter source."""
    in_markdown = False
    for line in text.splitlines():
        if line.startswith("# %%"):
            in_markdown = "[markdown]" in line or "[md]" in line
        elif in_markdown and (m := re.match(r"#\s+#+\s+(.+)", line)):
            return m.group(1).strip()
    return None


def _cell_id(index: int, source: str) -> str:
    """A stable cell id (nbformat's default is random, which would make every build differ)."""
    return f"{index:03d}-{hashlib.sha1(source.encode('utf-8')).hexdigest()[:8]}"


def chapter_notebook(path: str | os.PathLike):
    """The notebook of one chapter source: jupytext's conversion, the python3 kernel, stable cell ids."""
    import jupytext
    import nbformat

    path = Path(path)
    nb = jupytext.reads(path.read_text(encoding="utf-8"), fmt="py:percent")
    nb.metadata.pop("jupytext", None)  # no pairing with a .py file in the learner's workspace
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.metadata["minigpt"] = {"chapter": path.stem}
    nb.nbformat, nb.nbformat_minor = 4, max(5, nb.get("nbformat_minor", 5))
    for i, cell in enumerate(nb.cells):
        cell["id"] = _cell_id(i, cell.source)
    nbformat.validate(nb)
    return nb


def notebook_bytes(path: str | os.PathLike) -> bytes:
    """The ``.ipynb`` file of a chapter source, byte for byte the same on every build."""
    import nbformat

    return (nbformat.writes(chapter_notebook(path)) + "\n").encode("utf-8")


def build_chapters(out: str | os.PathLike, source: CourseSource | None = None,
                   names: list[str] | None = None) -> list[Path]:
    """Write ``NN_name.ipynb`` for every chapter (or those whose name or number is in ``names``) into ``out``."""
    source = source or course_source()
    chapters = source.chapters()
    if names:
        chosen = [c for c in chapters if c.stem in names or c.name[:2] in names or c.name in names]
        unknown = [n for n in names if not any(n in (c.stem, c.name[:2], c.name) for c in chapters)]
        if unknown:
            known = ", ".join(c.stem for c in chapters) or "none"
            raise KeyError(f"no chapter {', '.join(unknown)} (chapters: {known})")
        chapters = chosen
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for chapter in chapters:
        target = out / f"{chapter.stem}.ipynb"
        target.write_bytes(notebook_bytes(chapter))
        written.append(target)
    return written
