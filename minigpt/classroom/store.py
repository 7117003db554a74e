"""The classroom's memory: one SQLite file (stdlib ``sqlite3``, WAL mode) that survives a crash.

>>> import tempfile, os
>>> store = Store(os.path.join(tempfile.mkdtemp(), "room.sqlite"))
>>> ada = store.add_learner("Ada")
>>> r = {"id": "r1", "exercise": "ch01.embed", "status": "fail", "diagnosis_id": "wrong-axis",
...      "diagnosis": "summed over the wrong axis", "time": 10.0}
>>> store.add_results(ada.id, [r, r])          # the same id twice: stored once
1
>>> store.add_results(ada.id, [{**r, "id": "r2", "status": "pass", "time": 11.0}])
1
>>> [(row["exercise"], row["status"]) for row in store.latest()]
[('ch01.embed', 'pass')]
>>> store.add_results(ada.id, [{**r, "id": "r3", "status": "pass", "time": 12.0}])  # checked again
1
>>> [row["time"] for row in store.passes()]     # the pass at 11 s, not again at 12 s
[11.0]

Tables:

- ``room``: one row, the room code and the instructor key (made once, kept by restarts);
- ``learners``: id, name (any text, stored as given), SHA-256 of the secret (the secret itself
  is never stored: a copied database file lets nobody post as a learner);
- ``results``: every result, keyed by ``(learner, id)``: the client's id is an idempotency
  key, so a result posted twice (a retry after a lost reply) is stored once;
- ``latest``: per learner and exercise, the result with the latest ``time`` and the first
  time it passed: what the grid and the summary read, kept up to date on every insert;
- ``passes``: the time line's passes, one per change of status to a pass: per learner and
  exercise, in the learner's time order, a pass whose previous result was not a pass (or
  that has none). A chapter that checks an exercise again on every run (``mine_or_reference``)
  adds none; a pass after a fail adds one. Kept up to date on every insert: in order (the
  usual case) from the ``latest`` row before it; a result older than the latest one (an
  offline queue sent late) recounts that learner's passes of that exercise.
- ``submissions``: uploaded files (as JSON text, until graded), their grading status and the grader's record.

Durability: a reply is sent after ``COMMIT``. With ``journal_mode=WAL`` and
``synchronous=NORMAL`` a committed transaction is in the WAL file before the reply, so a
killed server (SIGKILL) loses nothing it acknowledged; only a power cut can take back the
last transactions (``durable=True`` sets ``synchronous=FULL``: an fsync per commit).
One connection, one lock: the event loop and the grading threads take turns; every
statement is short.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS room (id INTEGER PRIMARY KEY CHECK (id = 1), code TEXT NOT NULL, key TEXT NOT NULL,
                                 created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS learners (id TEXT PRIMARY KEY, name TEXT NOT NULL, secret_sha256 BLOB NOT NULL UNIQUE,
                                     joined REAL NOT NULL);
CREATE TABLE IF NOT EXISTS results (learner TEXT NOT NULL, id TEXT NOT NULL, exercise TEXT NOT NULL,
                                    status TEXT NOT NULL, diagnosis_id TEXT, diagnosis TEXT, time REAL NOT NULL,
                                    received REAL NOT NULL, PRIMARY KEY (learner, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS latest (learner TEXT NOT NULL, exercise TEXT NOT NULL, status TEXT NOT NULL,
                                   diagnosis_id TEXT, diagnosis TEXT, time REAL NOT NULL, first_pass REAL,
                                   PRIMARY KEY (learner, exercise)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS submissions (id TEXT PRIMARY KEY, learner TEXT NOT NULL, created REAL NOT NULL,
                                        status TEXT NOT NULL, files TEXT NOT NULL, record TEXT, finished REAL);
CREATE INDEX IF NOT EXISTS submissions_by_learner ON submissions (learner, created);
CREATE TABLE IF NOT EXISTS passes (learner TEXT NOT NULL, exercise TEXT NOT NULL, time REAL NOT NULL,
                                   PRIMARY KEY (learner, exercise, time)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS passes_by_time ON passes (time);
"""

