"""Finding, measuring and killing every process of one sandbox (Linux ``/proc``; elsewhere sessions only).

A sandbox's processes are its session, the descendants of its root (and of
the zygote that forked it), and anything carrying its environment marker, so
a grandchild that escaped with ``setsid`` or a double fork is still found.
"""

from __future__ import annotations

import os
import signal
import time

MARKER = "MINIGPT_SANDBOX_ID"


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, session) for every visible process."""
    table = {}
    try:
        entries = os.listdir("/proc")
    except OSError:  # no /proc (macOS): sessions and process groups only
        return table
    for entry in entries:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
                fields = stat[stat.rindex(b")") + 2:].split()
                table[int(entry)] = (int(fields[1]), int(fields[3]))
            except (OSError, ValueError, IndexError):
                continue
    return table


def _has_marker(pid: int, tag: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return tag in f.read()
    except OSError:
        return False


def sandbox_pids(root: int, token: str, keep: frozenset[int] = frozenset()) -> set[int]:
    """Every process of one sandbox: ``root``'s session and descendants, and any carrying the marker.

    ``keep`` (the zygote) is searched from but never returned.
    """
    table = _proc_table()
    tag = f"{MARKER}={token}\0".encode()
    found = {pid for pid, (_, sid) in table.items() if sid == root}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    todo = [root, *keep, *found]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in found:
                found.add(c)
                todo.append(c)
    found |= {pid for pid in table if pid not in found and _has_marker(pid, tag)}
    if root in table:
        found.add(root)
    return found - keep - {os.getpid(), os.getppid()}


def kill_sandbox(root: int, token: str, keep: frozenset[int] = frozenset()) -> None:
    """SIGKILL the sandbox's whole tree, including what escaped with setsid or a double fork."""
    for _ in range(50):
        try:
            os.killpg(root, signal.SIGKILL)
        except OSError:
            pass
        live = False
        for pid in sandbox_pids(root, token, keep):
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    if f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                        continue
                os.kill(pid, signal.SIGKILL)
                live = True
            except (OSError, IndexError):
                continue
        if not live:
            return
        time.sleep(0.01)


def rss_bytes(pids) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    return total


def pss_bytes(pids) -> int:
    """Proportional set size of a process tree: a page shared by k processes counts 1/k in each.

    Summing plain RSS over a tree counts the pages a forked child shares with its parent
    twice (a fork of a process that imported torch "uses" another few hundred MB), so a
    harmless fork could look like a memory bomb. Falls back to RSS where smaps_rollup is missing.
    """
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("Pss:")) * 1024
        except (OSError, ValueError, IndexError, StopIteration):
            total += rss_bytes([pid])
    return total
