"""A classroom server in a child process, its URLs read from the two lines it prints (as a script does).

Used by the tests that kill a server (SIGKILL) and restart it, and by ``benchmarks/classroom.py``,
so that the server has a process, and a CPU, of its own.

>>> found = LINES.search("join: http://127.0.0.1:5/join/AbC\\ninstructor: http://127.0.0.1:5/room/AbC?key=K\\n")
>>> found["base"], found["code"], found["key"]
('http://127.0.0.1:5', 'AbC', 'K')
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LINES = re.compile(r"join: (?P<base>https?://[^/\s]+)/join/(?P<code>\S+)\n"
                   r"instructor: (?P=base)/room/(?P=code)\?key=(?P<key>\S+)\n")


class RoomURLs:
    """The URLs of a running room, from its ``base`` (``http://HOST:PORT``), ``code`` and ``key``."""

    base: str
    code: str
    key: str

    @property
    def join_url(self) -> str:
        return f"{self.base}/join/{self.code}"

    @property
    def instructor_url(self) -> str:
        return f"{self.base}/room/{self.code}?key={self.key}"

    def api(self, path: str) -> str:
        """The URL of ``path`` (``/api/summary?key=...``) on this server."""
        return self.base + path


class ServerProcess(RoomURLs):
    """``python -m minigpt.classroom.server --db DB --port 0 ARGS``, started and ready (it printed its URLs)."""

    def __init__(self, db_path: str | Path, *args: str, timeout: float = 60.0):
        self.stderr = tempfile.TemporaryFile("w+")  # a file, not a pipe: nothing the server writes can block it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "minigpt.classroom.server", "--db", str(db_path), "--port", "0", *args],
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self.stderr, text=True)
        self.printed = ""
        deadline = time.monotonic() + timeout
        while not (found := LINES.search(self.printed)):
            line = self.proc.stdout.readline()
            if (not line and self.proc.poll() is not None) or time.monotonic() > deadline:
                self.stop(signal.SIGKILL)
                raise RuntimeError(f"the classroom server did not start: it printed {self.printed!r}; its stderr "
                                   f"ended with {self.error_output()[-2000:]!r}")
            self.printed += line
        self.base, self.code, self.key = found["base"], found["code"], found["key"]
        self.pid = self.proc.pid

    def error_output(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send ``sig`` (SIGTERM: a clean stop; SIGKILL: a crash) and wait; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc.stdout.close()
        return code

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        self.stderr.close()
