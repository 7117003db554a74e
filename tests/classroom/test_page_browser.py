"""The instructor's page in a real browser (Debian's Chromium driven by Playwright) against a real server.

It draws the room (where it is stuck, the grid with diagnoses on hover, the passes over time, the
export links), updates itself when a result arrives, asks nothing of any other host, logs no
error, and shows a learner named ``<img src=x onerror=...>`` as text: nothing of it runs.
Skipped, with the reason, where /usr/bin/chromium or the playwright package is missing.
"""

from __future__ import annotations

import pytest

from tests.classroom.server_helpers import running_server

httpx = pytest.importorskip("httpx")

# The viewers' browser fixture: the same Chromium, flags and skips (no playwright, no /usr/bin/chromium).
from tests.viz.test_browser import browser  # noqa: E402, F401

XSS = "<img src=x onerror=window.__pwned=1>"
SQL = "Robert'); DROP TABLE learners;--"
AXIS = "summed over the wrong axis"


def post(server, secret: str, rid: str, exercise: str, status: str, t: float, diagnosis: str | None = None) -> None:
    reply = httpx.post(f"{server.base}/api/results", headers={"Authorization": f"Bearer {secret}"},
                       json={"results": [{"id": rid, "exercise": exercise, "status": status, "diagnosis_id": None,
                                          "diagnosis": diagnosis, "time": 1_700_000_000.0 + t}]})
    assert reply.status_code == 200, reply.text


@pytest.mark.slow
def test_the_instructor_page_shows_the_room_live_and_runs_no_learner_input(browser, tmp_path):
    with running_server(tmp_path / "room.sqlite", exercises=["ch01.embed", "ch01.layer_norm"]) as server:
        join = lambda name: httpx.post(f"{server.base}/api/join/{server.code}", json={"name": name}).json()  # noqa
        eve, bob = join(XSS), join(SQL)
        post(server, eve["secret"], "e1", "ch01.embed", "fail", 1, AXIS)
        post(server, bob["secret"], "b1", "ch01.embed", "pass", 2)

        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors, requests = [], []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(server.instructor_url)
        page.wait_for_function("() => window.minigptRoom && window.minigptRoom.renders >= 1", timeout=10_000)

        # Names are text: shown as typed, no element made of them, nothing run.
        names = page.locator("#grid td.mg-name").all_inner_texts()
        assert names == [XSS, SQL]
        assert page.evaluate("document.querySelectorAll('img').length") == 0
        assert page.evaluate("window.__pwned") is None

        # The grid: Eve fails embed (the diagnosis on hover), Bob passes it, layer_norm is todo for both.
        cell = page.locator(f"tr[data-learner='{eve['learner_id']}'] td[data-exercise='ch01.embed']")
        assert cell.get_attribute("data-status") == "fail" and AXIS in cell.get_attribute("title")
        cell.hover()
        assert page.locator(".mg-tip").is_visible() and AXIS in page.locator(".mg-tip").inner_text()
        statuses = page.eval_on_selector_all("#grid td.mg-c", "cells => cells.map(c => c.dataset.status)")
        assert statuses == ["fail", "todo", "pass", "todo"]

        # Where the room is stuck: the pass rate and the mistakes with their counts.
        row = page.locator("#stuck tr[data-exercise='ch01.embed']")
        assert row.locator(".mg-pct").inner_text().strip() == "50%"
        assert [row.locator(f".mg-n-{k}").inner_text() for k in ("pass", "fail", "error", "todo")] == ["1", "1", "0",
                                                                                                       "0"]
        assert row.locator(".mg-mistakes li").all_inner_texts() == [f"1 × {AXIS}"]
        assert page.locator("#timeline .mg-dot").count() == 1

        # Live: Eve passes; the page shows it after its next poll (every 2 s), without a reload.
        renders = page.evaluate("window.minigptRoom.renders")
        post(server, eve["secret"], "e2", "ch01.embed", "pass", 3)
        page.wait_for_function("(sel) => document.querySelector(sel).dataset.status === 'pass'",
                               arg=f"tr[data-learner='{eve['learner_id']}'] td[data-exercise='ch01.embed']",
                               timeout=10_000)
        assert page.evaluate("window.minigptRoom.renders") == renders + 1
        assert row.locator(".mg-pct").inner_text().strip() == "100%"
        assert page.locator("#timeline .mg-dot").count() == 2

        # The export button downloads the grades file.
        with page.expect_download() as download:
            page.click("#exports a[data-format='live']")
        assert download.value.suggested_filename == "room.csv"
        assert XSS in open(download.value.path(), encoding="utf-8").read()

        assert errors == []
        assert requests and all(url.startswith(server.base + "/") for url in requests), requests
        page.close()
