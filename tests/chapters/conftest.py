"""Chapter execution times: printed at the end of the run, and written as JSON to ``$MINIGPT_TIMINGS`` when set.

Times are reported, never asserted (a chapter's budget is 3 minutes on a 2-core CPU; see DESIGN.md).
"""

from __future__ import annotations

import json
import os

import pytest

TIMINGS: dict[str, dict] = {}


@pytest.fixture
def record_timing():
    def record(chapter: str, run: str, seconds: float, **extra) -> None:
        TIMINGS.setdefault(chapter, {})[run] = {"seconds": round(seconds, 1), **extra}
    return record


def pytest_terminal_summary(terminalreporter):
    if not TIMINGS:
        return
    terminalreporter.section("chapter execution times (nbclient, this machine)")
    for chapter, runs in sorted(TIMINGS.items()):
        parts = []
        for run, info in runs.items():
            extra = f" ({info['cells']})" if "cells" in info else ""
            parts.append(f"{run} {info['seconds']:.1f} s{extra}")
        terminalreporter.write_line(f"{chapter:34s} " + "; ".join(parts))
    path = os.environ.get("MINIGPT_TIMINGS")
    if path:
        with open(path, "w") as f:
            json.dump(TIMINGS, f, indent=1)
        terminalreporter.write_line(f"(written to {path})")
