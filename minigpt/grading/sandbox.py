"""Grading one exercise in a separate, confined process, and deciding the result in this one.

>>> from minigpt.grading.sandbox import Limits
>>> Limits().memory_mb, Limits().max_output_bytes
(1024, 1048576)

What runs where:

- **here** (trusted): make the seeded cases, write them as data into a private
  job directory with a copy of the student's files and the *source* of the
  reference versions of the exercise's dependencies; start the child; watch its
  wall time, resident memory and output; kill it and everything it started;
  read back its outputs as plain tensors and numbers (never a pickle); compare
  them with the reference and diagnose (:func:`minigpt.grading.check.grade_outputs`).
- **between** (:mod:`._wire`): cases and outputs as JSON trees and safetensors files.
- **there** (``minigpt/grading/_child.py``, forked from a fork server that has
  imported torch, or spawned as ``python -I _child.py JOB_DIR``; untrusted once
  the student's code is imported): import the student's file with ``solutions``
  and ``minigpt.grading`` blocked, run it on the cases, write the outputs. It
  cannot fake a pass: whatever it monkeypatches, prints or exits with, a pass
  needs the right numbers in the outputs file, checked here.

The limits: a wall-clock ``timeout_s`` counted from the moment the student's
code starts (Python and torch start-up is not charged to the student),
``RLIMIT_CPU`` as a backstop, ``memory_mb`` on top of what Python and torch
take (an ``RLIMIT_AS`` set in the child, and the resident memory of the whole
process tree polled from here), a cap on printed bytes, and ``RLIMIT_FSIZE``.
Where the kernel has Landlock, the child can read only what Python and torch
need (the interpreter, ``sys.path``, the system folders) and its own files, not
the reference solutions, the grader, the instructor's files or other students';
it can only write inside its job directory, open no TCP connection (Linux >= 6.7)
and signal no process outside its own tree (Linux >= 6.12).
Everything the child starts is killed when it ends: its session, its
descendants, and any process carrying its environment marker.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ._wire import BadOutputs, read_json, read_outputs, write_cases
from .check import CheckResult, grade_outputs
from .processes import ChildRun, child_env, supervise
from .reference import dependency_source
from .registry import Case, Exercise

BLOCKED = ["solutions", "minigpt.grading"]
MEMORY_WORDS = ("MemoryError", "can't allocate memory", "Cannot allocate memory", "out of memory", "bad_alloc")


@dataclass(frozen=True)
class Limits:
    timeout_s: float | None = None  # None: the exercise's own ``timeout_s``
    memory_mb: int = 1024  # on top of Python + torch (~250 MB resident)
    keep_output_bytes: int = 64 * 1024  # printed bytes kept (for messages)
    max_output_bytes: int = 1 << 20  # printing more than this kills the child
    startup_s: float = 120.0  # to import torch before the student's code runs (a cold disk is slow)
    threads: int = 1  # torch threads in the child
    landlock: bool = True  # confine reads, writes, TCP and signals where the kernel allows
    fork_server: bool = True  # fork children from a process that has imported torch (else spawn each)


# ---------------------------------------------------------------- the job directory


def blocked_folders(blocked: list[str] = BLOCKED) -> list[str]:
    """Where the ``blocked`` packages lie on disk: the child may not read them either (where Landlock is).

    The import blocker alone would not do: ``open("solutions/ch01_transformer.py").read()``
    needs no import.

    >>> [Path(p).name for p in blocked_folders(["minigpt.grading"])]
    ['grading']
    """
    folders = []
    for name in blocked:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None:
            folders += [str(p) for p in spec.submodule_search_locations or []] or ([spec.origin] if spec.origin else [])
    return folders



def copy_submission(folder: Path, work: Path, max_file: int = 5 << 20, max_total: int = 20 << 20) -> None:
    """Copy the folder's top-level ``.py`` files (regular files only, size-capped) into ``work``."""
    total = 0
    for src in sorted(folder.iterdir()):
        if src.suffix != ".py" or src.is_symlink() or not src.is_file():
            continue
        size = src.stat().st_size
        total += size
        if size > max_file or total > max_total:
            continue
        shutil.copyfile(src, work / src.name)


