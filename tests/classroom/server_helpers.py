"""The real classroom server for tests: uvicorn on a free loopback port, in a thread of the test process.

:func:`running_server` starts in ~0.1 s (the grading registry is imported already) and is stopped
by the test within a few seconds. Tests that kill a server or need it in its own process use
:class:`minigpt.classroom.process.ServerProcess` (``python -m minigpt.classroom.server --port 0``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass

import pytest

pytest.importorskip("starlette", reason="the classroom server needs starlette (pip install -e '.[classroom]')")
uvicorn = pytest.importorskip("uvicorn", reason="the classroom server needs uvicorn (pip install -e '.[classroom]')")

from minigpt.classroom.process import RoomURLs  # noqa: E402


@dataclass
class RunningServer(RoomURLs):
    base: str  # "http://127.0.0.1:PORT"
    code: str
    key: str
    room: object = None  # the app's minigpt.classroom.api.Classroom (its .store, .pool)


@contextlib.contextmanager
def running_server(db_path, timeout: float = 10.0, **settings):
    """A server on the room in ``db_path`` in a thread; ``settings``: :class:`minigpt.classroom.api.Settings` fields."""
    from minigpt.classroom.server import bind, create_app

    app = create_app(db_path, **settings)
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the classroom server did not start")
        time.sleep(0.01)
    store = app.state.classroom.store
    try:
        yield RunningServer(f"http://127.0.0.1:{sock.getsockname()[1]}", store.code, store.key, app.state.classroom)
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
