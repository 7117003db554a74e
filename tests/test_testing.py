"""minigpt.testing.gpt2_twins: one builder of Hugging Face twins for the tests and the benchmarks."""

from __future__ import annotations

import sys

import pytest
import torch

from minigpt.testing import gpt2_twins

pytest.importorskip("transformers")
SMALL = dict(n_layer=1, n_embd=32, n_head=2, n_positions=16, vocab_size=50)


def test_twins_give_the_same_logits_and_honour_the_settings():
    hf, ours = gpt2_twins(**SMALL, attn_implementation="eager", attention="naive")
    tokens = torch.randint(0, 50, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (hf(tokens).logits - ours(tokens)).abs().max().item() <= 1e-4
    assert hf.config._attn_implementation == "eager" and ours.attention == "naive"
    assert not hf.training and not ours.training
    assert hf.config.eos_token_id == ours.cfg.eos_token_id == 49 and hf.config.resid_pdrop == 0.0


def test_perturb_moves_biases_and_layer_norms_off_their_init_and_the_seed_repeats():
    plain, _ = gpt2_twins(**SMALL)
    assert torch.equal(plain.transformer.ln_f.weight, torch.ones(32))
    hf, ours = gpt2_twins(**SMALL, perturb=True)
    again, _ = gpt2_twins(**SMALL, perturb=True)
    assert not torch.equal(hf.transformer.ln_f.weight, torch.ones(32))
    assert torch.equal(hf.transformer.ln_f.weight, again.transformer.ln_f.weight)
    assert torch.equal(ours.ln_final.w, hf.transformer.ln_f.weight)
    other, _ = gpt2_twins(**SMALL, perturb=True, seed=1)
    assert not torch.equal(hf.transformer.h[0].attn.c_attn.weight, other.transformer.h[0].attn.c_attn.weight)


def test_hugging_face_settings_pass_through():
    hf, ours = gpt2_twins(**SMALL, n_inner=40, activation_function="gelu", tie_word_embeddings=False)
    assert ours.cfg.d_mlp == 40 and ours.cfg.act_fn == "gelu" and not ours.cfg.tie_embeddings


def test_without_transformers_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers now raises ImportError
    with pytest.raises(ImportError, match="pip install transformers"):
        gpt2_twins(**SMALL)
