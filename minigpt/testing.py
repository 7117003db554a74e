"""Helpers for testing code against minigpt's oracle, as ``torch.testing`` is for torch.

:func:`gpt2_twins` builds a random Hugging Face ``GPT2LMHeadModel`` and a minigpt
:class:`~minigpt.GPT` holding the very same weights (copied through the one map of
:mod:`minigpt.weights.hf_map`), so a test or a benchmark can run both on the same
input and compare. The tests use small, odd geometries with perturbed biases and
LayerNorms; the benchmarks use GPT-2's own geometry.

It needs ``transformers`` (``pip install -e ".[dev]"``), which is imported only when
a twin is built.

>>> hf, ours = gpt2_twins(n_layer=1, n_embd=32, n_head=2, n_positions=16, vocab_size=50)
>>> tokens = torch.randint(0, 50, (1, 8))
>>> (hf(tokens).logits - ours(tokens)).abs().max() < 1e-4
tensor(True)
"""

from __future__ import annotations

import torch

from .model import GPT
from .weights.hf_map import config_from_hf, load_hf_state_dict


def gpt2_twins(
    *,
    n_layer: int = 12,
    n_embd: int = 768,
    n_head: int = 12,
    n_positions: int = 1024,
    vocab_size: int = 50257,
    seed: int = 0,
    attn_implementation: str = "sdpa",
    attention: str = "sdpa",
    perturb: bool = False,
    **hf_kwargs,
):
    """A random ``transformers.GPT2LMHeadModel`` and a minigpt ``GPT`` with its weights, both in eval mode.

    The geometry uses Hugging Face's names (GPT-2's by default); ``hf_kwargs`` go to
    ``GPT2Config`` as well (``n_inner``, ``activation_function``, ``tie_word_embeddings``, ...).
    Dropout is off and the BOS/EOS token is the last of the vocabulary (unless given).

    - ``seed``: ``torch.manual_seed(seed)`` before Hugging Face's random init (the global
      generator, which that init draws from).
    - ``attn_implementation``: Hugging Face's attention (``"eager"``, ``"sdpa"``);
      ``attention``: minigpt's kernel, by its registry name.
    - ``perturb``: add N(0, 0.1²) noise to every bias and LayerNorm parameter. Hugging Face
      starts them at 0 and 1, where a mixed-up bias or LayerNorm would go unnoticed.
    """
    try:
        import transformers
    except ImportError:
        raise ImportError("minigpt.testing.gpt2_twins needs the transformers package (the oracle): "
                          "pip install transformers, or pip install -e '.[dev]'") from None
    torch.manual_seed(seed)
    hf_config = transformers.GPT2Config(
        n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_positions=n_positions, vocab_size=vocab_size,
        **{"bos_token_id": vocab_size - 1, "eos_token_id": vocab_size - 1,
           "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, **hf_kwargs},
    )
    hf_config._attn_implementation = attn_implementation
    hf = transformers.GPT2LMHeadModel(hf_config).eval()
    if perturb:
        with torch.no_grad():
            for name, p in hf.named_parameters():
                if name.endswith("bias") or ".ln_" in name or "ln_f" in name:
                    p.add_(torch.randn_like(p) * 0.1)
    ours = GPT(config_from_hf(hf_config.to_dict()), attention=attention).eval()
    load_hf_state_dict(ours, hf.state_dict())
    return hf, ours
