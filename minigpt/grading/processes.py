"""Running one sandboxed child and watching it: time, memory, output; then killing all it started.

Two ways to start the child, one way to watch it:

- **spawn**: ``python -I _child.py JOB_DIR`` in a new session: simple, ~1 s of
  Python and torch start-up per exercise;
- **fork server** (the default): a *zygote* (``python -I _child.py --zygote FD``)
  imports torch once, then forks one child per job. The forked child confines
  itself exactly as a spawned one does (new session, limits, import blocker,
  Landlock) before it imports the student's file; the zygote is a subreaper,
  so nothing the child starts can leave its tree. One zygote serves one job at
  a time; a pool keeps one per concurrent job.

Everything a sandbox started is found by its session, its descendants (of
the zygote, or of the spawned child while it lives) and an environment marker,
and SIGKILLed.
"""

from __future__ import annotations

import atexit
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import _child
from .proc_tree import MARKER, kill_sandbox, pss_bytes, rss_bytes, sandbox_pids

CHILD_SCRIPT = Path(_child.__file__)


@dataclass
class ChildRun:
    """What the parent observed of one child process."""

    returncode: int | None = None
    killed: str | None = None  # "timeout" | "memory" | "output" | "startup" | "server" (the zygote died)
    stdout: bytes = b""
    stderr: bytes = b""
    output_bytes: int = 0
    seconds: float = 0.0  # wall time of the student's part
    ready: dict = field(default_factory=dict)
    peak_rss: int = 0


