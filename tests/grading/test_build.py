"""The build step: exercises/ is generated from solutions/ and must stay in sync."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from minigpt.grading.build import (
    BuildError,
    build_exercises,
    exercises_in_sync,
    main,
    solution_files,
    strip_solutions,
)

ROOT = Path(__file__).resolve().parents[2]

SOURCE = '''\
"""A module docstring, kept."""
import math


def area(r):
    """Area of a circle (kept)."""
    # BEGIN SOLUTION
    # HINT: pi r squared
    return math.pi * r**2
    # END SOLUTION


class Thing:
    def __init__(self, n):
        super().__init__()
        # BEGIN SOLUTION
        self.n = n
        # END SOLUTION

    def twice(self):
        # BEGIN SOLUTION
        # HINT: say "twice"
        # HINT: with a \\ backslash
        return 2 * self.n
        # END SOLUTION
'''

STUB = '''\
"""A module docstring, kept."""
import math


def area(r):
    """Area of a circle (kept)."""
    raise NotImplementedError("pi r squared")


class Thing:
    def __init__(self, n):
        super().__init__()
        raise NotImplementedError("implement me")

    def twice(self):
        raise NotImplementedError("say \\"twice\\" with a \\\\ backslash")
'''


def test_committed_exercises_are_in_sync():
    problems = exercises_in_sync(ROOT / "solutions", ROOT / "exercises")
    assert problems == [], f"exercises/ is out of date: {problems}; run `python -m minigpt.grading.build`"
    assert main(["--check"]) == 0


def test_out_of_sync_is_reported(tmp_path):
    copy = tmp_path / "exercises"
    shutil.copytree(ROOT / "exercises", copy)
    assert exercises_in_sync(ROOT / "solutions", copy) == []
    stub = copy / "ch01_transformer.py"
    stub.write_text(stub.read_text().replace("raise NotImplementedError", "return None  #", 1))
    (copy / "README.md").unlink()
    (copy / "ch99_stale.py").write_text("")
    assert exercises_in_sync(ROOT / "solutions", copy) == [
        "README.md (missing)", "ch01_transformer.py (differs)", "ch99_stale.py (no source in solutions/)"]
    assert main(["--check", "--exercises", str(copy)]) == 1


def test_a_solution_block_becomes_raise_with_the_hint():
    stub = strip_solutions(SOURCE)
    assert stub == STUB
    namespace: dict = {}
    exec(compile(stub, "stub", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="pi r squared"):
        namespace["area"](1.0)
    with pytest.raises(NotImplementedError, match="implement me"):
        namespace["Thing"](3)


def test_text_outside_blocks_is_unchanged_byte_for_byte():
    for path in solution_files(ROOT / "solutions"):
        source = path.read_text()
        stub = (ROOT / "exercises" / path.name).read_text()
        outside, inside = [], False
        for line in source.splitlines(keepends=True):
            if line.strip() == "# BEGIN SOLUTION":
                inside = True
                outside.append("<block>")
            elif line.strip() == "# END SOLUTION":
                inside = False
            elif not inside:
                outside.append(line)
        stub_lines = ["<block>" if line.strip().startswith("raise NotImplementedError(") else line
                      for line in stub.splitlines(keepends=True)]
        assert stub_lines == outside


def test_windows_line_endings_are_kept():
    crlf = SOURCE.replace("\n", "\r\n")
    assert strip_solutions(crlf) == STUB.replace("\n", "\r\n")


@pytest.mark.parametrize("text, line, words", [
    ("def f():\n    x = 1\n    # BEGIN SOLUTION\n    return 1\n", 3, "no matching"),
    ("def f():\n    return 1\n    # END SOLUTION\n", 3, "without a"),
    ("def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    # END SOLUTION\n", 3, "inside the block opened at line 2"),
])
def test_unpaired_markers_name_the_file_and_line(text, line, words):
    with pytest.raises(BuildError, match=rf"^bad\.py:{line}: .*{words}"):
        strip_solutions(text, "bad.py")


def test_build_writes_everything_or_nothing(tmp_path):
    solutions, out = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    (solutions / "__init__.py").write_text("")
    (solutions / "ch01_a.py").write_text(SOURCE)
    written = build_exercises(solutions, out)
    assert sorted(p.name for p in written) == ["README.md", "ch01_a.py"]
    assert (out / "ch01_a.py").read_text() == STUB and not (out / "__init__.py").exists()
    assert "generated" in (out / "README.md").read_text()
    assert exercises_in_sync(solutions, out) == []

    (solutions / "ch01_a.py").write_text(SOURCE.replace("(kept)", "(changed)"))
    (solutions / "ch02_bad.py").write_text("def f():\n    # BEGIN SOLUTION\n    return 1\n")
    with pytest.raises(BuildError, match=r"ch02_bad\.py:2: "):
        build_exercises(solutions, out)
    assert not (out / "ch02_bad.py").exists() and (out / "ch01_a.py").read_text() == STUB
