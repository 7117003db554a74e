"""Fixtures of the client's tests (imported by name into each test module): a course workspace, a fake room."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.classroom.fake_server import fake_classroom

# A learner's exercise file: one mistake LayerNorm's check names, one exercise not done, and words
# that must never leave the workspace.
LEARNER_CODE = '''import torch

# PRIVATE-7f3a: the learner's own notes
def layer_norm(x, w, b, eps=1e-5):
    private_mean_7f3a = x.mean(-1, keepdim=True)
    var = ((x - private_mean_7f3a) ** 2).mean(-1, keepdim=True)
    return (x - private_mean_7f3a) / (var.sqrt() + eps) * w + b


def embed(tokens, W_E):
    raise NotImplementedError
'''
PRIVATE = "7f3a"


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    """A course workspace (exercises/ch01_transformer.py holds LEARNER_CODE), the working directory."""
    root = tmp_path / "course"
    (root / "exercises").mkdir(parents=True)
    (root / "exercises" / "ch01_transformer.py").write_text(LEARNER_CODE)
    (root / "exercises" / "ch02_attention.py").write_text("# nothing yet\n")
    (root / "exercises" / "notes.py").write_text("# not an exercise file: never uploaded\n")
    monkeypatch.delenv("MINIGPT_EXERCISES", raising=False)
    monkeypatch.chdir(root)
    yield root
    wait_for_senders()


@pytest.fixture
def room():
    with fake_classroom() as r:
        yield r


def wait_for_senders(timeout: float = 10.0) -> None:
    """Let every background sender finish (they are daemon threads named minigpt-classroom)."""
    for thread in threading.enumerate():
        if thread.name == "minigpt-classroom":
            thread.join(timeout)
