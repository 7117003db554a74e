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
