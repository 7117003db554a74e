"""The `minigpt` command and the main job."""

from __future__ import annotations

import torch

from minigpt.cli import main
from minigpt.demo import run_demo, stdlib_text


def test_kernels_command_lists_every_kernel(capsys):
    assert main(["kernels"]) == 0
    out = capsys.readouterr().out
    for name in ("naive", "sdpa", "online"):
        assert name in out
    assert "available" in out


def test_demo_trains_and_generates_consistently(capsys):
    result = run_demo(steps=40, new_tokens=16)
    out = capsys.readouterr().out
    assert result["same"] and "identical tokens: True" in out
    assert result["losses"][-1] < result["losses"][0] - 1.0  # it learned something about bytes
    assert "attention kernels:" in out and "sampled continuation" in out


def test_stdlib_text_is_python_source():
    text = stdlib_text(50_000)
    assert len(text) >= 50_000 and "def " in text and "import " in text
    assert torch.tensor(list(text.encode("utf-8"))).max() < 256


def test_the_course_commands_are_listed(capsys):
    import re

    import pytest

    with pytest.raises(SystemExit):
        main(["--help"])
    commands = re.search(r"\{([\w,-]+)\}", capsys.readouterr().out).group(1).split(",")
    assert {"start", "doctor", "chapters"} <= set(commands)


def test_every_command_is_a_plugin_and_each_is_handled_once():
    import importlib
    import re

    from minigpt.cli import PLUGINS, build_parser

    handled = [name for plugin in PLUGINS for name in importlib.import_module(plugin).COMMANDS]
    listed = re.search(r"\{([\w,-]+)\}", build_parser().format_help()).group(1).split(",")
    assert handled == listed  # same commands, same order, none twice
    assert listed[:4] == ["demo", "kernels", "grade", "exercises"]


def test_exercises_list_prints_the_registry_counts(capsys):
    from minigpt.grading import all_exercises

    assert main(["exercises", "list"]) == 0
    out = capsys.readouterr().out
    for chapter in sorted({ex.chapter for ex in all_exercises()}):
        mine = [ex for ex in all_exercises() if ex.chapter == chapter]
        mistakes = sum(len(ex.mutants) for ex in mine)
        assert f"chapter {chapter}: {len(mine)} exercises, {mistakes} diagnosed mistakes" in out
    assert "ch01.layer_norm" in out


def test_readme_exercise_counts_are_the_registry_s():
    import re
    from pathlib import Path

    from minigpt.grading import all_exercises

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    chapters = sorted({ex.chapter for ex in all_exercises()})
    counts = {c: (sum(ex.chapter == c for ex in all_exercises()),
                  sum(len(ex.mutants) for ex in all_exercises() if ex.chapter == c)) for c in chapters}
    said = re.search(r"Chapter 1 has (\d+)\s+exercises.*?\((\d+) of them\); chapters 2–(\d+) have ([\d,\sand]+?)\s+"
                     r"more, with ([\d,\sand]+?)\s+mistakes", readme, re.S)
    assert said, "the README's sentence on exercise counts changed: update this test with it"
    numbers = [[int(n) for n in re.findall(r"\d+", group)] for group in said.group(4, 5)]
    assert int(said.group(3)) == chapters[-1], "the README's sentence must cover every chapter"
    said_counts = {1: (int(said.group(1)), int(said.group(2)))}
    said_counts.update({c: (n, m) for c, n, m in zip(range(2, chapters[-1] + 1), *numbers)})
    assert said_counts == counts
