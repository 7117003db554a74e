"""The README's Python examples run as written, in order (those that need no downloaded weights)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples save files
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    runnable = [b for b in blocks if "from_pretrained(" not in b]  # those need GPT-2's weights cached
    assert len(runnable) >= 2
    namespace: dict = {}
    for i, code in enumerate(runnable):
        exec(compile(code, f"README.md example {i}", "exec"), namespace)
    from minigpt.attention import list_attention, unregister_attention

    assert (tmp_path / "heads.html").stat().st_size > 1000 and (tmp_path / "pattern.png").is_file()
    assert "mine" in list_attention()
    unregister_attention("mine")  # leave the registry as the other tests expect it


def test_readme_minigpt_commands_parse():
    """Every `minigpt ...` command the README shows is one the CLI accepts."""
    from minigpt.cli import build_parser

    text = README.read_text()
    commands = re.findall(r"`(minigpt [^`]+)`", text)
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            commands += [part.strip() for part in line.split("#")[0].split("&&") if part.strip().startswith("minigpt ")]
    assert "minigpt start course" in commands and "minigpt doctor" in commands
    for command in commands:
        build_parser().parse_args(command.split()[1:])