def child_env(job: Path, threads: int, token: str | None = None) -> dict[str, str]:
    """A small environment (no secrets of the grader's): temp dirs in the job, no GPU, few threads."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(job / "tmp"),
           "TMPDIR": str(job / "tmp"), "CUDA_VISIBLE_DEVICES": "", "MALLOC_ARENA_MAX": "2",
           **{v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}
    if token:
        env[MARKER] = token
    if "LD_LIBRARY_PATH" in os.environ:
        env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    return env


class Drain(threading.Thread):
    """Read a pipe to the end: keep the first ``keep`` bytes, count the rest."""

    def __init__(self, fd: int, keep: int):
        super().__init__(daemon=True)
        self.fd, self.keep, self.head, self.count = fd, keep, bytearray(), 0
        self.start()

    def run(self) -> None:
        try:
            while chunk := os.read(self.fd, 65536):
                self.count += len(chunk)
                if len(self.head) < self.keep:
                    self.head += chunk[: self.keep - len(self.head)]
        except OSError:
            pass
        finally:
            os.close(self.fd)


# ---------------------------------------------------------------- starting the child


class Spawned:
    """``python -I _child.py JOB`` in its own session."""

    def __init__(self, job: Path, threads: int):
        self.token = uuid.uuid4().hex
        self.keep: frozenset[int] = frozenset()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            self.proc = subprocess.Popen([sys.executable, "-I", str(CHILD_SCRIPT), str(job)], cwd=job / "work",
                                         env=child_env(job, threads, self.token), stdin=subprocess.DEVNULL,
                                         stdout=out_w, stderr=err_w, start_new_session=True, close_fds=True)
        except BaseException:
            for fd in (out_r, err_r):
                os.close(fd)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        self.pid, self.out_fd, self.err_fd = self.proc.pid, out_r, err_r

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def finish(self) -> int | None:
        kill_sandbox(self.pid, self.token)
        return self.proc.wait()


class Zygote:
    """A process that has imported torch and forks a confined child per job (one job at a time)."""

    def __init__(self):
        self.token = uuid.uuid4().hex
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        self.proc = subprocess.Popen([sys.executable, "-I", str(CHILD_SCRIPT), "--zygote", str(theirs.fileno())],
                                     env=child_env(Path(tempfile.gettempdir()), 1, self.token),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     pass_fds=[theirs.fileno()], start_new_session=True, cwd="/")
        theirs.close()
        self.keep = frozenset({self.proc.pid})
        self.pid: int | None = None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def launch(self, job: Path, startup_s: float) -> None:
        """Ask for a child on ``job``; its stdout and stderr come back on pipes."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            socket.send_fds(self.sock, [str(job).encode()], [out_w, err_w])
        finally:
            os.close(out_w)
            os.close(err_w)
        self.out_fd, self.err_fd = out_r, err_r
        reply = self._receive(timeout=startup_s)  # a new zygote answers once torch is imported
        if not reply.startswith(b"pid "):
            os.close(out_r)
            os.close(err_r)
            raise RuntimeError(f"the fork server did not start the job ({reply[:100]!r})")
        self.pid = int(reply.split()[1])

    def _receive(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return b""
        try:
            return self.sock.recv(256) or b"closed"
        except OSError:
            return b"closed"

    def wait(self, timeout: float) -> int | None:
        reply = self._receive(timeout)
        if reply.startswith(b"exit "):
            self.returncode = int(reply.split()[1])
            return self.returncode
        if reply == b"closed":  # the zygote died (killed from inside?): the job's exit status is lost
            raise ZygoteLost
        return None

    def finish(self) -> int | None:
        """Kill what is left of the job; its exit status, if the zygote is still there to say it."""
        kill_sandbox(self.pid, self.token, self.keep)
        code, self.returncode = getattr(self, "returncode", None), None
        for _ in range(20):
            if code is not None or not self.alive():
                break
            try:
                code = self.wait(0.5)
            except ZygoteLost:
                break
        if code is None:  # the zygote is gone or stuck: never reuse it
            self.close()
        return code

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            if self.proc.poll() is None:
                kill_sandbox(self.proc.pid, self.token)
                self.proc.wait()


class ZygoteLost(Exception):
    pass


class ZygotePool:
    """Idle zygotes, one per concurrent job; closed when the interpreter exits."""

    def __init__(self):
        self.idle: list[Zygote] = []
        self.lock = threading.Lock()
        self.owner = os.getpid()
        atexit.register(self.close)

    def get(self) -> Zygote:
        with self.lock:
            if os.getpid() != self.owner:  # a forked copy of the grader: those zygotes are not ours to use
                self.idle, self.owner = [], os.getpid()
            while self.idle:
                z = self.idle.pop()
                if z.alive():
                    return z
                z.close()
        return Zygote()

    def put(self, z: Zygote) -> None:
        if z.alive():
            with self.lock:
                self.idle.append(z)
        else:
            z.close()

    def close(self) -> None:
        with self.lock:
            idle, self.idle = (self.idle, []) if os.getpid() == self.owner else ([], [])
        for z in idle:
            z.close()


POOL = ZygotePool()


# ---------------------------------------------------------------- watching


def supervise(job: Path, *, timeout: float, memory_bytes: int, keep_output: int, max_output: int,
              startup_s: float, threads: int, fork_server: bool, poll_s: float = 0.02) -> ChildRun:
    """Run the child on ``job`` under the limits; always leaves no process of it behind."""
    zygote = None
    if fork_server:
        try:
            zygote = POOL.get()
            zygote.launch(job, startup_s)
        except (OSError, RuntimeError):  # no fork server here (or it failed to start): spawn instead
            if zygote is not None:
                zygote.close()
            zygote = None
    child = zygote if zygote is not None else Spawned(job, threads)
    run = ChildRun()
    out, err = Drain(child.out_fd, keep_output), Drain(child.err_fd, keep_output)
    start, ready_at, last_scan = time.monotonic(), None, 0.0
    try:
        while True:
            run.returncode = child.wait(poll_s)
            if run.returncode is not None:
                break
            now = time.monotonic()
            if ready_at is None and (job / "out" / "ready").exists():
                ready_at = now
                run.ready = _read_small_json(job / "out" / "ready") or {}
            rss_limit = int(run.ready.get("rss_bytes", 512 << 20)) + memory_bytes
            if now - last_scan > 0.25:  # the whole tree, now and then
                last_scan, rss = now, pss_bytes(sandbox_pids(child.pid, child.token, child.keep))
            else:
                rss = rss_bytes([child.pid])
            run.peak_rss = max(run.peak_rss, rss)
            if out.count + err.count > max_output:
                run.killed = "output"
            elif rss > rss_limit:
                run.killed = "memory"
            elif ready_at is None and now - start > startup_s:
                run.killed = "startup"
            elif ready_at is not None and now - ready_at > timeout:
                run.killed = "timeout"
            if run.killed:
                break
    except ZygoteLost:
        run.killed = "server"
    finally:
        code = child.finish()
        run.returncode = run.returncode if run.returncode is not None else code
        if zygote is not None:
            POOL.put(zygote)
        for drain in (out, err):
            drain.join(timeout=2.0)
    run.seconds = time.monotonic() - (ready_at or start)
    run.stdout, run.stderr, run.output_bytes = bytes(out.head), bytes(err.head), out.count + err.count
    return run


def _read_small_json(path: Path):
    import json

    try:
        return json.loads(path.read_bytes()[:4096])
    except (OSError, ValueError):
        return None
