"""JSON over HTTP with the standard library only (a notebook needs no extra package to report).

Every failure becomes a :class:`ClassroomError` whose message a learner can act on:
:class:`ServerUnreachable` when no answer came (refused, timed out, a wrong host), and
:class:`ServerRefused` when the server answered with an error status (it carries the status
and the server's own message).
"""

from __future__ import annotations

import json
import socket
from typing import Any


class ClassroomError(Exception):
    """Something a learner or instructor should read: what went wrong and what to do."""


class ServerUnreachable(ClassroomError):
    """No answer from the server (nothing listening, a wrong address, a timeout)."""


class ServerRefused(ClassroomError):
    """The server answered with an error status (``status``: 401, 404, 422, 429, ...)."""

    def __init__(self, message: str, status: int, retry_after: float | None = None, reply: dict | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.reply = reply or {}  # the server's JSON answer (a 422 lists the results it rejected)


def request(method: str, url: str, body: Any = None, secret: str | None = None, timeout: float = 5.0) -> Any:
    """Send ``body`` as JSON (``Authorization: Bearer secret`` when given) and return the JSON reply.

    ``timeout`` bounds the connection and each read, so a server that accepts and never
    answers costs at most about that long.
    """
    import http.client
    import urllib.error
    import urllib.request  # here, not at the top: importing the package costs a notebook nothing

    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers["Content-Type"] = "application/json"
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            raw = reply.read()
    except urllib.error.HTTPError as exc:
        raise _refused(exc, method, url) from None
    except (urllib.error.URLError, OSError, socket.timeout, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServerUnreachable(f"no answer from {url} ({reason})") from None
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        raise ServerRefused(f"{method} {url} answered with something that is not JSON: is this a minigpt "
                            "classroom server?", 502) from None


def _refused(exc, method: str, url: str) -> ServerRefused:
    """The server's own message (its JSON ``error``, else the body's start) with the status."""
    try:
        raw = exc.read()
    except OSError:
        raw = b""
    detail, reply = raw.decode("utf-8", errors="replace").strip()[:300], None
    try:
        reply = json.loads(raw)
    except ValueError:
        pass
    if isinstance(reply, dict):
        detail = str(reply.get("error") or reply.get("detail") or reply.get("message") or detail)
    else:
        reply = None
    retry = exc.headers.get("Retry-After") if exc.headers else None
    try:
        retry_after = float(retry) if retry else None
    except ValueError:
        retry_after = None
    return ServerRefused(f"{method} {url}: {exc.code} {exc.reason}" + (f": {detail}" if detail else ""),
                         exc.code, retry_after, reply)
