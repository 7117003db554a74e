"""The outbox: results waiting to reach the classroom server, kept in the workspace so none is lost.

A result goes to disk first, then to the server. ``.minigpt/classroom-outbox.jsonl`` holds one
JSON result per line; a line leaves the file only once the server has acknowledged its ``id``.
Several processes may write at once (a notebook kernel, ``minigpt grade``, a second notebook):

- **append**: under an exclusive lock on ``classroom-outbox.lock``, one ``write`` of whole lines
  to the end of the file, then ``fsync``: a crash loses at most the line being written, never
  an earlier one (and the next append ends a line a crash cut short before writing its own);
- **remove** (after an acknowledgement): under the same lock, read the file, drop the
  acknowledged ids, write the rest to a temporary file, ``fsync`` and rename it over the
  outbox. An appender that waited for the lock writes to the new file, because the lock lives
  in its own file, not in the outbox that the rename replaces;
- **sending** is a second lock (``classroom-send.lock``), taken without waiting: one sender at a
  time across processes, so a result is not posted twice by two processes at once, and nobody
  waits on the network while holding the outbox lock (a hung server never blocks an append).

>>> import tempfile
>>> outbox = Outbox(tempfile.mkdtemp())
>>> outbox.append([{"id": "a", "exercise": "ch01.embed"}, {"id": "b", "exercise": "ch01.embed"}])
>>> outbox.remove({"a"})
>>> [r["id"] for r in outbox.pending()]
['b']
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; the process-local locks below still order this process's threads
    fcntl = None

STATE_DIR = ".minigpt"
OUTBOX, OUTBOX_LOCK, SEND_LOCK = "classroom-outbox.jsonl", "classroom-outbox.lock", "classroom-send.lock"
REJECTED = "classroom-rejected.jsonl"  # results the server refused for good (see minigpt.classroom.report)
_THREAD_LOCKS: dict[str, threading.Lock] = {}  # flock orders processes; these order one process's threads
_THREAD_LOCKS_GUARD = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(str(path), threading.Lock())


@contextmanager
def file_lock(path: Path, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (made if missing); yields False, holding nothing, when
    ``wait`` is False and another thread or process holds it."""
    local = _thread_lock(path)
    if not local.acquire(blocking=wait):
        yield False
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
                except BlockingIOError:
                    yield False
                    return
            yield True
        finally:
            os.close(fd)  # closing the descriptor releases the flock
    finally:
        local.release()


class Outbox:
    """The results of one workspace not yet acknowledged by the server, in the order they were made."""

    def __init__(self, root: str | os.PathLike, name: str = OUTBOX):
        self.dir = Path(root) / STATE_DIR
        self.path = self.dir / name

    def append(self, results: list[dict]) -> None:
        """Add results (JSON objects with an ``id``) to the end of the outbox, durably."""
        if not results:
            return
        data = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in results)
        self.dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self.dir / OUTBOX_LOCK):
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and os.lseek(fd, size - 1, os.SEEK_SET) >= 0 and os.read(fd, 1) != b"\n":
                    data = "\n" + data  # a line cut short by a crash: end it first (O_APPEND writes at the end)
                os.write(fd, data.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)

    def pending(self) -> list[dict]:
        """Every result waiting, oldest first, once per id (a torn last line is skipped)."""
        if not self.path.is_file():
            return []
        with file_lock(self.dir / OUTBOX_LOCK):
            return self._read()

    def _read(self) -> list[dict]:
        results, seen = [], set()
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        for line in text.splitlines():
            try:
                result = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash mid-write
            if isinstance(result, dict) and result.get("id") not in seen:
                seen.add(result.get("id"))
                results.append(result)
        return results

    def remove(self, ids: set[str]) -> None:
        """Drop the results whose id is in ``ids`` (those the server acknowledged)."""
        if not ids or not self.path.is_file():
            return
        with file_lock(self.dir / OUTBOX_LOCK):
            keep = [r for r in self._read() if r.get("id") not in ids]
            if not keep:
                self.path.unlink(missing_ok=True)
                return
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(fd, "w", encoding="utf-8") as f:
                f.writelines(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in keep)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)

    def clear(self) -> int:
        """Drop every waiting result; returns how many there were."""
        if not self.path.is_file():
            return 0
        with file_lock(self.dir / OUTBOX_LOCK):
            count = len(self._read())
            self.path.unlink(missing_ok=True)
        return count

    def __len__(self) -> int:
        return len(self.pending())

    @contextmanager
    def sending(self, wait_s: float = 0.0) -> Iterator[bool]:
        """True while this caller is the one sender of this outbox; False if another still is after
        ``wait_s`` seconds (by default, at once)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait_s
        while True:
            with file_lock(self.dir / SEND_LOCK, wait=False) as mine:
                if mine or time.monotonic() >= deadline:
                    yield mine
                    return
            time.sleep(0.05)
