"""``minigpt autograder build``: a Gradescope autograder, one zip, that grades with minigpt's sandbox.

The zip holds, at its top, where Gradescope looks for them:

- ``setup.sh``: run once by Gradescope, as root, when it builds the autograder's image: Python
  (from apt where the image lacks it), torch's CPU build, then minigpt from the wheel in the zip,
  in a virtual environment ``/autograder/venv``; with a wheelhouse, everything offline from the
  wheels in ``wheelhouse/``;
- ``run_autograder``: run for every submission: ``minigpt autograder run`` grades
  ``/autograder/submission`` and writes ``/autograder/results/results.json``
  (:mod:`minigpt.grading.gradescope`);
- ``autograder.json``: what is graded and how (exercise ids, limits, visibility);
- ``minigpt_interp-<version>-py3-none-any.whl``: this minigpt, built from its repository,
  with the shipped checkpoints, the course material and the reference solutions.

>>> print(setup_script("minigpt_interp-0.1.0-py3-none-any.whl", "torch==2.13.0", offline=True).splitlines()[-2])
"$PY" -m pip install --no-index --find-links wheelhouse torch==2.13.0 ./minigpt_interp-0.1.0-py3-none-any.whl
"""

from __future__ import annotations

import importlib.util
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .gradescope import CONFIG, VISIBILITIES

WHEEL_PREFIX = "minigpt_interp-"  # the distribution minigpt-interp, as a wheel's file name spells it
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"  # for the generated setup.sh only
VENV = "$ROOT/venv"
SOURCES = ("minigpt", "solutions", "chapters", "exercises")  # what a wheel is built from (with the files below)
SOURCE_FILES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md")

SETUP_HEAD = f"""\
#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source, to build the autograder's image.
# Written by `minigpt autograder build`: Python, torch (CPU), then minigpt in {VENV}.
set -euo pipefail
cd "$(dirname "$0")"
ROOT="${{GRADESCOPE_ROOT:-/autograder}}"
if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-pip
fi
if ! python3 -c "import sys; sys.exit(sys.version_info < (3, 10))"; then
  echo "minigpt needs Python 3.10 or newer: pick Gradescope's Ubuntu 22.04 base image or a newer one" >&2
  exit 1
fi
python3 -m venv "{VENV}"
PY="{VENV}/bin/python"
"""
SETUP_TAIL = '''"$PY" -c "import minigpt, torch; print('minigpt', minigpt.__version__, 'torch', torch.__version__)"
'''

RUN_AUTOGRADER = f"""\
#!/usr/bin/env bash
# Gradescope runs this for every submission (from /autograder/run_autograder). Written by
# `minigpt autograder build`: grades /autograder/submission in minigpt's sandbox and writes
# /autograder/results/results.json. $GRADESCOPE_ROOT stands in for /autograder.
set -uo pipefail
ROOT="${{GRADESCOPE_ROOT:-/autograder}}"
PY="{VENV}/bin/python"
if [ ! -x "$PY" ]; then PY="$(command -v python3)"; fi
exec "$PY" -m minigpt.cli autograder run --root "$ROOT"
"""


@dataclass
class AutograderBuild:
    path: Path
    exercises: list[str]
    members: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def setup_script(wheel: str, torch: str, offline: bool) -> str:
    """``setup.sh``: installs ``torch`` (a pip requirement) and ``wheel``, from ``wheelhouse/`` when ``offline``."""
    if offline:
        install = [f'"$PY" -m pip install --no-index --find-links wheelhouse {shlex.quote(torch)} ./{wheel}']
    else:
        install = ['"$PY" -m pip install --quiet --upgrade pip',
                   f'"$PY" -m pip install {shlex.quote(torch)} --index-url {TORCH_CPU_INDEX}',
                   f'"$PY" -m pip install ./{wheel}']
    return SETUP_HEAD + "\n".join(install) + "\n" + SETUP_TAIL


def installed_torch() -> str:
    """The torch this minigpt runs on, as a requirement: ``torch==2.13.0`` (a local ``+cpu`` dropped)."""
    import torch

    return f"torch=={torch.__version__.split('+')[0]}"


