"""A workshop's load on a real server process (loopback), and a crash in the middle of it.

- 200 learners post 20 results each, all at once (one request per result, as notebooks send them):
  all 4,000 are stored once and counted in /api/summary; the p99 latency is printed.
- The server is killed with SIGKILL once 1,000 results are acknowledged, then restarted on the same
  file: every acknowledged result is there, and the clients' queues (what was not acknowledged)
  are delivered to the restarted server, with nothing counted twice.

The load generator is benchmarks/classroom.py's (it also measures the throughput).
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from minigpt.classroom.process import ServerProcess  # noqa: E402

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
LEARNERS, RESULTS = 200, 20

pytestmark = pytest.mark.slow


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import classroom

    return classroom


def assert_all_counted(bench, server, db_path, expected_ids: set[str]) -> None:
    ids = bench.stored_ids(db_path)
    assert len(ids) == len(set(ids)) == len(expected_ids) and set(ids) == expected_ids
    summary = httpx.get(f"{server.base}/api/summary", params={"key": server.key}).json()
    assert summary["learners"] == LEARNERS
    passes = {ex: counts["pass"] for ex, counts in summary["exercises"].items() if counts["pass"]}
    assert len(passes) == RESULTS and set(passes.values()) == {LEARNERS}  # 20 exercises x 200 learners = 4,000


def test_200_learners_post_20_results_each(bench, tmp_path):
    db = tmp_path / "room.sqlite"
    with ServerProcess(db) as server:
        secrets = asyncio.run(bench.join_learners(server.base, server.code, LEARNERS))
        results = bench.plan(LEARNERS, RESULTS)
        load = asyncio.run(bench.post_results(server.base, secrets, results, batch=1))
        assert load.errors == [] and load.rate_limited == 0
        assert len(load.latencies) == LEARNERS * RESULTS
        assert_all_counted(bench, server, db, {r["id"] for mine in results for r in mine})
    print(f"\n{LEARNERS} learners x {RESULTS} results, one per request: {len(load.acked) / load.seconds:.0f} "
          f"results/s, p50 {1e3 * load.percentile(0.5):.1f} ms, p99 {1e3 * load.percentile(0.99):.1f} ms "
          f"(load average {os.getloadavg()[0]:.1f})")


def test_sigkill_in_the_middle_loses_no_acknowledged_result(bench, tmp_path):
    db = tmp_path / "room.sqlite"
    server = ServerProcess(db)
    secrets = asyncio.run(bench.join_learners(server.base, server.code, LEARNERS))
    results = bench.plan(LEARNERS, RESULTS)
    killed_at = []

    def kill(n_acked: int) -> None:
        if n_acked >= 1000 and not killed_at:
            os.kill(server.pid, signal.SIGKILL)
            killed_at.append(n_acked)

    first = asyncio.run(bench.post_results(server.base, secrets, results, batch=4, on_ack=kill))
    assert server.stop() == -signal.SIGKILL and killed_at
    assert first.errors and 1000 <= len(first.acked) < LEARNERS * RESULTS  # learners found the server gone

    with ServerProcess(db) as again:
        assert (again.code, again.key) == (server.code, server.key)
        stored = set(bench.stored_ids(db))
        assert first.acked <= stored  # not one acknowledged result lost
        queued = [[r for r in mine if r["id"] not in first.acked] for mine in results]  # the clients' queues
        second = asyncio.run(bench.post_results(again.base, secrets, queued, batch=4))
        assert second.errors == []
        assert_all_counted(bench, again, db, {r["id"] for mine in results for r in mine})
    print(f"\nSIGKILL after {killed_at[0]} results acknowledged: {len(first.acked)} acknowledged in all, "
          f"{len(stored)} stored ({len(stored) - len(first.acked)} stored but not acknowledged: their replies were "
          f"lost), 0 lost; {sum(map(len, queued))} re-sent after the restart, stored once each")