def prepare_job(ex: Exercise, folder: Path, cases: list[Case], limits: Limits, timeout: float,
                root: str | None = None) -> Path:
    job = Path(tempfile.mkdtemp(prefix=f"minigpt-grade-{ex.id}-", dir=root))
    try:
        _fill_job(job, ex, folder, cases, limits, timeout)
    except BaseException:
        remove_job(job)
        raise
    return job


def _fill_job(job: Path, ex: Exercise, folder: Path, cases: list[Case], limits: Limits, timeout: float) -> None:
    for sub in ("work", "out", "tmp"):
        (job / sub).mkdir()
    copy_submission(folder, job / "work")
    write_cases(job, cases)
    (job / "deps.py").write_text(dependency_source(ex))
    memory = limits.memory_mb << 20
    (job / "job.json").write_text(json.dumps({
        "file": ex.file, "module": Path(ex.file).stem, "name": ex.name, "kind": ex.kind,
        "n_cases": len(cases), "blocked": BLOCKED, "hidden": blocked_folders(), "threads": limits.threads, "landlock": limits.landlock,
        "env": child_env(job, limits.threads),
        "limits": {"cpu_s": int(limits.startup_s + timeout * limits.threads) + 10, "memory_bytes": memory,
                   "fsize_bytes": max(memory, 64 << 20), "import_as_bytes": memory + (64 << 30)},
    }))


def remove_job(job: Path) -> None:
    """Remove the job directory, even where the student's code took permissions away (links never followed)."""
    def fix(func, path, _):
        try:
            os.chmod(os.path.dirname(path), 0o700)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, 0o700)
            func(path)
        except OSError:
            pass

    for _ in range(2):  # a second pass for what an unreadable directory hid from the first
        if sys.version_info >= (3, 12):
            shutil.rmtree(job, onexc=fix)
        else:
            shutil.rmtree(job, onerror=fix)
        if not os.path.lexists(job):
            return


def run_child(job: Path, limits: Limits, timeout: float) -> ChildRun:
    """Run ``_child.py`` on ``job`` under the limits (see :mod:`.processes`); nothing of it survives."""
    return supervise(job, timeout=timeout, memory_bytes=limits.memory_mb << 20, keep_output=limits.keep_output_bytes,
                     max_output=limits.max_output_bytes, startup_s=limits.startup_s, threads=limits.threads,
                     fork_server=limits.fork_server)


# ---------------------------------------------------------------- the verdict


def _tail(raw: bytes, n: int = 300) -> str:
    text = raw.decode("utf-8", "replace").strip()
    return ("..." + text[-n:]) if len(text) > n else text


def _looks_like_memory(*texts: str) -> bool:
    return any(word in t for t in texts for word in MEMORY_WORDS)


