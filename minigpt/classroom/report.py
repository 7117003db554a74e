"""Telling the room how each exercise went: every ``check()`` and ``minigpt grade`` result, in the background.

Once a workspace has joined a room (``minigpt classroom join``), :func:`report_results`
turns each :class:`~minigpt.grading.CheckResult` into six fields, and nothing else:

    {"id": "9f2c...", "exercise": "ch01.layer_norm", "status": "fail",
     "diagnosis_id": "eps-outside-sqrt", "diagnosis": "It looks like epsilon ...", "time": 1765000000.0}

(never the learner's code, nor the check's message, which quotes their file's path). The
result goes to the workspace's outbox (:mod:`minigpt.classroom.queue`) at once, and a daemon
thread posts the outbox to the server, with a short timeout, while the notebook goes on. A
server that is down, slow or refusing costs the notebook nothing: the results wait in the
outbox and go with the next report, ``minigpt classroom status``, or :func:`flush`. Each
result keeps its ``id`` until the server acknowledges it, and the server stores an id once, so
a result sent twice (a crash between the server's answer and the outbox's update) counts once.

>>> from minigpt.grading import CheckResult
>>> fields = result_payload(CheckResult("ch01.embed", "not_implemented", 0.0, 1.0, "not implemented yet"))
>>> sorted(fields), fields["status"]
(['diagnosis', 'diagnosis_id', 'exercise', 'id', 'status', 'time'], 'todo')
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from ._http import ServerRefused, ServerUnreachable, request
from .membership import load_membership, workspace_root
from .queue import REJECTED, Outbox

FIELDS = ("id", "exercise", "status", "diagnosis_id", "diagnosis", "time")
# The grader's statuses as the room counts them; timeout, memory and crash are errors (their kind is the diagnosis id).
ROOM_STATUS = {"pass": "pass", "fail": "fail", "not_implemented": "todo", "error": "error"}
BATCH_RESULTS, BATCH_BYTES = 100, 48_000  # the server takes up to 100 results and 64 KB per post
MAX_DIAGNOSIS = 1_000  # characters
BACKGROUND_TIMEOUT_S = 5.0  # per connection and per read, in the background thread


@dataclass
class Delivery:
    """What one :func:`flush` did."""

    sent: int  # acknowledged by the server now
    waiting: int  # still in the outbox
    rejected: int = 0  # refused by the server for good (kept in .minigpt/classroom-rejected.jsonl)
    error: str | None = None  # why sending stopped, if it did

    def line(self) -> str:
        text = f"{self.sent} result{'s' if self.sent != 1 else ''} sent, {self.waiting} waiting"
        text += f", {self.rejected} refused by the server" if self.rejected else ""
        return text + (f" ({self.error})" if self.error else "")


def result_payload(result: Any, now: float | None = None) -> dict:
    """The six fields the room sees of one check result; a fresh id makes it idempotent to resend."""
    status = result.status
    diagnosis = (result.diagnosis or "")[:MAX_DIAGNOSIS] or None
    return {"id": uuid.uuid4().hex, "exercise": result.id, "status": ROOM_STATUS.get(status, "error"),
            "diagnosis_id": _diagnosis_id(result) if diagnosis or status not in ROOM_STATUS else None,
            "diagnosis": diagnosis, "time": time.time() if now is None else now}


def _diagnosis_id(result: Any) -> str | None:
    """A registered mistake's name (``eps-outside-sqrt``), a generic family (``axis``), or the
    grader's status for a sandbox verdict without a diagnosis (``timeout``, ``memory``, ``crash``)."""
    family = getattr(result, "family", None)
    if family == "mutant":
        from ..grading import get_exercise

        try:
            return next((m.name for m in get_exercise(result.id).mutants if m.diagnosis == result.diagnosis), family)
        except KeyError:
            return family
    return family or (result.status if result.status not in ROOM_STATUS else None)


def report_results(results: Iterable[Any], start: str | os.PathLike | None = None,
                   wait: float | None = None) -> threading.Thread | None:
    """Queue ``results`` for the room this workspace joined and send them in the background.

    Does nothing outside a workspace or before ``minigpt classroom join``; never raises and never
    waits on the network, unless ``wait`` (seconds) asks to wait that long for the send (a
    command that exits next). Returns the sending thread, or None when nothing is sent.
    """
    try:
        root = workspace_root(start)
        if root is None or load_membership(root) is None:
            return None
        Outbox(root).append([result_payload(r) for r in results])
        thread = _send_in_background(root)
        if wait:
            thread.join(wait)
        return thread
    except Exception:  # noqa: BLE001 (a notebook's check must never fail because of the room)
        return None


