"""The SAE tests run torch on one thread (small matrices: one is fastest, and far faster on a busy machine).

Module-scoped, so that it is set before the modules' own module-scoped fixtures run.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="module")
def one_thread(one_torch_thread):
    yield