def verdict(ex: Exercise, cases: list[Case], job: Path, run: ChildRun, limits: Limits, timeout: float) -> CheckResult:
    """Decide the result from what was observed here and the data the child left; never from its say-so."""
    def result(status: str, message: str) -> CheckResult:
        return CheckResult(ex.id, status, 0.0, ex.points, message, None, ex.hints)

    if run.killed == "timeout":
        return result("timeout", f"did not finish within {timeout:g} s (an infinite loop, or far too slow?)")
    if run.killed == "memory":
        return result("memory", f"used more than {limits.memory_mb} MB of memory (beyond what Python and torch "
                      "take); it was stopped")
    if run.killed == "output":
        return result("error", f"printed more than {limits.max_output_bytes / 2**20:g} MB of output, so it was "
                      "stopped (an output flood: print less, especially inside loops)")
    if run.killed == "startup":
        return result("timeout", f"grader error: the sandbox did not start within {limits.startup_s:g} s "
                      "(importing torch took too long; try again)")
    if run.killed == "server":
        return result("crash", "the fork server that started this exercise's process died before a result came "
                      "back (did the code kill its parent process?)")
    stderr = _tail(run.stderr)
    report = read_json(job / "out" / "report.json", 1 << 20)
    if not isinstance(report, dict):
        if run.returncode is not None and run.returncode < 0:
            try:
                sig = signal.Signals(-run.returncode).name
            except ValueError:
                sig = f"signal {-run.returncode}"
            why = {"SIGXCPU": " (it used up its CPU time limit)",
                   "SIGXFSZ": " (it wrote a file larger than the limit)",
                   "SIGSEGV": " (a segmentation fault)"}.get(sig, "")
            if sig in ("SIGKILL", "SIGABRT", "SIGSEGV") and _looks_like_memory(stderr):
                return result("memory", f"ran out of memory (killed by {sig})")
            return result("crash", f"the process was killed by {sig}{why} before returning any result"
                          + (f"; its stderr ended with: {stderr}" if stderr else ""))
        if _looks_like_memory(stderr):
            return result("memory", f"ran out of memory; its stderr ended with: {stderr}")
        return result("crash", f"the process exited (code {run.returncode}) before returning any result "
                      "(os._exit()? a crash?)" + (f"; its stderr ended with: {stderr}" if stderr else ""))
    event = report.get("event")
    text = lambda key, n=500: str(report.get(key, ""))[:n]  # noqa: E731
    stage = "importing your file: " if report.get("stage") in ("import", "dependencies") else ""
    if event == "not_implemented":
        return result("not_implemented", "not implemented yet" + (f" ({text('message', 200)})"
                                                                   if report.get("message") else ""))
    if event == "missing":
        names = report.get("names") if isinstance(report.get("names"), list) else []
        found = ", ".join(str(n)[:40] for n in names[:12])
        return result("error", f"{ex.file} defines no {ex.name!r} (check the name)"
                      + (f"; it defines: {found}" if found else ""))
    if event == "exit":
        where = f" ({text('where', 200)})" if report.get("where") else ""
        return result("error", f"{stage}called sys.exit({text('code', 60)}){where}: return a result instead "
                      "of exiting")
    if event == "exception":
        kind, message, where = text("type", 100), text("message"), text("where", 300)
        if kind == "MemoryError" or _looks_like_memory(message):
            asked = re.search(r"tried to allocate \d+ bytes", message)
            return result("memory", f"ran out of memory: {limits.memory_mb} MB are allowed beyond what Python and "
                          f"torch take ({kind}" + (f": {asked.group(0)})" if asked else ")"))
        return result("error", f"{stage}raised {kind}: {message}" + (f" ({where})" if where else ""))
    if event != "done":
        return result("crash", "the process left no usable report")
    try:
        outputs = read_outputs(job / "out", max(limits.memory_mb << 20, 64 << 20))
    except BadOutputs as exc:
        return result("crash", f"{exc}")
    if len(outputs) != len(cases):
        return result("crash", f"returned {len(outputs)} outputs for {len(cases)} cases")
    try:
        return grade_outputs(ex, cases, outputs)
    except Exception as exc:  # a comparison that chokes on a strange output is the output's fault
        return result("fail", f"the output could not be compared with the reference ({type(exc).__name__}: "
                      f"{str(exc)[:300]})")


def run_exercise(ex: Exercise, folder: str | Path, limits: Limits = Limits(), cases: list[Case] | None = None,
                 keep_job: bool = False) -> CheckResult:
    """Grade ``ex`` from the student's files in ``folder``, in a sandbox."""
    folder = Path(folder)
    if not (folder / ex.file).is_file():
        return CheckResult(ex.id, "error", 0.0, ex.points, f"file not found: {folder / ex.file}", None, ex.hints)
    timeout = limits.timeout_s if limits.timeout_s is not None else ex.timeout_s
    try:
        cases = ex.make_cases() if cases is None else cases
        job = prepare_job(ex, folder, cases, limits, timeout)
    except Exception as exc:  # the exercise's own definition is broken: say so, don't stop a batch
        return CheckResult(ex.id, "error", 0.0, ex.points, f"grader error: could not prepare the cases "
                           f"({type(exc).__name__}: {str(exc)[:300]})", None, ex.hints)
    try:
        run = run_child(job, limits, timeout)
        return verdict(ex, cases, job, run, limits, timeout)
    finally:
        if not keep_job:
            remove_job(job)
