"""Helpers shared by the benchmarks: fair timing, the machine, quiet peers.

Twin models with equal weights come from :func:`minigpt.testing.gpt2_twins`. Each benchmark
runs as ``python benchmarks/NAME.py``, which puts this folder first on ``sys.path``, so
``from common import ...`` finds this file; a test that imports a benchmark puts the folder
there itself (``monkeypatch.syspath_prepend``).
"""

from __future__ import annotations

import os
import platform
import time
from typing import Callable

import torch


def quiet_transformers() -> None:
    """Hugging Face's warnings off: a benchmark prints figures, not advice."""
    import transformers

    transformers.logging.set_verbosity_error()


def time_pair(fns: dict[str, Callable[[], object]], repeats: int = 7, warmup: int = 2) -> dict[str, float]:
    """Best (minimum) seconds per call of each function.

    Calls are interleaved so drift hits all alike, and the minimum is taken
    because noise on a shared machine only ever adds time.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: min(ts) for name, ts in times.items()}


def machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
