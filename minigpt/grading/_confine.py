"""Confinement of the grader's sandboxed child: resource limits, an import blocker, Landlock, clean-up.

Loaded by :mod:`minigpt.grading._child` (by its file path inside the sandbox), so it imports
only the standard library. What each piece does, in the order the child applies them:

- :func:`set_limits`: CPU seconds, file size, no core dumps, and a loose address-space cap
  while torch is imported; :func:`tighten_memory` then caps the address space at what the
  process maps plus the exercise's budget.
- :func:`block_imports`: the reference solutions and the grader cannot be imported.
- :func:`become_subreaper`: orphans of the student's code stay in our tree, so
  :func:`kill_descendants` finds and kills them at the end.
- :func:`landlock` (Linux >= 5.13): writes only in the job's work and tmp folders, no TCP,
  no signals to processes outside the sandbox.
"""

from __future__ import annotations

import os
import sys


def set_limits(limits: dict) -> None:
    """CPU seconds, file size, no core dumps, and address space (loose until torch is in)."""
    import resource

    def lower(which, soft):
        _, hard = resource.getrlimit(which)
        soft = int(soft)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):  # not every platform takes every limit (macOS and RLIMIT_AS)
            pass

    lower(resource.RLIMIT_CPU, limits["cpu_s"])
    lower(resource.RLIMIT_FSIZE, limits["fsize_bytes"])
    lower(resource.RLIMIT_CORE, 0)
    lower(resource.RLIMIT_AS, limits["import_as_bytes"])


def tighten_memory(memory_bytes: int) -> int:
    """Address space = what this process maps now (Python + torch) + the exercise's budget.

    Returns the resident memory now, the baseline the grader adds the budget to.
    """
    import resource

    try:
        with open("/proc/self/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:  # no /proc (macOS): the grader cannot poll memory there either
        return 0
    vm = int(status["VmSize"].split()[0]) * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (vm + memory_bytes, hard))
    return int(status["VmRSS"].split()[0]) * 1024


class Blocker:
    """A meta-path finder that refuses the reference solutions and the grader."""

    def __init__(self, blocked: list[str]):
        self.blocked = blocked

    def find_spec(self, name, path=None, target=None):
        for b in self.blocked:
            if name == b or name.startswith(b + "."):
                raise ModuleNotFoundError(f"import of {name!r} is blocked while grading: your code must not use "
                                          "the reference solutions or the grader", name=name)
        return None


def block_imports(blocked: list[str]) -> None:
    """Refuse imports of ``blocked`` packages from now on, and forget any already imported."""
    sys.meta_path.insert(0, Blocker(blocked))
    for name in list(sys.modules):
        if any(name == b or name.startswith(b + ".") for b in blocked):
            del sys.modules[name]


def become_subreaper() -> None:
    """Orphans of our descendants are re-parented to us, not to init: they stay ours to kill."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers (0: none)."""
    import ctypes

    if not sys.platform.startswith("linux"):  # the syscall numbers below are Linux's
        return 0
    try:
        return max(0, ctypes.CDLL(None, use_errno=True).syscall(444, None, 0, 1))
    except Exception:
        return 0


def landlock(writable: list[str]) -> bool:
    """Best effort (Linux >= 5.13): writes only under ``writable``, no TCP, no signals to the outside.

    Returns whether the kernel accepted the rules. Reads are not restricted.
    """
    import ctypes

    if landlock_abi() < 1:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        abi = libc.syscall(444, None, 0, 1)  # landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
        if abi < 1:
            return False
        writes = (1 << 1) | sum(1 << i for i in range(4, 13))  # WRITE_FILE, REMOVE_*, MAKE_*
        if abi >= 2:
            writes |= 1 << 13  # REFER
        if abi >= 3:
            writes |= 1 << 14  # TRUNCATE

        class Attr(ctypes.Structure):
            _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

        class Beneath(ctypes.Structure):
            _pack_ = 1
            _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]

        attr = Attr(writes, 0b11 if abi >= 4 else 0, 0b11 if abi >= 6 else 0)
        size = 24 if abi >= 6 else 16 if abi >= 4 else 8
        ruleset = libc.syscall(444, ctypes.byref(attr), size, 0)
        if ruleset < 0:
            return False
        rules = [(path, writes) for path in writable] + [("/dev/null", (1 << 1) | ((1 << 14) if abi >= 3 else 0))]
        for path, allowed in rules:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            rule = Beneath(allowed, fd)
            ok = libc.syscall(445, ruleset, 1, ctypes.byref(rule), 0)  # LANDLOCK_RULE_PATH_BENEATH
            os.close(fd)
            if ok != 0:
                os.close(ruleset)
                return False
        libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
        ok = libc.syscall(446, ruleset, 0)
        os.close(ruleset)
        return ok == 0
    except Exception:
        return False


def kill_descendants() -> None:
    """Kill what the student's code started (orphans are ours: this process is a subreaper)."""
    import signal

    me = os.getpid()
    if not os.path.isdir("/proc"):
        return
    for _ in range(3):
        children = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", "rb") as f:
                        stat = f.read()
                    children.setdefault(int(stat[stat.rindex(b")") + 2:].split()[1]), []).append(int(entry))
                except (OSError, ValueError, IndexError):
                    continue
        found, todo = [], list(children.get(me, []))
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in found:
            try:
                os.waitpid(pid, os.WNOHANG)
            except OSError:
                pass
