"""Helpers shared by the benchmarks: twin models with equal weights, and fair timing."""

from __future__ import annotations

import os
import platform
import time
from typing import Callable

import torch


def gpt2_twins(attn_implementation: str = "sdpa", **geometry):
    """A random ``transformers.GPT2LMHeadModel`` (gpt2 geometry by default) and a minigpt GPT with its weights."""
    import transformers

    from minigpt import GPT
    from minigpt.hf_weights import config_from_hf, load_hf_state_dict

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    hc = transformers.GPT2Config(**geometry)
    hc._attn_implementation = attn_implementation
    hf = transformers.GPT2LMHeadModel(hc).eval()
    ours = GPT(config_from_hf(hc.to_dict()), attention="sdpa").eval()
    load_hf_state_dict(ours, hf.state_dict())
    return hf, ours


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
