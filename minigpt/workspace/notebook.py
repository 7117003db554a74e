"""The glue between a chapter notebook and the learner's exercise files.

A learner's code lives in one place: ``exercises/chNN_*.py`` in their
workspace. A chapter imports that file, checks each piece right after it is
introduced, and uses the learner's own pieces later on, falling back to the
reference (with a note) while a piece is not done yet::

    from minigpt.workspace import load_exercises, mine_or_reference
    ex = load_exercises("ch01_transformer")      # exercises/ch01_transformer.py, re-read on change
    check("ch01.layer_norm", ex.layer_norm)
    layer_norm = mine_or_reference("ch01.layer_norm", ex.layer_norm)

Where the file is: in ``$MINIGPT_EXERCISES`` if set (CI points it at
``solutions/``), else in the first ``exercises/`` folder in the working
directory or one of its parents (a course workspace). A notebook opened alone
(Colab, a course site, an empty folder) uses ``<stem>.py`` next to itself, in
its working directory: the learner's own if it is there, else a copy of the
course's stub written there once, never over an existing file.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ENV = "MINIGPT_EXERCISES"


def exercises_folder(start: str | os.PathLike | None = None) -> Path:
    """The folder of the learner's exercise files in a course workspace."""
    folder = _workspace_folder(start)
    if folder is None:
        here = Path(start or os.getcwd()).resolve()
        raise FileNotFoundError(
            f"found no exercises/ folder in {here} or its parents: open the notebook from your course workspace "
            f"(make one with `minigpt start DIR`), or set ${ENV} to the folder of your exercise files")
    return folder


def _workspace_folder(start: str | os.PathLike | None = None) -> Path | None:
    if os.environ.get(ENV):
        folder = Path(os.environ[ENV]).expanduser().resolve()
        if not folder.is_dir():
            raise FileNotFoundError(f"${ENV} is {os.environ[ENV]!r}, which is not a folder")
        return folder
    here = Path(start or os.getcwd()).resolve()
    return next((folder / "exercises" for folder in (here, *here.parents) if (folder / "exercises").is_dir()), None)


def exercise_file(stem: str, start: str | os.PathLike | None = None) -> Path:
    """The learner's ``<stem>.py``: in the workspace's ``exercises/``, or, outside a workspace, next to the
    notebook (``start``, default the working directory), written there from the course's stub the first time."""
    folder = _workspace_folder(start)
    if folder is not None:
        return folder / f"{stem}.py"
    path = Path(start or os.getcwd()).resolve() / f"{stem}.py"
    try:
        stub = None if path.exists() else _course_stub(stem)
        with open(path, "xb") as f:  # exclusive: a file already there is the learner's, never overwritten
            f.write(stub)
    except FileExistsError:
        print(f"Your exercise file: {path} (next to this notebook; no course workspace here).")
    else:
        print(f"Wrote your exercise file {path} (next to this notebook; no course workspace here): "
              "write your code in it and save, and the checks below re-read it.")
    return path


def _course_stub(stem: str) -> bytes:
    from .course import course_source

    stub = course_source().exercises_dir / f"{stem}.py"
    if not stub.is_file():
        raise FileNotFoundError(f"this minigpt has no exercise file {stub.name} (looked in {stub.parent}): "
                                "update minigpt to the version this notebook was made with")
    return stub.read_bytes()


def load_exercises(stem: str, folder: str | os.PathLike | None = None) -> ModuleType:
    """Import the learner's ``<stem>.py`` (e.g. ``ch01_transformer``) as the module ``exercises.<stem>``.

    The file is ``<folder>/<stem>.py`` when ``folder`` is given, else :func:`exercise_file`'s. Importing
    it again re-reads the file, so an edit shows up on the next run of the cell; with ``%autoreload 2``
    on (see :func:`setup_notebook`) it shows up without re-running the import.
    """
    path = Path(folder).resolve() / f"{stem}.py" if folder else exercise_file(stem)
    if not path.is_file():
        raise FileNotFoundError(f"no exercise file {path}: run `minigpt start` in your workspace to add it")
    name = f"exercises.{stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in the learner's folder
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.dont_write_bytecode = writes_bytecode
    return module


def mine_or_reference(exercise_id: str, impl: Any, quiet: bool = False) -> Any:
    """``impl`` when it passes the exercise's check, else the reference, with a one-line note why."""
    from ..grading import check, get_exercise
    from ..grading.reference import reference

    result = check(exercise_id, impl)
    if result.status == "pass":
        return impl
    if not quiet:
        why = "not written yet" if result.status == "not_implemented" else f"its check says {result.status}"
        print(f"note: using the reference {get_exercise(exercise_id).name} below ({exercise_id} is {why}).")
    return reference(get_exercise(exercise_id))


def setup_notebook() -> None:
    """Turn on ``%autoreload 2`` (edits to exercise files take effect at once) and inline figures."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    shell.run_line_magic("load_ext", "autoreload")
    shell.run_line_magic("autoreload", "2")
    shell.run_line_magic("matplotlib", "inline")