def flush(root: str | os.PathLike, timeout: float = BACKGROUND_TIMEOUT_S, wait_s: float = 0.0) -> Delivery:
    """Post the outbox to the server now, batch by batch, until it is empty or the server stops answering.

    ``timeout``: seconds per connection and read; ``wait_s``: how long to wait for another sender
    (a notebook's background thread) to finish first; by default none: it is sending them.
    """
    outbox, membership = Outbox(root), load_membership(root)
    if membership is None:
        return Delivery(0, len(outbox), error="this workspace has not joined a room")
    with outbox.sending(wait_s) as mine:
        if not mine:
            return Delivery(0, len(outbox), error="another process is sending them now")
        sent = rejected = 0
        tried: set[str] = set()  # each result is posted once per flush; results added meanwhile go too
        while pending := [r for r in outbox.pending() if r.get("id") not in tried]:
            for batch in _batches(pending):
                tried |= {r.get("id") for r in batch}
                try:
                    acked, refused = _post(membership, batch, timeout)
                except (ServerUnreachable, ServerRefused) as exc:
                    return Delivery(sent, len(outbox), rejected, _why(exc))
                Outbox(root, REJECTED).append(refused)
                outbox.remove(acked | {r["id"] for r in refused})
                sent, rejected = sent + len(acked), rejected + len(refused)
        waiting = len(outbox)
        return Delivery(sent, waiting, rejected, "the server did not acknowledge all of them" if waiting else None)


def _why(exc: Exception) -> str:
    if isinstance(exc, ServerRefused) and exc.status in (401, 403):
        return f"{exc} (the room does not know this learner any more: `minigpt classroom leave`, then join again)"
    return str(exc)


def _batches(results: list[dict]) -> Iterator[list[dict]]:
    """Runs of at most BATCH_RESULTS results and BATCH_BYTES of JSON."""
    batch, size = [], 0
    for result in results:
        length = len(json.dumps(result, ensure_ascii=False).encode("utf-8")) + 2
        if batch and (len(batch) == BATCH_RESULTS or size + length > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(result)
        size += length
    if batch:
        yield batch


def _post(membership, batch: list[dict], timeout: float) -> tuple[set[str], list[dict]]:
    """``(acknowledged ids, refused results)`` of one post. The server refuses a batch as a whole
    (400, 422) when a result in it can never be stored (an exercise it does not know): those it names
    in ``rejected`` are set aside and the rest posted again; without that list, one result at a time.
    Other refusals (401, 403, 429, 5xx) are raised: the results wait for the next try."""
    try:
        reply = request("POST", membership.url("/api/results"), {"results": [{k: r.get(k) for k in FIELDS}
                                                                            for r in batch]},
                        secret=membership.secret, timeout=timeout)
    except ServerRefused as exc:
        if exc.status not in (400, 422):
            raise
        why = _rejected(exc, batch)
        if len(batch) == 1:
            return set(), [{**batch[0], "refused": why.get(batch[0]["id"], str(exc))}]
        bad = [{**r, "refused": why[r["id"]]} for r in batch if r["id"] in why]
        if not bad:  # the server did not say which: one at a time finds them
            parts = [_post(membership, [r], timeout) for r in batch]
            return set().union(*(acked for acked, _ in parts)), [r for _, refused in parts for r in refused]
        rest = [r for r in batch if r["id"] not in why]
        acked, refused = _post(membership, rest, timeout) if rest else (set(), [])
        return acked, bad + refused
    acked = reply.get("acked") if isinstance(reply, dict) else None
    return {r["id"] for r in batch} & set(acked or []), []


def _rejected(exc: ServerRefused, batch: list[dict]) -> dict[str, str]:
    """Result id -> the server's reason, from a refusal's ``{"rejected": [{"index", "id", "error"}, ...]}``."""
    why = {}
    for item in exc.reply.get("rejected") or []:
        if not isinstance(item, dict):
            continue
        index = item.get("index")
        result_id = item.get("id") or (batch[index]["id"] if isinstance(index, int) and 0 <= index < len(batch)
                                       else None)
        if result_id is not None:
            why[str(result_id)] = str(item.get("error") or exc)
    return why


_senders: dict[str, dict] = {}  # workspace -> {"again": bool}: the one background sender of each workspace
_senders_guard = threading.Lock()
if hasattr(os, "register_at_fork"):  # a forked child (a DataLoader worker) has none of its parent's threads
    os.register_at_fork(after_in_child=_senders.clear)


def _send_in_background(root: Path) -> threading.Thread:
    """Start the workspace's sender thread, or ask the running one to go round once more."""
    key = str(root)
    with _senders_guard:
        state = _senders.get(key)
        if state is not None:
            state["again"] = True
            return state["thread"]
        state = _senders[key] = {"again": False}
        state["thread"] = thread = threading.Thread(target=_sender, args=(root, key, state), daemon=True,
                                                    name="minigpt-classroom")
        thread.start()
        return thread


def _sender(root: Path, key: str, state: dict) -> None:
    while True:
        try:
            flush(root, BACKGROUND_TIMEOUT_S)
        except Exception:  # noqa: BLE001 (a background thread has nobody to tell; the outbox keeps the results)
            pass
        with _senders_guard:
            if not state["again"]:
                del _senders[key]
                return
            state["again"] = False
