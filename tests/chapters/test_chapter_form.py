"""The form every chapter keeps, read from its jupytext source (nothing is executed here).

- Each section asks the learner to predict before running, at least twice, with the answer hidden
  in a ``<details>`` block: a Markdown cell holding ``**Predict**`` and ``<details>``.
- Each ``check(...)`` is stated just before it: the Markdown cell before the check's cell gives the
  signature (```name(...)```), what to return, and a one-line example.
- Every claim the prose makes about a model or a run that no cell beside it computes is tagged
  ``<!-- claim: chNN.some_claim -->`` and asserted by a test marked
  ``@pytest.mark.claim("chNN.some_claim")`` in ``tests/chapters/test_claims_chNN.py``; each tag has
  its test and each such test its tag.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import pytest

from minigpt.workspace.course import CHAPTER_GLOB

HERE = Path(__file__).resolve().parent
CHAPTERS = sorted((HERE.parents[1] / "chapters").glob(CHAPTER_GLOB))
CLAIM_TAG = re.compile(r"<!--\s*claim:\s*([\w.\-]+)\s*-->")
CHECK_CALL = re.compile(r"""check\(\s*["'](ch\d\d)\.(\w+)["']""")
NOT_SECTIONS = ("summary", "setup", "further reading", "what next", "what's next", "references")


def cells(path: Path) -> list:
    return jupytext.read(path).cells


def sections(path: Path) -> list[tuple[str, list]]:
    """``(heading, cells)`` for every ``## `` section of a chapter."""
    out: list[tuple[str, list]] = []
    for cell in cells(path):
        heading = re.search(r"^## (.+)$", cell.source, re.M) if cell.cell_type == "markdown" else None
        if heading:
            out.append((heading.group(1).strip(), []))
        if out:
            out[-1][1].append(cell)
    return out


def is_prediction(cell) -> bool:
    return cell.cell_type == "markdown" and "**Predict" in cell.source and "<details>" in cell.source


def teaching_sections(path: Path) -> list[tuple[str, list]]:
    """Sections with code in them, less the summary and set-up ones."""
    return [(title, body) for title, body in sections(path)
            if any(c.cell_type == "code" for c in body)
            and not any(word in title.lower() for word in NOT_SECTIONS)]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_section_asks_for_two_predictions_with_hidden_answers(path):
    short = {title: sum(map(is_prediction, body)) for title, body in teaching_sections(path)}
    short = {title: n for title, n in short.items() if n < 2}
    assert not short, f"{path.name}: sections with fewer than two **Predict** questions in <details>: {short}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_check_is_stated_just_before_it(path):
    from minigpt.grading import get_exercise

    missing = []
    last_markdown = ""
    for cell in cells(path):
        if cell.cell_type == "markdown":
            last_markdown = cell.source
            continue
        for chapter, exercise in CHECK_CALL.findall(cell.source):
            name = get_exercise(f"{chapter}.{exercise}").name
            text = last_markdown.lower()
            has_signature = re.search(rf"`{re.escape(name)}\(", last_markdown) is not None
            says_return = "return" in text or "→" in last_markdown
            has_example = "e.g." in text or "example" in text or ">>>" in last_markdown
            if not (has_signature and says_return and has_example):
                missing.append(f"{chapter}.{exercise} (signature {has_signature}, returns {says_return}, "
                               f"example {has_example})")
    assert not missing, f"{path.name}: checks without a statement (the Markdown cell before them): {missing}"


def claim_tags() -> dict[str, Path]:
    tags: dict[str, Path] = {}
    for path in CHAPTERS:
        for cell in cells(path):
            if cell.cell_type == "markdown":
                for tag in CLAIM_TAG.findall(cell.source):
                    assert tag not in tags, f"claim {tag} is tagged twice"
                    tags[tag] = path
    return tags


def claim_tests() -> dict[str, str]:
    """``claim id -> test`` for every test in tests/chapters/ marked ``pytest.mark.claim(ID)``."""
    found: dict[str, str] = {}
    for path in sorted(HERE.glob("test_claims_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            for deco in node.decorator_list:
                if (isinstance(deco, ast.Call) and ast.unparse(deco.func) == "pytest.mark.claim"
                        and deco.args and isinstance(deco.args[0], ast.Constant)):
                    found[deco.args[0].value] = f"{path.name}::{node.name}"
    return found


def test_every_tagged_claim_is_asserted_by_a_test_and_every_claim_test_is_tagged():
    tags, tests = claim_tags(), claim_tests()
    untested = sorted(set(tags) - set(tests))
    untagged = sorted(set(tests) - set(tags))
    assert not untested, f"claims tagged in a chapter with no test marked pytest.mark.claim: {untested}"
    assert not untagged, f"claim tests whose id no chapter tags: {[tests[t] for t in untagged]}"
    for tag, path in tags.items():
        assert path.name.startswith(tag[2:4]) and tag.startswith("ch"), f"claim {tag} is tagged in {path.name}"


def test_model_view_is_used_in_a_chapter():
    assert any("model_view(" in c.source for path in CHAPTERS for c in cells(path) if c.cell_type == "code")
