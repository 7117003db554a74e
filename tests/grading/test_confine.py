"""Landlock's read rules: a tree minus its hidden folders, checked by the kernel itself.

The hostile submissions of ``test_sandbox.py`` check the whole sandbox; here a plain
subprocess confines itself with :func:`minigpt.grading._confine.landlock` on a small tree
laid out like an installed ``site-packages`` (where a wheel puts ``solutions/`` beside
``minigpt/``), and says what it could read.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from minigpt.grading import _confine
from minigpt.grading._confine import READ_DIR, READS, landlock_abi, read_rules

TREE = ["site/torch/__init__.py", "site/six.py", "site/solutions/ch01_transformer.py",
        "site/minigpt/model.py", "site/minigpt/grading/reference.py", "site/minigpt/grading/exercises/ch01.py",
        "home/room.sqlite", "job/work/mine.py"]


@pytest.fixture
def tree(tmp_path):
    for name in TREE:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    return tmp_path


def test_read_rules_list_the_ancestors_of_a_hidden_folder_and_read_the_rest(tree):
    hidden = [tree / "site/solutions", tree / "site/minigpt/grading"]
    rules = {str(Path(p).relative_to(tree)): r for p, r in read_rules([str(tree / "site")], [str(h) for h in hidden])}
    assert rules == {"site": READ_DIR, "site/minigpt": READ_DIR, "site/minigpt/model.py": READS,
                     "site/six.py": READS, "site/torch": READS}


def test_read_rules_drop_roots_inside_hidden_folders_and_nested_roots(tree):
    roots = [tree / "site/solutions", tree / "site", tree / "site/torch", tree / "job/work"]
    rules = read_rules([str(r) for r in roots], [str(tree / "site/solutions")])
    assert sorted(str(Path(p).relative_to(tree)) for p, r in rules if r == READS) == [
        "job/work", "site/minigpt", "site/six.py", "site/torch"]


CONFINED = """
import json, os, sys
sys.path.insert(0, {confine_dir!r})
import _confine
tree = {tree!r}
ok = _confine.landlock([tree + "/job/tmp"], [tree + "/site", tree + "/job/work"],
                       [tree + "/site/solutions", tree + "/site/minigpt/grading"])
seen = {{}}
for name in {names!r}:
    try:
        seen[name] = open(os.path.join(tree, name)).read() == name
    except PermissionError:
        seen[name] = False
try:
    seen["list site/solutions"] = os.listdir(tree + "/site/solutions") == ["ch01_transformer.py"]
except PermissionError:
    seen["list site/solutions"] = False
try:
    seen["list home"] = bool(os.listdir(tree + "/home"))
except PermissionError:
    seen["list home"] = False
print(json.dumps({{"ok": ok, "seen": seen}}))
"""


@pytest.mark.skipif(landlock_abi() < 1, reason="needs Landlock (Linux >= 5.13) to confine reads")
def test_the_kernel_lets_read_only_the_readable_tree(tree):
    (tree / "job/tmp").mkdir()
    code = CONFINED.format(confine_dir=str(Path(_confine.__file__).parent), tree=str(tree), names=TREE)
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True, timeout=60)
    got = json.loads(out.stdout)
    assert got["ok"]
    assert got["seen"] == {
        "site/torch/__init__.py": True, "site/six.py": True, "site/minigpt/model.py": True, "job/work/mine.py": True,
        "site/solutions/ch01_transformer.py": False, "site/minigpt/grading/reference.py": False,
        "site/minigpt/grading/exercises/ch01.py": False, "home/room.sqlite": False,
        "list site/solutions": True,  # its names, not its contents
        "list home": False}
