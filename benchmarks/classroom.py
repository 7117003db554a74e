"""The classroom server under a workshop's load: learners posting check() results at once.

    python benchmarks/classroom.py [--learners 200] [--results 20] [--batch 1 5 20]

For each batch size, a fresh room served by ``python -m minigpt.classroom.server`` in its own
process on loopback: ``--learners`` learners join, then all post ``--results`` results each, at
once (asyncio + httpx, one connection per learner), ``--batch`` results per request (1: one
request per ``check()``, as a notebook sends them; 5 to 20: what a queuing client sends after a
pause, and what ``minigpt grade`` sends for a chapter), over keep-alive connections written by
hand (:class:`Connection`; httpx would cost the client more CPU than the server spends). Printed: results/s and requests/s over
the whole posting, the p50 and p99 latency of a request, the server's CPU seconds (and results per
server CPU second: the figure a loaded machine does not change), the load average; then it checks that every result is stored once and counted in ``/api/summary``.
Goal: at least 1,000 results/s on a 2-core machine.

The load generator (:func:`post_results`) is shared with ``tests/classroom/test_load.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx  # for the one-off requests; the load itself is written by hand (Connection)

from minigpt.classroom.process import ServerProcess
from minigpt.grading import all_exercises


@dataclass
class Load:
    acked: set[str] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)  # seconds per request
    errors: list[str] = field(default_factory=list)  # one per learner who gave up (the server went away)
    rate_limited: int = 0
    seconds: float = 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def plan(n_learners: int, per_learner: int, seed: str = "") -> list[list[dict]]:
    """``per_learner`` passing results for each learner, one per exercise, each with a unique id."""
    ids = [ex.id for ex in all_exercises()][:per_learner]
    if len(ids) < per_learner:
        raise ValueError(f"only {len(ids)} exercises are registered; ask for at most that many results each")
    start, run = time.time(), seed or uuid.uuid4().hex[:8]
    return [[{"id": f"{run}-{i}-{j}", "exercise": ex, "status": "pass", "diagnosis_id": None, "diagnosis": None,
              "time": start + j} for j, ex in enumerate(ids)] for i in range(n_learners)]


class Connection:
    """One keep-alive HTTP/1.1 connection, requests written by hand: a load generator that costs the
    client ~0.1 ms of CPU per request (httpx costs ~3 ms, so on 2 cores it, not the server, would be measured)."""

    def __init__(self, base: str):
        host, port = base.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body=None, secret: str | None = None) -> tuple[int, dict, bytes]:
        """``(status, headers, body)``; raises ``ConnectionError`` when the server is not there (any more)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n" + (f"Authorization: Bearer {secret}\r\n" if secret else "") + "\r\n")
        try:
            self.writer.write(head.encode() + data)
            status_line, *lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines if ": " in line)
            headers = {k.lower(): v for k, v in headers.items()}
            content = await self.reader.readexactly(int(headers.get("content-length", 0)))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            self.close()
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from None
        return int(status_line.split()[1]), headers, content

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


