"""Weight processing leaves the log-probs unchanged, does what it says, and never touches its input."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import hf_twin, small_config
from minigpt import GPT
from minigpt.components import LayerNormPre
from minigpt.weights.processing import (
    center_unembed,
    center_writing_weights,
    fold_ln,
    fold_value_biases,
    process_weights,
)

MODELS = {
    "gpt2-like": dict(),
    "untied-with-bias": dict(tie_embeddings=False, unembed_bias=True),
    "attn-only-ln": dict(attn_only=True, n_layers=3),
    "relu-odd-no-pos": dict(act_fn="relu", n_heads=5, d_head=7, d_mlp=100, positional_embedding=False),
    "no-ln": dict(attn_only=True, normalization_type=None),
}


def chain(model: GPT) -> GPT:
    return fold_value_biases(center_unembed(center_writing_weights(fold_ln(model))))


STEPS = {
    "fold_ln": fold_ln,
    "fold_ln-uncentred": lambda m: fold_ln(m, center_weights=False),
    "center_writing_weights": center_writing_weights,
    "center_unembed": center_unembed,
    "fold_value_biases": fold_value_biases,
    "process_weights": process_weights,
    "chained": chain,
    "twice": lambda m: process_weights(process_weights(m)),  # LNPre in, LNPre out
}
NEEDS_LN = {"fold_ln", "fold_ln-uncentred", "center_writing_weights", "chained"}


def perturbed(name: str) -> GPT:
    """A model with non-trivial LayerNorm weights and biases (the default w=1, b=0 would hide bugs)."""
    model = GPT(small_config(init_range=0.15, **MODELS[name])).eval()
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            leaf = pname.split(".")[-1]
            if leaf == "w":
                p.copy_(1 + 0.5 * torch.randn(p.shape, generator=g))
            elif leaf.startswith("b_") or leaf == "b":
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
    return model


@pytest.fixture
def tokens() -> torch.Tensor:
    return torch.randint(0, 97, (3, 17), generator=torch.Generator().manual_seed(1))


def log_probs(model: GPT, tokens: torch.Tensor) -> torch.Tensor:
    return model(tokens).log_softmax(dim=-1)


def snapshot(model: GPT) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


CASES = [(m, s) for m in MODELS for s in STEPS if not (m == "no-ln" and s in NEEDS_LN)]  # errors: tested below


@pytest.mark.parametrize("model_name, step", CASES)
@torch.no_grad()
def test_log_probs_unchanged_and_input_untouched(model_name, step, tokens):
    model = perturbed(model_name)
    before, expected = snapshot(model), log_probs(model, tokens)
    assert model(tokens).std() > 0.3  # logits far from uniform, so a wrong fold shows
    processed = STEPS[step](model)
    assert processed is not model and isinstance(processed, GPT)
    assert (log_probs(processed, tokens) - expected).abs().max().item() <= 1e-4
    after = model.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], v) for k, v in before.items())


@pytest.mark.parametrize("model_name", ["gpt2-like", "attn-only-ln"])
@torch.no_grad()
def test_fold_ln_leaves_lnpre_and_the_same_hooks(model_name, tokens):
    model = perturbed(model_name)
    folded = fold_ln(model)
    cfg = folded.cfg
    assert (cfg.normalization_type, cfg.tie_embeddings, cfg.unembed_bias) == ("LNPre", False, True)
    norms = [m for name, m in folded.named_modules() if name.split(".")[-1] in ("ln1", "ln2", "ln_final")]
    assert len(norms) == cfg.n_layers * (1 if cfg.attn_only else 2) + 1 and all(isinstance(m, LayerNormPre) for m in norms)
    assert not [n for n in folded.state_dict() if n.endswith((".w", ".b"))]
    assert folded.hook_names() == model.hook_names()
    _, ours = model.run_with_cache(tokens)
    _, theirs = folded.run_with_cache(tokens)
    ln_names = ["blocks.0.ln1", "blocks.1.ln1", "ln_final"] + ([] if cfg.attn_only else ["blocks.1.ln2"])
    for ln in ln_names:  # the residual is unchanged: same scale; normalised (before w, b) unchanged too
        torch.testing.assert_close(theirs[ln + ".hook_scale"], ours[ln + ".hook_scale"])
        torch.testing.assert_close(theirs[ln + ".hook_normalized"], ours[ln + ".hook_normalized"])
    reading = [folded.W_Q, folded.W_K, folded.W_V, folded.W_U]  # d_model is axis -2 of each
    reading += [] if cfg.attn_only else [b.mlp.W_in for b in folded.blocks]
    for W in reading:
        assert W.mean(dim=-2).abs().max() < 1e-6
    assert fold_ln(model, center_weights=False).W_U.mean(dim=0).abs().max() > 1e-3


@pytest.mark.parametrize("model_name", ["gpt2-like", "relu-odd-no-pos", "attn-only-ln"])
@torch.no_grad()
def test_center_writing_weights(model_name):
    model = perturbed(model_name)
    centred = center_writing_weights(model)
    assert not centred.cfg.tie_embeddings
    torch.testing.assert_close(centred.W_U, model.W_U)  # untied first: W_U keeps the old W_E.T
    writers = {"W_E": centred.W_E, "W_O": centred.W_O, "b_O": torch.stack([b.attn.b_O for b in centred.blocks])}
    if model.cfg.positional_embedding:
        writers["W_pos"] = centred.W_pos
    if not model.cfg.attn_only:
        writers["W_out"] = torch.stack([b.mlp.W_out for b in centred.blocks])
        writers["b_out"] = torch.stack([b.mlp.b_out for b in centred.blocks])
    for name, W in writers.items():  # d_model is the last axis of each
        assert W.mean(dim=-1).abs().max() < 1e-6, name
    assert model.W_E.mean(dim=-1).abs().max() > 1e-3  # and the input's are not


@pytest.mark.parametrize("model_name", ["gpt2-like", "untied-with-bias", "no-ln"])
@torch.no_grad()
def test_center_unembed(model_name):
    model = perturbed(model_name)
    centred = center_unembed(model)
    assert centred.W_U.mean(dim=-1).abs().max() < 1e-6  # [d_model d_vocab]: zero mean over d_vocab
    if model.cfg.unembed_bias:
        assert centred.unembed.b_U.mean().abs() < 1e-6
    torch.testing.assert_close(centred.W_E, model.W_E)  # the embedding is not centred with it


@pytest.mark.parametrize("model_name", ["gpt2-like", "no-ln"])
@torch.no_grad()
def test_fold_value_biases(model_name):
    model = perturbed(model_name)
    folded = fold_value_biases(model)
    for old, new in zip(model.blocks, folded.blocks):
        assert torch.equal(new.attn.b_V, torch.zeros_like(old.attn.b_V))
        b_O = old.attn.b_O + torch.einsum("he,hed->d", old.attn.b_V, old.attn.W_O)  # hand-written oracle
        torch.testing.assert_close(new.attn.b_O, b_O)
        assert torch.equal(new.attn.W_Q, old.attn.W_Q) and torch.equal(new.attn.b_K, old.attn.b_K)


@torch.no_grad()
def test_process_weights_equals_the_chain_and_each_flag_switches_a_step():
    model = perturbed("gpt2-like")
    processed, chained = process_weights(model), chain(model)
    assert processed.cfg == chained.cfg
    for key, value in chained.state_dict().items():
        torch.testing.assert_close(processed.state_dict()[key], value, msg=key)
    assert all(torch.equal(b.attn.b_V, torch.zeros_like(b.attn.b_V)) for b in processed.blocks)
    assert processed.W_U.mean(dim=-1).abs().max() < 1e-6 and processed.W_E.mean(dim=-1).abs().max() < 1e-6
    none = process_weights(model, fold_ln=False, center_writing_weights=False, center_unembed=False,
                           fold_value_biases=False)
    assert none.cfg == model.cfg and all(torch.equal(v, model.state_dict()[k]) for k, v in none.state_dict().items())
    only_fold = process_weights(model, center_writing_weights=False, center_unembed=False, fold_value_biases=False)
    assert only_fold.cfg == fold_ln(model).cfg


def test_layer_norm_is_required_where_the_maths_needs_it():
    model = perturbed("no-ln")
    with pytest.raises(ValueError, match="normalization_type=None"):
        center_writing_weights(model)
    with pytest.raises(ValueError, match="LayerNorm"):
        fold_ln(model)
    processed = process_weights(model)  # skips the two LayerNorm steps, as TransformerLens does
    assert processed.cfg.normalization_type is None and processed.W_E.mean(dim=-1).abs().max() > 1e-3


@torch.no_grad()
def test_keeps_kernel_dtype_tokenizer_training_mode_and_layout(tokens):
    model = perturbed("gpt2-like").set_attention("naive").train()
    model.tokenizer = object()
    processed = process_weights(model)
    assert processed.attention == "naive" and processed.blocks[0].attn.kernel_name == "naive"
    assert processed.tokenizer is model.tokenizer and processed.training
    fresh = GPT(processed.cfg)
    for name, p in processed.named_parameters():  # stored as nn.Linear weights, as a fresh model is
        assert p.stride() == dict(fresh.named_parameters())[name].stride(), name
    half = process_weights(perturbed("gpt2-like").to(torch.bfloat16))
    assert half.dtype == torch.bfloat16 and all(p.dtype == torch.bfloat16 for p in half.parameters())
    reference = log_probs(perturbed("gpt2-like"), tokens)
    assert (log_probs(half, tokens).float() - reference).abs().max() < 0.3


@pytest.mark.parametrize("geometry", [
    dict(),
    dict(n_layer=3, n_embd=60, n_head=5, n_inner=100, activation_function="relu", tie_word_embeddings=False),
])
@torch.no_grad()
def test_processed_model_matches_transformers_log_probs(geometry, tokens):
    """Oracle: the processed model's log-probs equal Hugging Face's on the original weights."""
    hf, ours = hf_twin(**geometry)
    processed = process_weights(ours)
    expected = hf(tokens).logits.log_softmax(dim=-1)
    assert (log_probs(processed, tokens) - expected).abs().max().item() <= 1e-4
