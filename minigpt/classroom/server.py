"""The classroom server: learners post their ``check()`` results, the instructor watches the room.

    python -m minigpt.classroom.server --db classroom.sqlite      # or: minigpt classroom serve

prints, once it is listening, the two lines a script can read::

    join: http://127.0.0.1:8765/join/CODE
    instructor: http://127.0.0.1:8765/room/CODE?key=KEY

A Starlette app under uvicorn, its state in one SQLite file (:mod:`.store`). The HTTP API
(JSON, UTF-8; every refusal is ``{"error": "..."}`` with a 4xx status):

==========================================  =====================================================
``POST /api/join/CODE`` ``{"name"}``        201 ``{"learner_id", "secret", "room"}``
``POST /api/results`` (Bearer secret)       ``{"results": [...]}`` -> ``{"stored", "acked"}``
``GET /api/me`` (Bearer)                    the learner's own results
``POST /api/submit`` (Bearer)               ``{"files": {name: source}}`` -> 202 ``{"submission_id"}``
``GET /api/submission/ID`` (Bearer)         its status, then its grade
``GET /room/CODE?key=KEY``                  the instructor's page (it polls /api/room every 2 s)
``GET /api/summary|room|export?key=KEY``    where the room is stuck; the grid; the grades as files
==========================================  =====================================================

Security: the learner is the one the secret names (a body cannot name another); learner
names are data, shown with ``textContent`` on a page whose Content-Security-Policy allows
only its own scripts; bodies are capped before they are read (64 KB, uploads 5 MB); every
learner has a rate limit; submissions are graded only in the sandbox (:mod:`.grading_pool`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import sys

import uvicorn
from starlette.applications import Starlette

from .api import ROUTES, Classroom, Settings, refused
from .bodies import BadRequest


def create_app(db_path, settings: Settings | None = None, **overrides) -> Starlette:
    """The classroom app on the room in ``db_path`` (made on first use); ``overrides``: :class:`Settings` fields."""
    settings = settings or Settings(**overrides)
    room = Classroom(db_path, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        room.pool.start()
        try:
            yield
        finally:
            await asyncio.to_thread(room.pool.stop)
            room.store.close()

    app = Starlette(routes=ROUTES, exception_handlers={BadRequest: refused}, lifespan=lifespan)
    app.state.classroom = room
    return app


# ---------------------------------------------------------------- serving


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (``127.0.0.1``, ``::1``, ``localhost``).

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """The host as a URL spells it: an address learners can reach for ``0.0.0.0``, brackets for IPv6."""
    if host in ("0.0.0.0", "::", ""):
        try:
            host = socket.gethostbyname(socket.gethostname())
        except OSError:
            host = socket.gethostname()
    return f"[{host}]" if ":" in host else host


class _Server(uvicorn.Server):
    """uvicorn's server that prints the two URLs once it listens (a script reads them from stdout)."""

    def __init__(self, config: uvicorn.Config, lines: list[str]):
        super().__init__(config)
        self.lines = lines

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            print("\n".join(self.lines), flush=True)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: any free port).

    ``IPPROTO_TCP`` is named, not left 0: asyncio turns Nagle's algorithm off (``TCP_NODELAY``)
    only on sockets whose ``proto`` says TCP, and with it on, every small reply waits ~40 ms
    for the client's delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port} ({exc.strerror}): is another server there? "
                      "Pick another --port, or 0 for any free one") from None
    sock.listen(1024)
    return sock


def serve(db_path, host: str = "127.0.0.1", port: int = 8765, allow_remote: bool = False,
          workers: int | None = None, **settings) -> None:
    """Serve the room in ``db_path`` until interrupted; print the join and instructor URLs once listening.

    ``settings``: :class:`~minigpt.classroom.api.Settings` fields (``exercises``, ``timeout_s``, ...).
    A host other than loopback needs ``allow_remote=True`` and gets a warning on stderr: the
    traffic is plain HTTP, and anyone who can reach the port and knows the code can join.
    """
    if not is_loopback(host):
        if not allow_remote:
            raise ValueError(f"{host} is reachable from other machines: pass --allow-remote (allow_remote=True) "
                             "to serve there, or keep the default 127.0.0.1")
        print(f"warning: serving on {host}: anyone who can reach port {port} and has the join URL can join, and "
              "the traffic is plain HTTP (use it on a workshop's own network)", file=sys.stderr, flush=True)
    app = create_app(db_path, workers=workers, **settings)
    sock = bind(host, port)
    room = app.state.classroom.store
    base = f"http://{url_host(host)}:{sock.getsockname()[1]}"
    lines = [f"join: {base}/join/{room.code}", f"instructor: {base}/room/{room.code}?key={room.key}"]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5)
    try:
        _Server(config, lines).run(sockets=[sock])
    finally:
        sock.close()


if __name__ == "__main__":
    from .serve_cli import main

    sys.exit(main())