async def join_learners(base: str, code: str, n: int) -> list[str]:
    """``n`` learners join the room; their secrets."""
    async def one(i: int) -> str:
        connection = Connection(base)
        status, _, content = await connection.request("POST", f"/api/join/{code}", {"name": f"learner {i}"})
        connection.close()
        if status != 201:
            raise RuntimeError(f"join: {status} {content[:200]!r}")
        return json.loads(content)["secret"]

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def post_results(base: str, secrets: list[str], results: list[list[dict]], batch: int, on_ack=None) -> Load:
    """Every learner posts their results, ``batch`` per request, all learners at once (a connection each).

    A learner whose request fails (no server: killed, or gone) stops there, as a queuing client
    does: what was not acknowledged waits in its queue. ``on_ack(n_results_acked)`` runs after
    each acknowledgement (a test kills the server from it).
    """
    load = Load()

    async def learner(secret: str, mine: list[dict]) -> None:
        connection = Connection(base)
        i = 0
        while i < len(mine):
            t0 = time.perf_counter()
            try:
                status, headers, content = await connection.request("POST", "/api/results",
                                                                     {"results": mine[i:i + batch]}, secret)
            except ConnectionError as exc:
                load.errors.append(str(exc))
                return
            load.latencies.append(time.perf_counter() - t0)
            if status == 429:
                load.rate_limited += 1
                await asyncio.sleep(float(headers.get("retry-after", "1")))
                continue
            if status != 200:
                load.errors.append(f"{status}: {content[:200]!r}")
                break
            load.acked.update(json.loads(content)["acked"])
            i += batch
            if on_ack is not None:
                on_ack(len(load.acked))
        connection.close()

    start = time.perf_counter()
    await asyncio.gather(*(learner(s, mine) for s, mine in zip(secrets, results)))
    load.seconds = time.perf_counter() - start
    return load


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stored_ids(db_path: str | Path) -> list[str]:
    """The result ids in the room's SQLite file (read-only; the server may be running)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        return [row[0] for row in db.execute("SELECT id FROM results")]


def summary_passes(server: ServerProcess) -> int:
    summary = httpx.get(f"{server.base}/api/summary", params={"key": server.key}, timeout=30).json()
    return sum(e["pass"] for e in summary["exercises"].values())


def run_once(n_learners: int, per_learner: int, batch: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="minigpt-classroom-bench-") as tmp, \
            ServerProcess(Path(tmp) / "room.sqlite") as server:
        secrets = asyncio.run(join_learners(server.base, server.code, n_learners))
        results = plan(n_learners, per_learner)
        cpu0, load_avg = cpu_seconds(server.pid), os.getloadavg()
        load = asyncio.run(post_results(server.base, secrets, results, batch))
        cpu = cpu_seconds(server.pid) - cpu0
        n = n_learners * per_learner
        ids = stored_ids(Path(tmp) / "room.sqlite")
        row = {"batch": batch, "results": n, "requests": len(load.latencies), "seconds": load.seconds,
               "results_per_s": n / load.seconds, "requests_per_s": len(load.latencies) / load.seconds,
               "p50_ms": 1e3 * load.percentile(0.5), "p99_ms": 1e3 * load.percentile(0.99),
               "server_cpu_s": cpu, "load_before": load_avg[0], "load_after": os.getloadavg()[0],
               "stored": len(ids), "unique": len(set(ids)), "summary_passes": summary_passes(server),
               "acked": len(load.acked), "errors": len(load.errors), "rate_limited": load.rate_limited}
    return row


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--results", type=int, default=20, help="results per learner (at most the exercises)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 5, 20], help="results per request")
    args = parser.parse_args(argv)
    print(f"{args.learners} learners x {args.results} results, server and clients on loopback, {os.cpu_count()} CPUs")
    print(f"{'batch':>5} {'requests':>8} {'seconds':>7} {'results/s':>9} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'server CPU s':>12} {'results/CPU s':>13} {'load':>9}  stored/summary")
    rows = []
    for batch in args.batch:
        row = run_once(args.learners, args.results, batch)
        rows.append(row)
        print(f"{batch:>5} {row['requests']:>8} {row['seconds']:>7.2f} {row['results_per_s']:>9.0f} "
              f"{row['requests_per_s']:>7.0f} {row['p50_ms']:>7.1f} {row['p99_ms']:>7.1f} {row['server_cpu_s']:>12.2f} "
              f"{row['results'] / max(row['server_cpu_s'], 1e-9):>13.0f} "
              f"{row['load_before']:>4.1f}-{row['load_after']:<4.1f}  {row['unique']}/{row['summary_passes']}"
              + (f"  ({row['errors']} errors, {row['rate_limited']} rate-limited)" if row["errors"] or
                 row["rate_limited"] else ""))
        assert row["stored"] == row["unique"] == row["summary_passes"] == row["results"], row
    best = max(rows, key=lambda r: r["results_per_s"])
    print(f"goal >= 1,000 results/s: {'met' if best['results_per_s'] >= 1000 else 'NOT met'} "
          f"({best['results_per_s']:.0f}/s at {best['batch']} per request)")
    return rows


if __name__ == "__main__":
    main()
