"""Tiny models and data for the trainer's tests (each trains in well under a second)."""

from __future__ import annotations

import pytest
import torch

from minigpt import GPT, GPTConfig

D_VOCAB, N_CTX = 13, 12


def tiny_model(seed: int = 0) -> GPT:
    return GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2, d_vocab=D_VOCAB, n_ctx=N_CTX, seed=seed))


def counting_sampler(generator: torch.Generator, n: int) -> torch.Tensor:
    """A learnable task: each row counts up (mod D_VOCAB) from a random start. ``[n N_CTX]``"""
    start = torch.randint(0, D_VOCAB, (n, 1), generator=generator)
    return (start + torch.arange(N_CTX)) % D_VOCAB


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only add overhead (and the CI machine is shared)
    yield
    torch.set_num_threads(threads)
