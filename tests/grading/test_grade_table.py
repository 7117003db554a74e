"""``minigpt grade``'s table fits the terminal: lines break between words, never inside one."""

from __future__ import annotations

import re

from minigpt.cli import main
from minigpt.grading.check import CheckResult
from minigpt.grading.grade import GradeReport

LONG_WORD = "/home/learner/course/exercises/ch01_transformer_with_a_very_long_name.py:123"  # unbreakable
RESULTS = [
    CheckResult("ch01.layer_norm", "fail", 0.0, 2.0,
                "case 2 of 3 differs from the reference: max abs difference 0.031 at index (0, 3, 17); "
                "the output has the right shape [2, 5, 64] and dtype float32",
                diagnosis="the variance is the unbiased one (torch.var's default, divides by n - 1); "
                          "layer norm divides by n, so pass unbiased=False or use mean of squares"),
    CheckResult("ch03.k_composition_scores_with_a_long_name", "error", 0.0, 1.0,
                f"importing your file raised NameError in {LONG_WORD}: name 'einsum' is not defined"),
    CheckResult("ch01.embed", "pass", 1.0, 1.0, "all 3 cases match"),
]


def words_of(text: str) -> list[str]:
    return text.split()


def assert_fits(table: str, width: int, results: list[CheckResult] = RESULTS) -> None:
    for line in table.splitlines():
        assert len(line) <= width or len(line.split()) == 1 or LONG_WORD in line, (len(line), line)
    out_words = words_of(table)
    for r in results:  # every word of every message shows whole, in order
        expected = words_of(r.message) + (["likely", "mistake:"] + words_of(r.diagnosis) if r.diagnosis else [])
        start = out_words.index(r.id) + 2  # after the id and the score
        assert out_words[start: start + len(expected)] == expected


def test_table_wraps_between_words_at_80_columns():
    short = [RESULTS[0], RESULTS[2]]
    assert_fits(table := GradeReport("exercises", short, 1.5).table(width=80), 80, short)
    assert re.search(r"^FAIL +ch01\.layer_norm +0/2 +case 2 of 3", table, flags=re.M)  # beside its row
    # a long name leaves too little room beside the rows: each message goes under its row, indented less
    table = GradeReport("exercises", RESULTS, 1.5).table(width=80)
    assert_fits(table, 80)
    lines = table.splitlines()
    row = next(i for i, line in enumerate(lines) if "k_composition" in line)
    assert lines[row].endswith("0/1") and lines[row + 1].startswith("    importing your file")


def test_table_takes_the_width_from_COLUMNS(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert_fits(GradeReport("exercises", RESULTS, 1.5).table(), 80)
    monkeypatch.setenv("COLUMNS", "240")
    assert GradeReport("exercises", RESULTS, 1.5).table().splitlines()[2].endswith("float32")  # one line


def test_minigpt_grade_at_80_columns(toy, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    folder = toy.submission(tmp_path / "mine", **{"return x * 2": "return x * x"})
    assert main(["grade", "--path", str(folder), "--timeout", "10", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" in out and "squared" in out
    assert all(len(line) <= 80 or str(folder) in line for line in out.splitlines()), out
