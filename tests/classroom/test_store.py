"""The classroom's SQLite store: a request's results are committed together or not at all; latest by time;
the time line's passes are the changes of status to a pass, whatever order results arrive in."""

from __future__ import annotations

import random
import sqlite3

import pytest

from minigpt.classroom.store import Store, StoreClosed


def result(rid: str, status: str = "pass", t: float = 1.0, exercise: str = "ch01.embed") -> dict:
    return {"id": rid, "exercise": exercise, "status": status, "diagnosis_id": None, "diagnosis": None, "time": t}


def test_a_failing_request_stores_none_of_its_results(tmp_path):
    with Store(tmp_path / "room.sqlite") as store:
        ada = store.add_learner("Ada")
        with pytest.raises(sqlite3.Error):  # the second cannot be bound: the first must not stay
            store.add_results(ada.id, [result("r1"), result("r2", t=[1.0])])
        assert store.count_results() == 0 and store.latest() == []
        assert store.add_results(ada.id, [result("r1")]) == 1  # and the store still works
    with sqlite3.connect(tmp_path / "room.sqlite") as db:  # another connection sees both tables agree
        assert db.execute("SELECT count(*) FROM results").fetchone() == db.execute(
            "SELECT count(*) FROM latest").fetchone() == (1,)


def test_latest_is_by_the_learners_clock_and_first_pass_the_earliest(tmp_path):
    with Store(tmp_path / "room.sqlite") as store:
        ada = store.add_learner("Ada")
        store.add_results(ada.id, [result("a", "pass", 5.0), result("b", "fail", 9.0)])
        store.add_results(ada.id, [result("c", "pass", 2.0), result("d", "error", 7.0)])  # late, but older
        (row,) = store.latest()
        assert (row["status"], row["time"], row["first_pass"]) == ("fail", 9.0, 2.0)


def test_a_closed_store_refuses_and_a_reopened_one_keeps_the_room(tmp_path):
    store = Store(tmp_path / "room.sqlite")
    code, key = store.code, store.key
    store.close()
    with pytest.raises(StoreClosed):
        store.add_learner("Ada")
    with Store(tmp_path / "room.sqlite") as again:
        assert (again.code, again.key) == (code, key)


def changes_to_pass(results: list[tuple[str, str, str, float]]) -> list[tuple[str, str, float]]:
    """The oracle: ``(learner, exercise, time)`` of each pass whose previous result by time is not a pass."""
    passes, before = [], {}
    for learner, exercise, status, t in sorted(results, key=lambda r: r[3]):
        if status == "pass" and before.get((learner, exercise)) != "pass":
            passes.append((learner, exercise, t))
        before[learner, exercise] = status
    return sorted(passes, key=lambda p: (p[2], p[0], p[1]))


def test_a_pass_checked_again_shows_once_and_again_after_a_fail(tmp_path):
    with Store(tmp_path / "room.sqlite") as store:
        ada = store.add_learner("Ada").id
        store.add_results(ada, [result("a", "todo", 1.0), result("b", "pass", 2.0), result("c", "pass", 3.0)])
        store.add_results(ada, [result("d", "pass", 4.0), result("e", "fail", 5.0), result("f", "pass", 6.0)])
        assert [row["time"] for row in store.passes()] == [2.0, 6.0]
        store.add_results(ada, [result("g", "error", 2.5)])  # late: between two passes, so the second counts
        assert [row["time"] for row in store.passes()] == [2.0, 3.0, 6.0]
        store.add_results(ada, [result("h", "pass", 1.5)])  # late: the first pass is now earlier
        assert [row["time"] for row in store.passes()] == [1.5, 3.0, 6.0]
        (row,) = store.latest()
        assert (row["status"], row["time"]) == ("pass", 6.0)  # the summary still reads the latest


def test_passes_match_the_oracle_whatever_the_order_of_arrival(tmp_path):
    rng = random.Random(0)
    with Store(tmp_path / "room.sqlite") as store:
        learners = [store.add_learner(name).id for name in ("Ada", "Bob", "Cy")]
        made = [(rng.choice(learners), rng.choice(["ch01.embed", "ch01.gelu_new"]),
                 rng.choice(["pass", "pass", "fail", "error", "todo"]), float(t)) for t in range(200)]
        order = sorted(range(len(made)), key=lambda i: i + rng.choice([0, 0, 0, 30]))  # some arrive late
        stored = []
        while order:
            n = rng.randint(1, 8)
            batch, order = order[:n], order[n:]
            by_learner = {}
            for i in batch:
                by_learner.setdefault(made[i][0], []).append(i)
            for learner, ids in by_learner.items():
                store.add_results(learner, [result(f"r{i}", made[i][2], made[i][3], made[i][1]) for i in ids])
                stored += [made[i] for i in ids]
            assert [tuple(row) for row in store.passes()] == changes_to_pass(stored)
        latest = {(row["learner"], row["exercise"]): row["status"] for row in store.latest()}
        assert latest == {(r[0], r[1]): r[2] for r in sorted(made, key=lambda r: r[3])}
    with sqlite3.connect(tmp_path / "room.sqlite") as db:  # a room saved before the passes table existed
        db.execute("DROP TABLE passes")
    with Store(tmp_path / "room.sqlite") as store:
        assert [tuple(row) for row in store.passes()] == changes_to_pass(made)
