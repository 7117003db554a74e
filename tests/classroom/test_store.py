"""The classroom's SQLite store: a request's results are committed together or not at all; latest by time."""

from __future__ import annotations

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