# The newer result (by the learner's clock; a tie goes to the one received last) replaces the latest;
# first_pass keeps the earliest pass whatever order results arrive in.
UPSERT_LATEST = """
INSERT INTO latest (learner, exercise, status, diagnosis_id, diagnosis, time, first_pass)
VALUES (:learner, :exercise, :status, :diagnosis_id, :diagnosis, :time,
        CASE WHEN :status = 'pass' THEN :time END)
ON CONFLICT (learner, exercise) DO UPDATE SET
  status = CASE WHEN excluded.time >= latest.time THEN excluded.status ELSE latest.status END,
  diagnosis_id = CASE WHEN excluded.time >= latest.time THEN excluded.diagnosis_id ELSE latest.diagnosis_id END,
  diagnosis = CASE WHEN excluded.time >= latest.time THEN excluded.diagnosis ELSE latest.diagnosis END,
  time = max(latest.time, excluded.time),
  first_pass = CASE WHEN excluded.first_pass IS NULL THEN latest.first_pass
                    ELSE min(coalesce(latest.first_pass, excluded.first_pass), excluded.first_pass) END
"""

# A pass whose previous result (by the learner's clock, then by arrival) is not a pass, or that has none.
RECOUNT_PASSES = """
INSERT OR IGNORE INTO passes
SELECT learner, exercise, time FROM (
  SELECT learner, exercise, status, time,
         lag(status) OVER (PARTITION BY learner, exercise ORDER BY time, received) AS before
  FROM results {where})
WHERE status = 'pass' AND before IS NOT 'pass'
"""

RESULT_FIELDS = ("id", "exercise", "status", "diagnosis_id", "diagnosis", "time")


def secret_digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


class StoreClosed(RuntimeError):
    """The server is stopping: a grade finished after this is not stored (a restart grades it again)."""


@dataclass(frozen=True)
class Learner:
    id: str
    name: str
    secret: str | None = None  # only when just made: the store keeps its digest


