"""The ``toy`` fixture: the toy exercises of ``grading_toys.py``, registered for one test."""

from __future__ import annotations

import pytest

from tests.grading.grading_toys import toy_exercises


@pytest.fixture
def toy(tmp_path, monkeypatch):
    with toy_exercises(tmp_path, monkeypatch) as t:
        yield t
