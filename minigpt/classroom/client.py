"""A learner's side of the live classroom: join a room, leave it, submit, and ask how it stands.

    minigpt classroom join http://10.0.0.5:8765/join/AbC123 --name "Ada"   # in the workspace
    ... every check() and `minigpt grade` now reports to the room (minigpt.classroom.report) ...
    minigpt classroom submit          # uploads exercises/ch*_*.py after naming them
    minigpt classroom leave

Only the standard library talks to the server, so a notebook needs no extra package; the
server itself is the optional extra ``minigpt-interp[classroom]``.

Leaving drops the results still waiting in the outbox (after one last try to send them):
they can only be sent with the secret that leaving deletes, and keeping them would post them
to whatever room the workspace joins next. The learner's work is untouched, and the next
``check()`` or ``minigpt grade`` makes fresh results.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ._http import ClassroomError, ServerRefused, ServerUnreachable, request
from .membership import (Membership, load_membership, new_membership, parse_join_url, remove_membership,
                         require_workspace, save_membership)
from .queue import Outbox
from .report import BACKGROUND_TIMEOUT_S, Delivery, flush

MAX_NAME = 80  # characters, as the server takes them
MAX_UPLOAD = 5 * 1024 * 1024  # bytes of JSON, the server's limit
DONE = ("done", "failed")  # a submission's final statuses


@dataclass
class Left:
    """What :func:`leave` did."""

    membership: Membership | None  # the room left (None: the workspace had joined none)
    sent: int  # results delivered by the last try
    dropped: int  # results that were still waiting, now dropped


def join(url: str, name: str, start: str | os.PathLike | None = None, timeout: float = 10.0) -> Membership:
    """Join the room of ``url`` (``http://HOST:PORT/join/CODE``) as ``name``; the secret goes to
    ``.minigpt/classroom.json`` (mode 600) in the workspace around ``start`` (default: here)."""
    server, code = parse_join_url(url)
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise ValueError(f"a name has 1 to {MAX_NAME} characters (got {len(name)})")
    root = require_workspace(start)
    current = load_membership(root)
    if current is not None:
        raise ClassroomError(f"this workspace has already joined room {current.room} at {current.server} as "
                             f"{current.name!r}: run `minigpt classroom leave` first")
    try:
        reply = request("POST", f"{server}/api/join/{code}", {"name": name}, timeout=timeout)
    except ServerUnreachable as exc:
        raise ServerUnreachable(f"could not reach the classroom server at {server}: is it running, and is the URL "
                                f"the 'join:' line `minigpt classroom serve` printed? ({exc})") from None
    except ServerRefused as exc:
        if exc.status == 404:
            raise ServerRefused(f"the server at {server} has no room {code!r}: check the join URL ({exc})",
                                404) from None
        raise
    membership = new_membership(server, code, reply if isinstance(reply, dict) else {}, name)
    Outbox(root).clear()  # only results from now on go to this room
    save_membership(root, membership)
    return membership


def joined(start: str | os.PathLike | None = None) -> tuple[Path, Membership]:
    """The workspace around ``start`` and the room it has joined; a clear error when it has joined none."""
    root = require_workspace(start)
    membership = load_membership(root)
    if membership is None:
        raise ClassroomError(f"the workspace {root} has not joined a room: run `minigpt classroom join URL "
                             "--name NAME` with the join URL your instructor gives")
    return root, membership


def leave(start: str | os.PathLike | None = None, timeout: float = BACKGROUND_TIMEOUT_S) -> Left:
    """Stop reporting: one last try to send what waits, then drop the rest and delete the secret."""
    root = require_workspace(start)
    membership = load_membership(root)
    sent = flush(root, timeout, wait_s=2 * timeout).sent if membership is not None else 0
    dropped = Outbox(root).clear()
    remove_membership(root)
    return Left(membership, sent, dropped)


def status(start: str | os.PathLike | None = None, timeout: float = BACKGROUND_TIMEOUT_S) -> tuple[Membership, Delivery]:
    """The room joined, and what a send of the waiting results did now."""
    root, membership = joined(start)
    return membership, flush(root, timeout, wait_s=2 * timeout)


def exercise_files(start: str | os.PathLike | None = None) -> list[Path]:
    """The learner's exercise files: ``exercises/ch*_*.py`` of the workspace."""
    from ..workspace.notebook import exercises_folder

    return sorted(exercises_folder(require_workspace(start)).glob("ch[0-9][0-9]_*.py"))


def submit(files: list[Path], start: str | os.PathLike | None = None, timeout: float = 30.0) -> str:
    """Upload ``files`` (exercise files) to the room for grading; returns the submission id."""
    root, membership = joined(start)
    if not files:
        raise ClassroomError("no exercise files to submit (exercises/ch*_*.py): run `minigpt start` in the workspace")
    body = {"files": {Path(p).name: Path(p).read_text(encoding="utf-8") for p in files}}
    size = sum(len(source.encode("utf-8")) for source in body["files"].values())
    if size > MAX_UPLOAD:
        raise ClassroomError(f"the files hold {size / 2**20:.1f} MB; the server takes at most "
                             f"{MAX_UPLOAD / 2**20:.0f} MB: remove large data you pasted into them")
    reply = request("POST", membership.url("/api/submit"), body, secret=membership.secret, timeout=timeout)
    if not isinstance(reply, dict) or "submission_id" not in reply:
        raise ClassroomError(f"the server took the upload but gave no submission id ({str(reply)[:200]})")
    membership.submissions.append(str(reply["submission_id"]))
    save_membership(root, membership)  # `minigpt classroom status` shows the latest one's grade
    return str(reply["submission_id"])


def submission(submission_id: str, start: str | os.PathLike | None = None, timeout: float = 10.0) -> dict:
    """How a submission stands: ``{"status": "queued"|"grading"|"done"|"failed", "score": ..., "results": ...}``."""
    _, membership = joined(start)
    return request("GET", membership.url(f"/api/submission/{submission_id}"), secret=membership.secret,
                   timeout=timeout)


def wait_for_grade(submission_id: str, start: str | os.PathLike | None = None, timeout_s: float = 600.0,
                   poll_s: float = 0.5, max_poll_s: float = 5.0,
                   on_poll: Callable[[dict], None] | None = None) -> dict:
    """Ask until the submission is graded (or failed), first after ``poll_s`` seconds, then twice as long
    each time up to ``max_poll_s``; TimeoutError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = submission(submission_id, start)
        if on_poll is not None:
            on_poll(state)
        if state.get("status") in DONE:
            return state
        if time.monotonic() + poll_s > deadline:
            raise TimeoutError(f"submission {submission_id} is still {state.get('status')!r} after {timeout_s:g} s: "
                               "`minigpt classroom status` shows it when it is done")
        time.sleep(poll_s)
        poll_s = min(2 * poll_s, max_poll_s)
