"""Shared fixtures; the helper functions live in tests/helpers.py."""

from __future__ import annotations

import json
import os

import pytest
import torch

from minigpt import GPT
from tests.helpers import small_config


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module of tiny tensors and models: on a shared 2-core machine a parallel
    kernel waits for the second core, and hundreds of small forward passes run many times slower.
    Request it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def small_model() -> GPT:
    return GPT(small_config()).eval()


@pytest.fixture
def tokens() -> torch.Tensor:
    return torch.randint(0, 97, (3, 17), generator=torch.Generator().manual_seed(1))


# ---- chapter execution times (tests/chapters): printed at the end of the run, and written as JSON to
# $MINIGPT_TIMINGS when set. Reported, never asserted (a chapter's budget is 3 minutes on 2 cores).
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