class Store:
    """The room in ``path`` (made on first use, with a fresh random code and key)."""

    def __init__(self, path: str | Path, durable: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self.db.row_factory = sqlite3.Row
        mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise RuntimeError(f"{self.path}: SQLite refused WAL mode (got {mode!r}); is it on a network share?")
        self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)  # each CREATE ... IF NOT EXISTS commits on its own: made once, kept after
        self.closed = False
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO room VALUES (1, ?, ?, ?)",
                       (secrets.token_urlsafe(6), secrets.token_urlsafe(24), time.time()))
            room = db.execute("SELECT code, key FROM room").fetchone()
            if not db.execute("SELECT 1 FROM passes LIMIT 1").fetchone():  # a room made before the table was
                db.execute(RECOUNT_PASSES.format(where=""))
        self.code, self.key = room["code"], room["key"]
        self.version = 0  # bumped on every change the instructor's page shows

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.db.close()

    @contextmanager
    def _transaction(self, begin: str = "BEGIN IMMEDIATE"):
        """One transaction: all its statements are committed together, or none (an error rolls it back).

        The connection is in autocommit mode (``isolation_level=None``), where ``with connection:``
        would begin nothing: each statement would commit alone, and a crash between a result and
        its ``latest`` row would keep the one without the other. So BEGIN and COMMIT are explicit.
        """
        with self.lock:
            if self.closed:
                raise StoreClosed(f"{self.path} is closed")
            self.db.execute(begin)
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def _write(self, sql: str, params=()) -> sqlite3.Cursor:
        with self._transaction() as db:
            self.version += 1
            return db.execute(sql, params)

    def _read(self, sql: str, params=()) -> list[sqlite3.Row]:
        with self._transaction("BEGIN") as db:
            return db.execute(sql, params).fetchall()

    # ------------------------------------------------------------ learners

    def add_learner(self, name: str) -> Learner:
        learner = Learner(secrets.token_hex(8), name, secrets.token_urlsafe(32))
        self._write("INSERT INTO learners VALUES (?, ?, ?, ?)",
                    (learner.id, name, secret_digest(learner.secret), time.time()))
        return learner

    def learner_by_secret(self, secret: str) -> Learner | None:
        rows = self._read("SELECT id, name FROM learners WHERE secret_sha256 = ?", (secret_digest(secret),))
        return Learner(rows[0]["id"], rows[0]["name"]) if rows else None

    def learners(self) -> list[sqlite3.Row]:
        return self._read("SELECT id, name, joined FROM learners ORDER BY joined, id")

    # ------------------------------------------------------------ results

    def add_results(self, learner: str, results: list[dict]) -> int:
        """Store the results not stored yet (by ``(learner, id)``); returns how many were new."""
        new = 0
        now = time.time()
        with self._transaction() as db:
            for r in results:
                row = {name: r.get(name) for name in RESULT_FIELDS}
                row.update(learner=learner, received=now)
                cur = db.execute("INSERT OR IGNORE INTO results VALUES (:learner, :id, :exercise, :status, "
                                      ":diagnosis_id, :diagnosis, :time, :received)", row)
                if cur.rowcount:
                    new += 1
                    self._add_pass(db, row)
                    db.execute(UPSERT_LATEST, row)
            self.version += new > 0
        return new

    @staticmethod
    def _add_pass(db: sqlite3.Connection, row: dict) -> None:
        """Keep ``passes`` true with ``row`` (already in ``results``, not yet in ``latest``)."""
        key = (row["learner"], row["exercise"])
        before = db.execute("SELECT status, time FROM latest WHERE learner = ? AND exercise = ?", key).fetchone()
        if before is None or row["time"] >= before["time"]:  # the newest: only the result before it matters
            if row["status"] == "pass" and (before is None or before["status"] != "pass"):
                db.execute("INSERT OR IGNORE INTO passes VALUES (?, ?, ?)", (*key, row["time"]))
        else:  # older than the latest: it may start a pass, or end one that came after it
            db.execute("DELETE FROM passes WHERE learner = ? AND exercise = ?", key)
            db.execute(RECOUNT_PASSES.format(where="WHERE learner = ? AND exercise = ?"), key)

    def results_of(self, learner: str) -> list[dict]:
        rows = self._read(f"SELECT {', '.join(RESULT_FIELDS)} FROM results WHERE learner = ? ORDER BY time, received",
                          (learner,))
        return [dict(row) for row in rows]

    def result_ids(self) -> set[tuple[str, str]]:
        """Every stored ``(learner, result id)``."""
        return {(row["learner"], row["id"]) for row in self._read("SELECT learner, id FROM results")}

    def count_results(self) -> int:
        return self._read("SELECT count(*) FROM results")[0][0]

    def latest(self) -> list[sqlite3.Row]:
        return self._read("SELECT learner, exercise, status, diagnosis_id, diagnosis, time, first_pass FROM latest "
                          "ORDER BY learner, exercise")

    def passes(self) -> list[sqlite3.Row]:
        """The time line: ``(learner, exercise, time)`` of each change of status to a pass, oldest first."""
        return self._read("SELECT learner, exercise, time FROM passes ORDER BY time, learner, exercise")

    # ------------------------------------------------------------ submissions

    def add_submission(self, learner: str, files: dict[str, str]) -> str | None:
        """A queued submission's id; None when this learner already has one queued or being graded."""
        sid = secrets.token_hex(8)
        with self._transaction() as db:
            busy = db.execute("SELECT 1 FROM submissions WHERE learner = ? AND status IN ('queued', 'grading')",
                                   (learner,)).fetchone()
            if busy:
                return None
            db.execute("INSERT INTO submissions (id, learner, created, status, files) VALUES (?, ?, ?, ?, ?)",
                            (sid, learner, time.time(), "queued", json.dumps(files)))
            self.version += 1
        return sid

    def submission(self, sid: str, learner: str | None = None) -> sqlite3.Row | None:
        rows = self._read("SELECT * FROM submissions WHERE id = ?" + (" AND learner = ?" if learner else ""),
                          (sid, learner) if learner else (sid,))
        return rows[0] if rows else None

    def unfinished_submissions(self) -> list[str]:
        """Ids of the submissions queued or being graded (a restart grades them again), oldest first."""
        return [row["id"] for row in self._read("SELECT id FROM submissions WHERE status IN ('queued', 'grading') "
                                                "ORDER BY created")]

    def set_submission(self, sid: str, status: str, record: dict | None = None) -> None:
        """Set a submission's status; once it is ``done`` or ``failed``, its files are dropped (the record stays):
        a learner who hands in again and again does not fill the disk."""
        record_json = None if record is None else json.dumps(record)
        if status in ("done", "failed"):
            self._write("UPDATE submissions SET status = ?, record = ?, finished = ?, files = '{}' WHERE id = ?",
                        (status, record_json, time.time(), sid))
        else:
            self._write("UPDATE submissions SET status = ?, record = ?, finished = NULL WHERE id = ?",
                        (status, record_json, sid))

    def latest_graded(self) -> list[sqlite3.Row]:
        """Each learner's latest submission that was graded, with the learner's name."""
        return self._read("SELECT s.*, l.name FROM submissions s JOIN learners l ON l.id = s.learner "
                          "WHERE s.status = 'done' AND s.created = (SELECT max(created) FROM submissions "
                          "WHERE learner = s.learner AND status = 'done') ORDER BY l.joined, l.id")
