"""The outbox: durable appends, removal by id, one sender at a time, and no loss under concurrent writers."""

from __future__ import annotations

import multiprocessing
import os
import stat
import threading

import pytest

from minigpt.classroom.queue import OUTBOX_LOCK, Outbox, file_lock


def results(prefix: str, n: int) -> list[dict]:
    return [{"id": f"{prefix}{i}", "exercise": "ch01.embed", "status": "pass"} for i in range(n)]


def test_append_pending_remove_in_order(tmp_path):
    outbox = Outbox(tmp_path)
    assert outbox.pending() == [] and len(outbox) == 0
    outbox.append(results("a", 3))
    outbox.append(results("b", 2))
    assert [r["id"] for r in outbox.pending()] == ["a0", "a1", "a2", "b0", "b1"]
    outbox.remove({"a1", "b0", "not-there"})
    assert [r["id"] for r in outbox.pending()] == ["a0", "a2", "b1"]
    assert stat.S_IMODE(os.stat(outbox.path).st_mode) == 0o600  # results name the learner's mistakes
    outbox.remove({"a0", "a2", "b1"})
    assert not outbox.path.exists() and len(outbox) == 0
    assert outbox.clear() == 0


def test_a_torn_line_and_a_repeated_id_are_read_once(tmp_path):
    outbox = Outbox(tmp_path)
    outbox.append(results("a", 2))
    with open(outbox.path, "a") as f:
        f.write('{"id": "a0", "exercise": "ch01.embed"}\n{"id": "cut sh')  # a crash in the middle of a write
    assert [r["id"] for r in outbox.pending()] == ["a0", "a1"]
    outbox.append(results("c", 1))  # after the torn line: still read
    assert [r["id"] for r in outbox.pending()] == ["a0", "a1", "c0"]
    assert outbox.clear() == 3 and outbox.pending() == []


def test_one_sender_at_a_time(tmp_path):
    outbox = Outbox(tmp_path)
    seen = []
    with outbox.sending() as first:
        thread = threading.Thread(target=lambda: seen.append(outbox.sending().__enter__()))
        thread.start()
        thread.join(5)
        assert first and seen == [False]  # another thread is refused at once, without waiting
    with outbox.sending() as again:
        assert again  # released


def test_a_held_outbox_lock_makes_appenders_wait_not_fail(tmp_path):
    outbox = Outbox(tmp_path)
    outbox.dir.mkdir()
    done = threading.Event()
    with file_lock(outbox.dir / OUTBOX_LOCK):
        thread = threading.Thread(target=lambda: (outbox.append(results("w", 1)), done.set()))
        thread.start()
        assert not done.wait(0.2)  # waits for the lock
    assert done.wait(5) and [r["id"] for r in outbox.pending()] == ["w0"]


def _writer(root: str, prefix: str, n: int) -> None:
    outbox = Outbox(root)
    for i in range(n):
        outbox.append(results(f"{prefix}-{i}-", 1))


def _remover(root: str, prefix: str, n: int) -> None:
    """Acknowledge (remove) the writer's results as they appear, while it still writes."""
    outbox, removed = Outbox(root), 0
    while removed < n:
        mine = {r["id"] for r in outbox.pending() if r["id"].startswith(prefix)}
        outbox.remove(mine)
        removed += len(mine)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="processes forked from this one")
def test_concurrent_processes_lose_nothing(tmp_path):
    """Four processes append while a fifth rewrites the file (removing acknowledged ids): every
    result that was not removed is there, once; the removed ones are gone."""
    ctx = multiprocessing.get_context("fork")
    n = 40
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), f"p{k}", n)) for k in range(4)]
    procs.append(ctx.Process(target=_remover, args=(str(tmp_path), "p0-", n)))
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    ids = [r["id"] for r in Outbox(tmp_path).pending()]
    raw = Outbox(tmp_path).path.read_text().splitlines()
    assert len(raw) == len(ids) == 3 * n  # no duplicate line, no torn line
    assert sorted(ids) == sorted(f"p{k}-{i}-0" for k in (1, 2, 3) for i in range(n))
