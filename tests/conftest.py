"""Shared fixtures; the helper functions live in tests/helpers.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from helpers import small_config  # noqa: E402

from minigpt import GPT  # noqa: E402


@pytest.fixture
def small_model() -> GPT:
    return GPT(small_config()).eval()


@pytest.fixture
def tokens() -> torch.Tensor:
    return torch.randint(0, 97, (3, 17), generator=torch.Generator().manual_seed(1))
