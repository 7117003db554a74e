"""A non-editable install carries the course: setup.py's build step copies chapters/ and exercises/ into the package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_built_package_starts_a_workspace_without_the_repository(tmp_path):
    src = tmp_path / "src"
    for name in ("minigpt", "solutions", "chapters", "exercises"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(REPO / name, src / name)
    lib = tmp_path / "lib"
    build = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(lib)], cwd=src,
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    shutil.rmtree(src)  # the installed copy must not need the sources

    course = lib / "minigpt" / "workspace" / "course"
    for folder, pattern in (("chapters", "[0-9][0-9]_*.py"), ("exercises", "ch[0-9][0-9]_*.py")):
        assert sorted(p.name for p in (course / folder).glob(pattern)) == \
            sorted(p.name for p in (REPO / folder).glob(pattern))
    env = {**os.environ, "PYTHONPATH": str(lib)}
    run = subprocess.run([sys.executable, "-c", "import minigpt, minigpt.cli; print(minigpt.__file__); "
                          "raise SystemExit(minigpt.cli.main(['start', 'ws']))"],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines()[0] == str(lib / "minigpt" / "__init__.py")
    for stub in (REPO / "exercises").glob("ch[0-9][0-9]_*.py"):
        assert (tmp_path / "ws" / "exercises" / stub.name).read_bytes() == stub.read_bytes()
    for chapter in (REPO / "chapters").glob("[0-9][0-9]_*.py"):
        assert (tmp_path / "ws" / f"{chapter.stem}.ipynb").is_file()
