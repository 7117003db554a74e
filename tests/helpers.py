"""Helpers shared by the tests: small configs and a Hugging Face twin with the same weights.

``tests/`` is a package that mirrors ``minigpt/``: import them as
``from tests.helpers import small_config, hf_twin``.
"""

from __future__ import annotations

import pytest

from minigpt import GPTConfig


def small_config(**overrides) -> GPTConfig:
    kwargs = dict(n_layers=2, d_model=48, n_heads=4, d_vocab=97, n_ctx=40, seed=0)
    kwargs.update(overrides)
    return GPTConfig(**kwargs)


def hf_twin(n_layer=2, n_embd=48, n_head=4, n_positions=40, vocab_size=97, seed=0, **hf_kwargs):
    """A random ``GPT2LMHeadModel`` and a minigpt ``GPT`` holding the same weights (skips without transformers).

    :func:`minigpt.testing.gpt2_twins` with the tests' settings: a small geometry, eager
    attention on Hugging Face's side, and perturbed biases and LayerNorms so a mix-up shows.
    """
    pytest.importorskip("transformers")
    from minigpt.testing import gpt2_twins

    return gpt2_twins(n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_positions=n_positions, vocab_size=vocab_size,
                      seed=seed, attn_implementation="eager", perturb=True, **hf_kwargs)


def load_stub(file: str):
    """A fresh import of the generated student copy ``exercises/<file>`` (e.g. ``ch01_transformer.py``)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "exercises" / file
    spec = importlib.util.spec_from_file_location(f"stub_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
