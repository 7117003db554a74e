"""Helpers for testing code against minigpt's oracle, as ``torch.testing`` is for torch.

:func:`gpt2_twins` builds a random Hugging Face ``GPT2LMHeadModel`` and a minigpt
:class:`~minigpt.GPT` holding the very same weights (copied through the one map of
:mod:`minigpt.weights.hf_map`), so a test or a benchmark can run both on the same
input and compare. The tests use small, odd geometries with perturbed biases and
LayerNorms; the benchmarks use GPT-2's own geometry.

It needs ``transformers`` (``pip install -e ".[dev]"``), which is imported only when
a twin is built.

:func:`tl_twin` does the same against TransformerLens, the oracle for hook names and
cached activations: a ``HookedTransformer`` holding a minigpt model's weights, with its
hook flags (split inputs, ``hook_attn_in``, ``hook_mlp_in``).

>>> hf, ours = gpt2_twins(n_layer=1, n_embd=32, n_head=2, n_positions=16, vocab_size=50)
>>> tokens = torch.randint(0, 50, (1, 8))
>>> (hf(tokens).logits - ours(tokens)).abs().max() < 1e-4
tensor(True)
"""

from __future__ import annotations

import warnings

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


# minigpt's GPTConfig field -> TransformerLens's HookedTransformerConfig field, copied as is.
_TL_FIELDS = {"n_layers": "n_layers", "d_model": "d_model", "n_heads": "n_heads", "d_head": "d_head",
              "d_mlp": "d_mlp", "d_vocab": "d_vocab", "n_ctx": "n_ctx", "act_fn": "act_fn",
              "attn_only": "attn_only", "normalization_type": "normalization_type",
              "layer_norm_eps": "eps", "attn_scale": "attn_scale"}
_TL_FLAGS = ("use_split_qkv_input", "use_attn_in", "use_hook_mlp_in")


def tl_twin(model: GPT, *, fold_ln: bool = False):
    """A ``transformer_lens.HookedTransformer`` with ``model``'s geometry, weights and hook flags, in eval mode.

    Our parameters already have TransformerLens's names and shapes (``W_Q: [n_heads d_model
    d_head]``, ...), so the state dict carries across as is; a tied unembedding gets
    ``W_U = W_E.T`` and a missing ``b_U`` zeros. ``fold_ln=True`` hands TransformerLens the raw
    weights and lets *it* fold the LayerNorms (its ``fold_ln``: LNPre, reading weights
    centred), to compare with :func:`minigpt.weights.processing.fold_ln`. No BOS is
    prepended (``default_prepend_bos=False``): both models read the tokens they are given.

    >>> import pytest
    >>> _ = pytest.importorskip("transformer_lens")  # the oracle, not one of minigpt's dependencies
    >>> from minigpt import GPTConfig
    >>> ours = GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2, d_vocab=20, n_ctx=8, seed=0)).eval()
    >>> theirs = tl_twin(ours)
    >>> tokens = torch.tensor([[1, 2, 3]])
    >>> (theirs(tokens) - ours(tokens)).abs().max() < 1e-5
    tensor(True)
    """
    try:
        from transformer_lens import HookedTransformer, HookedTransformerConfig
    except ImportError:
        raise ImportError("minigpt.testing.tl_twin needs the transformer_lens package (the oracle): "
                          "pip install transformer_lens") from None
    cfg = model.cfg
    if not cfg.positional_embedding:
        raise ValueError("TransformerLens has no model without positional embeddings "
                         "(positional_embedding_type 'standard' always adds W_pos)")
    tl_cfg = HookedTransformerConfig(
        **{theirs: getattr(cfg, ours) for ours, theirs in _TL_FIELDS.items()},
        positional_embedding_type="standard", default_prepend_bos=False, device=str(model.device),
        dtype=model.dtype, seed=0,
    )
    with warnings.catch_warnings():  # 3.x announces HookedTransformer's move to TransformerBridge in 4.0
        warnings.simplefilter("ignore", DeprecationWarning)
        twin = HookedTransformer(tl_cfg)
    sd = {name: p.detach().clone() for name, p in model.state_dict().items()}
    sd.setdefault("unembed.W_U", model.W_U.detach().clone())  # tied: W_E.T
    sd.setdefault("unembed.b_U", torch.zeros(cfg.d_vocab, dtype=model.dtype, device=model.device))
    if fold_ln:
        twin.load_and_process_state_dict(sd, fold_ln=True, center_writing_weights=False,
                                         center_unembed=False, fold_value_biases=False)
    else:
        missing, unexpected = twin.load_state_dict(sd, strict=False)
        missing = [k for k in missing if not k.endswith((".mask", ".IGNORE"))]  # TL's buffers
        if missing or unexpected:
            raise ValueError(f"state dicts differ: TransformerLens lacks {unexpected}, minigpt lacks {missing}")
    for flag in _TL_FLAGS:
        if getattr(model.blocks[0], flag):
            getattr(twin, f"set_{flag}")(True)
    return twin.eval()
