"""Which room this workspace has joined: ``.minigpt/classroom.json``, readable by its owner only.

The file holds the server's address, the room code, the learner's id and name, and the
per-learner secret the server issued at ``minigpt classroom join``. The secret is what lets
results be posted as this learner, so the file is written with mode 600 (owner read/write)
through a temporary file that has that mode from its creation on.

The workspace is the folder ``minigpt start`` made: the one holding ``exercises/``, found
as the notebooks find it (:func:`minigpt.workspace.notebook.exercises_folder`).

>>> parse_join_url("http://127.0.0.1:8765/join/AbC123")
('http://127.0.0.1:8765', 'AbC123')
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .queue import STATE_DIR

MEMBERSHIP = Path(STATE_DIR) / "classroom.json"
_JOIN_PATH = re.compile(r"^(?P<base>https?://[^/?#\s]+)(?P<prefix>(?:/[^/?#\s]+)*?)/join/(?P<code>[A-Za-z0-9_-]+)/?$")


@dataclass
class Membership:
    server: str  # "http://HOST:PORT": where results and submissions go
    room: str  # the room code of the join URL
    learner_id: str
    name: str
    secret: str  # the bearer token the server issued to this learner
    joined: float  # unix seconds
    submissions: list[str] = field(default_factory=list)  # ids of this learner's uploads, oldest first

    def url(self, path: str) -> str:
        return self.server + path


def parse_join_url(url: str) -> tuple[str, str]:
    """``(server, room code)`` of a join URL ``http://HOST:PORT/join/CODE``, as ``minigpt classroom serve`` prints it."""
    match = _JOIN_PATH.match(url.strip())
    if not match:
        raise ValueError(f"{url!r} is not a join URL: it looks like http://HOST:PORT/join/CODE "
                         "(the 'join:' line `minigpt classroom serve` printed; ask your instructor)")
    return match["base"] + match["prefix"], match["code"]


def workspace_root(start: str | os.PathLike | None = None) -> Path | None:
    """The course workspace around ``start`` (default: the working directory), or None outside one."""
    from ..workspace.notebook import exercises_folder

    try:
        return exercises_folder(start).parent
    except FileNotFoundError:
        return None


def require_workspace(start: str | os.PathLike | None = None) -> Path:
    root = workspace_root(start)
    if root is None:
        here = Path(start or os.getcwd()).resolve()
        raise FileNotFoundError(
            f"{here} is not inside a course workspace (no exercises/ folder here or above): go to your "
            "workspace first (make one with `minigpt start course`, then cd course)")
    return root


def load_membership(root: str | os.PathLike) -> Membership | None:
    """The room ``root`` has joined, or None (never joined, left, or the file is damaged)."""
    path = Path(root) / MEMBERSHIP
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
        return Membership(**{name: value for name, value in fields.items() if name in Membership.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_membership(root: str | os.PathLike, membership: Membership) -> Path:
    """Write ``.minigpt/classroom.json`` with mode 600; it is never readable by others, even for a moment."""
    path = Path(root) / MEMBERSHIP
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if hasattr(os, "fchmod"):  # O_CREAT's mode went through the umask, which may have taken owner bits
            os.fchmod(fd, 0o600)
        os.write(fd, (json.dumps(asdict(membership), indent=1) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def remove_membership(root: str | os.PathLike) -> bool:
    """Forget the room (and its secret); False when there was none."""
    path = Path(root) / MEMBERSHIP
    existed = path.is_file()
    path.unlink(missing_ok=True)
    return existed


def new_membership(server: str, room: str, reply: dict, name: str) -> Membership:
    """The membership of the server's reply to ``POST /api/join/CODE``."""
    try:
        return Membership(server=server, room=str(reply.get("room") or room), learner_id=str(reply["learner_id"]),
                          name=name, secret=str(reply["secret"]), joined=time.time())
    except (KeyError, AttributeError, TypeError):
        raise ValueError(f"the server at {server} answered the join without a learner id and secret "
                         f"({str(reply)[:200]}): is it a minigpt classroom server?") from None
