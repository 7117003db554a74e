"""Confinement of the grader's sandboxed child: resource limits, an import blocker, Landlock, clean-up.

Loaded by :mod:`minigpt.grading._child` (by its file path inside the sandbox), so it imports
only the standard library. What each piece does, in the order the child applies them:

- :func:`set_limits`: CPU seconds, file size, no core dumps, and a loose address-space cap
  while torch is imported; :func:`tighten_memory` then caps the address space at what the
  process maps plus the exercise's budget.
- :func:`block_imports`: the reference solutions and the grader cannot be imported.
- :func:`become_subreaper`: orphans of the student's code stay in our tree, so
  :func:`kill_descendants` finds and kills them at the end.
- :func:`landlock` (Linux >= 5.13): reads only where Python, torch and the student's own
  files are (:func:`python_roots` and :data:`SYSTEM_DIRS`, less the ``hidden`` folders: the
  reference solutions and the grader, through :func:`read_rules`); writes only in the job's
  work and tmp folders; no TCP (Linux >= 6.7); no signals to processes outside the sandbox
  (Linux >= 6.12). So the student's code cannot read the instructor's files, the other
  students' submissions or a classroom's database, even as plain text.
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


# Landlock's filesystem access rights (linux/landlock.h); the write rights are bits 4-12 (REMOVE_*, MAKE_*)
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR, REFER, TRUNCATE = 1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 13, 1 << 14
READS = EXECUTE | READ_FILE | READ_DIR
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE  # the rights a rule on a non-directory may carry
# what the C library, Python's start-up, torch and a subprocess read (where present), less shared memory
SYSTEM_DIRS = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/opt", "/proc", "/sys", "/dev")
SYSTEM_HIDDEN = ("/dev/shm", "/dev/mqueue")


def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers (0: none)."""
    import ctypes

    if not sys.platform.startswith("linux"):  # the syscall numbers below are Linux's
        return 0
    try:
        return max(0, ctypes.CDLL(None, use_errno=True).syscall(444, None, 0, 1))
    except Exception:
        return 0


def python_roots() -> list[str]:
    """The folders this interpreter reads to go on importing: ``sys.path``, the prefixes, loaded packages.

    A package loaded from outside ``sys.path`` (an editable install's ``minigpt``) counts
    as its own folder only, not the folder beside it (where ``solutions/`` lives).
    """
    roots = [p for p in sys.path if os.path.isabs(p)]
    roots += [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    for name, module in list(sys.modules.items()):
        top = sys.modules.get(name.partition(".")[0])
        paths = list(getattr(top, "__path__", None) or [])
        file = getattr(module, "__file__", None)
        if not paths and isinstance(file, str):
            paths = [os.path.dirname(file)]
        roots += [p for p in paths if isinstance(p, str) and os.path.isabs(p)]
    return sorted(set(roots))


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def read_rules(roots: list[str], hidden: list[str]) -> list[tuple[str, int]]:
    """``(path, rights)`` rules to read everything under ``roots`` except what lies under ``hidden``.

    Landlock grants a path the rights of every rule on it or above it, and cannot take a
    right away beneath. So a root with a hidden folder somewhere beneath it gets ``READ_DIR``
    only (it can be listed, its files not read), and each of its entries becomes a root in
    turn, the hidden one left out. Entries that are symbolic links get no rule of their own
    (Landlock judges the file a link leads to by where that file is). Paths are resolved
    (``os.path.realpath``); missing ones are skipped.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as top:
    ...     for sub in ("minigpt", "solutions", "minigpt/grading", "minigpt/model"):
    ...         os.mkdir(os.path.join(top, sub))
    ...     rules = read_rules([top], [os.path.join(top, "solutions"), os.path.join(top, "minigpt/grading")])
    ...     print([(os.path.relpath(p, os.path.realpath(top)), {READS: "read", READ_DIR: "list"}[r])
    ...            for p, r in rules])
    [('.', 'list'), ('minigpt', 'list'), ('minigpt/model', 'read')]
    """
    hidden = [os.path.realpath(h) for h in hidden]
    rules: list[tuple[str, int]] = []

    def add(real: str) -> None:  # ``real``: a resolved path
        if any(_within(real, h) for h in hidden):
            return
        if not any(_within(h, real) for h in hidden):
            rules.append((real, READS))
            return
        rules.append((real, READ_DIR))
        try:
            with os.scandir(real) as entries:
                inside = sorted(e.path for e in entries if not e.is_symlink())
        except OSError:
            return
        for path in inside:
            add(path)

    outermost: list[str] = []
    for root in sorted({os.path.realpath(r) for r in roots if os.path.exists(r)}, key=lambda p: p.split(os.sep)):
        if not (outermost and _within(root, outermost[-1])):  # sorted by parts: a folder comes before its insides
            outermost.append(root)
    for root in outermost:
        add(root)
    return rules


def landlock(writable: list[str], readable: list[str] | None = None, hidden: list[str] = ()) -> bool:
    """Best effort (Linux >= 5.13): reads under ``readable`` (less ``hidden``) and writes under ``writable``
    only, no TCP (ABI 4), no signals to the outside (ABI 6).

    ``readable=None`` leaves reads unrestricted. Returns whether the kernel accepted the rules.
    """
    import ctypes
    import stat

    if landlock_abi() < 1:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        abi = libc.syscall(444, None, 0, 1)  # landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
        if abi < 1:
            return False
        writes = WRITE_FILE | sum(1 << i for i in range(4, 13))  # WRITE_FILE, REMOVE_*, MAKE_*
        if abi >= 2:
            writes |= REFER
        if abi >= 3:
            writes |= TRUNCATE
        reads = READS if readable is not None else 0

        class Attr(ctypes.Structure):
            _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

        class Beneath(ctypes.Structure):
            _pack_ = 1
            _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]

        attr = Attr(writes | reads, 0b11 if abi >= 4 else 0, 0b11 if abi >= 6 else 0)
        size = 24 if abi >= 6 else 16 if abi >= 4 else 8
        ruleset = libc.syscall(444, ctypes.byref(attr), size, 0)
        if ruleset < 0:
            return False
        rules = [(path, writes | reads) for path in writable]
        rules.append(("/dev/null", (WRITE_FILE | READ_FILE | TRUNCATE) & (writes | reads)))
        if readable is not None:
            rules += read_rules(list(readable) + list(SYSTEM_DIRS), list(hidden) + list(SYSTEM_HIDDEN))
        for path, allowed in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:  # gone since it was listed
                continue
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                allowed &= FILE_RIGHTS
            rule = Beneath(allowed, fd)
            ok = libc.syscall(445, ruleset, 1, ctypes.byref(rule), 0) if allowed else 0  # RULE_PATH_BENEATH
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
