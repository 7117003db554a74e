"""Helpers shared by the tests: small configs and a Hugging Face twin with the same weights.

Import them as ``from helpers import small_config, hf_twin`` (tests/conftest.py puts
this folder on ``sys.path``; a module named ``conftest`` would be ambiguous, since
sub-folders have their own).
"""

from __future__ import annotations

import pytest
import torch

from minigpt import GPT, GPTConfig


def small_config(**overrides) -> GPTConfig:
    kwargs = dict(n_layers=2, d_model=48, n_heads=4, d_vocab=97, n_ctx=40, seed=0)
    kwargs.update(overrides)
    return GPTConfig(**kwargs)


def hf_twin(n_layer=2, n_embd=48, n_head=4, n_positions=40, vocab_size=97, seed=0, **hf_kwargs):
    """A random ``GPT2LMHeadModel`` and a minigpt ``GPT`` holding the same weights."""
    transformers = pytest.importorskip("transformers")
    from minigpt.hf_weights import config_from_hf, load_hf_state_dict

    torch.manual_seed(seed)
    hc = transformers.GPT2Config(
        n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_positions=n_positions,
        vocab_size=vocab_size, bos_token_id=vocab_size - 1, eos_token_id=vocab_size - 1,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **hf_kwargs,
    )
    hc._attn_implementation = "eager"
    hf = transformers.GPT2LMHeadModel(hc).eval()
    with torch.no_grad():  # non-trivial LayerNorm and bias values, so a mix-up shows
        for name, p in hf.named_parameters():
            if name.endswith("bias") or ".ln_" in name or "ln_f" in name:
                p.add_(torch.randn_like(p) * 0.1)
    ours = GPT(config_from_hf(hc.to_dict())).eval()
    load_hf_state_dict(ours, hf.state_dict())
    return hf, ours


def load_stub(file: str):
    """A fresh import of the generated student copy ``exercises/<file>`` (e.g. ``ch01_transformer.py``)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "exercises" / file
    spec = importlib.util.spec_from_file_location(f"stub_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