def build_wheel(repository: Path, out: Path) -> Path:
    """A wheel of the minigpt in ``repository`` (built from a copy, so the repository is left as it was)."""
    with tempfile.TemporaryDirectory(prefix="minigpt-wheel-") as tmp:
        src = Path(tmp) / "src"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "resume.pt", ".*")
        for name in SOURCES:
            if (repository / name).is_dir():
                shutil.copytree(repository / name, src / name, ignore=ignore)
        for name in SOURCE_FILES:
            if (repository / name).is_file():
                shutil.copy(repository / name, src / name)
        isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
        run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "--quiet",
                              "--wheel-dir", str(out), str(src)], capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"building the minigpt wheel failed:\n{(run.stdout + run.stderr)[-3000:]}")
    wheels = sorted(out.glob(f"{WHEEL_PREFIX}*.whl"))
    if not wheels:
        raise RuntimeError(f"pip wheel made no {WHEEL_PREFIX}*.whl in {out}")
    return wheels[-1]


def minigpt_wheel(out: Path, wheelhouse: Path | None) -> tuple[Path, str]:
    """A wheel of this minigpt: built from the repository, else taken from ``wheelhouse``; and how."""
    from ..workspace.course import REPOSITORY

    if (REPOSITORY / "pyproject.toml").is_file() and (REPOSITORY / "minigpt").is_dir():
        return build_wheel(REPOSITORY, out), f"built from {REPOSITORY}"
    found = sorted(wheelhouse.glob(f"{WHEEL_PREFIX}*.whl")) if wheelhouse else []
    if found:
        return found[-1], f"taken from {wheelhouse}"
    raise FileNotFoundError(
        "this minigpt is not installed from its repository, so there is no source to build a wheel from: "
        f"put a wheel of minigpt-interp ({WHEEL_PREFIX}*.whl) in a folder and give it with --wheelhouse")


def build_autograder(out: str | Path, exercise_ids: list[str] | None = None, wheelhouse: str | Path | None = None,
                     torch: str | None = None, timeout: float | None = None, memory_mb: int | None = None,
                     visibility: str = "visible", jobs: int | None = None) -> AutograderBuild:
    """Write Gradescope's autograder zip to ``out`` (see the module docstring).

    ``exercise_ids``: ids or chapters (``ch01``), default every exercise; ``wheelhouse``: a folder of
    wheels (torch and minigpt's dependencies) to install from offline; ``torch``: the requirement to
    install (default: the version running here); ``timeout``, ``memory_mb``, ``jobs``: the grader's
    limits (default: each exercise's own, 1024 MB, the CPUs Gradescope gives); ``visibility``: when
    students see each test's result (one of Gradescope's ``VISIBILITIES``).
    """
    from .grade import select_exercises
    from .registry import all_exercises

    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility {visibility!r} is not one of Gradescope's: {', '.join(VISIBILITIES)}")
    wheelhouse = Path(wheelhouse) if wheelhouse else None
    if wheelhouse is not None and not wheelhouse.is_dir():
        raise FileNotFoundError(f"the wheelhouse {wheelhouse} is not a folder")
    exercises = select_exercises(".", exercise_ids) if exercise_ids else all_exercises()
    build = AutograderBuild(Path(out), [ex.id for ex in exercises])
    config = {"exercises": build.exercises, "timeout": timeout, "memory_mb": memory_mb, "jobs": jobs,
              "visibility": visibility, "about": "written by `minigpt autograder build`; read by run_autograder"}
    with tempfile.TemporaryDirectory(prefix="minigpt-autograder-") as tmp:
        wheel, how = minigpt_wheel(Path(tmp), wheelhouse)
        build.notes.append(f"minigpt: {wheel.name}, {how}")
        others = [p for p in sorted(wheelhouse.glob("*.whl")) if not p.name.startswith(WHEEL_PREFIX)] \
            if wheelhouse else []
        if wheelhouse is not None:
            build.notes.append(f"offline install: {len(others)} wheels from {wheelhouse}")
        scripts = {"setup.sh": setup_script(wheel.name, torch or installed_torch(), offline=wheelhouse is not None),
                   "run_autograder": RUN_AUTOGRADER}
        build.path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(build.path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, text in scripts.items():
                _add(zf, name, text, executable=True)
            _add(zf, CONFIG, json.dumps(config, indent=1) + "\n")
            zf.write(wheel, wheel.name)
            for other in others:
                zf.write(other, f"wheelhouse/{other.name}")
            build.members = zf.namelist()
    return build


def _add(zf: zipfile.ZipFile, name: str, text: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = (0o100755 if executable else 0o100644) << 16  # a regular file, its mode
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, text)
