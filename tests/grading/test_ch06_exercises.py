"""Chapter 6's exercises: what is particular to the chapter (which exercises, their kinds and cases).

test_every_exercise.py holds what every exercise must do (the solution passes, the stub is not
implemented, every known mistake fails with its own diagnosis, so no two mistakes look alike on
the cases). Plus oracles: the reference pieces equal minigpt.interp.superposition's toy model,
batches, loss and feature dimensionality, minigpt.sae's SAE, TopK, decoder maintenance,
resampling and metrics, and minigpt.interp.features' contexts and direct logit effect.
"""

from __future__ import annotations

import pytest
import torch

import solutions.ch06_superposition as sol
from minigpt import GPT, GPTConfig
from minigpt.grading import all_exercises
from minigpt.interp.features import direct_logit_effect, latent_direction, top_activating_contexts
from minigpt.interp.superposition import ToyModel, feature_dimensionality, importance_weighted_mse, sparse_features
from minigpt.sae import (SAE, fraction_variance_explained, l0, loss_recovered, normalise_decoder_,
                         remove_parallel_grad_, resample_dead_, topk_relu)
from tests.grading.test_ch05_exercises import _same, _tensors

EXERCISES = all_exercises(chapter=6)
MODEL_EXERCISES = {"latent_logit_effect", "loss_recovered"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread is fastest


def test_chapter_has_the_planned_exercises():
    names = [ex.name for ex in EXERCISES]
    assert names == ["toy_forward", "generate_batch", "importance_weighted_mse", "feature_dimensionality",
                     "sae_encode", "topk_activation", "sae_loss", "normalise_decoder", "remove_parallel_grad",
                     "resample_dead", "l0", "fraction_variance_explained", "top_activating_contexts",
                     "latent_logit_effect", "loss_recovered"]


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_chapter_metadata(ex):
    """Chapter 6's file and kinds, and four known mistakes at least; test_every_exercise.py checks the rest."""
    assert ex.file == "ch06_superposition.py"
    assert ex.kind == ("model" if ex.name in MODEL_EXERCISES else "function")
    assert len(ex.mutants) >= 4


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_cases_are_seeded_and_small(ex):
    first, second = ex.make_cases(), ex.make_cases()
    assert 2 <= len(first) <= 3
    assert _same(first, second)
    for case in first:
        inputs = {k: v for k, v in case.items() if k != "state_dict"}
        assert all(t.numel() <= 2_000 for t in _tensors(inputs))
        if "state_dict" in case:  # a tiny model: a few thousand parameters
            assert sum(t.numel() for t in case["state_dict"].values()) <= 20_000


def test_the_loss_recovered_cases_are_well_conditioned():
    """Zero-ablating the spliced activation costs the model a lot, and the SAEs recover part of it, each its own."""
    from minigpt.grading.check import call
    from minigpt.grading.exercises.ch06._common import build

    ex = next(ex for ex in EXERCISES if ex.name == "loss_recovered")
    recovered = []
    for case in ex.make_cases():
        model, first = build(case["cfg"], case["state_dict"]), case["calls"][0]
        zero = [(first["hook_name"], lambda act, hook: torch.zeros_like(act))]
        with torch.no_grad():
            gap = model.run_with_hooks(first["tokens"], return_type="loss", fwd_hooks=zero) - model(
                first["tokens"], return_type="loss")
        assert gap > 1.0
        recovered += call(ex, sol.loss_recovered, case)[0]
    assert all(0.1 < r < 0.9 for r in recovered) and len(set(recovered)) == len(recovered), recovered


# ---------------------------------------------------------------------------
# oracles: the reference pieces against minigpt.interp.superposition
# ---------------------------------------------------------------------------


def test_toy_pieces_equal_the_library():
    g = torch.Generator().manual_seed(0)
    model = ToyModel(n_features=5, d_hidden=2, n_instances=3, feature_probability=[1.0, 0.2, 0.05],
                     importance=0.9 ** torch.arange(5), generator=g)
    with torch.no_grad():
        model.b_final.normal_(generator=g)
    x = model.generate_batch(32, generator=torch.Generator().manual_seed(5))
    # the same draws, in the same order, as the library's batches
    torch.testing.assert_close(sol.generate_batch(32, model.feature_probability, seed=5), x, rtol=0, atol=0)
    torch.testing.assert_close(sol.generate_batch(32, model.feature_probability, seed=5),
                               sparse_features(32, model.feature_probability, torch.Generator().manual_seed(5)))
    out = sol.toy_forward(model.W.detach(), model.b_final.detach(), x)
    torch.testing.assert_close(out, model(x).detach())
    torch.testing.assert_close(sol.importance_weighted_mse(out, x, model.importance),
                               importance_weighted_mse(out, x, model.importance))


def test_generate_batch_has_the_asked_density():
    p = torch.tensor([[1.0, 1.0], [0.3, 0.3], [0.0, 0.0]])
    x = sol.generate_batch(4000, p, seed=1)
    density = (x > 0).float().mean(0)
    torch.testing.assert_close(density, p, atol=0.03, rtol=0)
    assert 0.0 <= x.min() and x.max() < 1.0


def test_feature_dimensionality_equals_the_library_by_hand():
    g = torch.Generator().manual_seed(1)
    W = torch.randn(3, 4, 7, generator=g)
    W[2, :, 5] = 0.0  # a dropped feature: 0, not NaN
    got = sol.feature_dimensionality(W)
    torch.testing.assert_close(got, feature_dimensionality(W))
    assert got[2, 5] == 0.0
    angles = 2 * torch.pi * torch.arange(5) / 5
    pentagon = torch.stack([torch.cos(angles), torch.sin(angles)])[None]
    torch.testing.assert_close(sol.feature_dimensionality(pentagon), torch.full((1, 5), 0.4))


# ---------------------------------------------------------------------------
# oracles: the reference pieces against minigpt.sae
# ---------------------------------------------------------------------------


def _sae(kind: str = "relu", d_in: int = 6, d_sae: int = 16, seed: int = 0, **kw) -> SAE:
    """An SAE with every parameter moved away from its initial value (b_dec far from 0)."""
    sae = SAE(d_in=d_in, d_sae=d_sae, kind=kind, seed=seed, **kw)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        sae.W_enc.add_(0.3 * torch.randn(d_in, d_sae, generator=g))
        sae.b_enc.normal_(0.0, 0.3, generator=g)
        sae.b_dec.normal_(0.8, 0.5, generator=g)
    return sae


def test_encode_topk_and_loss_equal_the_sae():
    sae = _sae()
    x = torch.randn(20, 6, generator=torch.Generator().manual_seed(2)) + sae.b_dec.detach()
    weights = {name: p.detach() for name, p in sae.named_parameters()}
    acts = sol.sae_encode(x, weights["W_enc"], weights["b_enc"], weights["b_dec"])
    with torch.no_grad():
        torch.testing.assert_close(acts, sae.encode(x))
        assert 0 < (acts > 0).float().mean() < 1  # some latents fire, some do not
        want = sae.loss(x, coeff=0.4).loss
    torch.testing.assert_close(sol.sae_loss(x, l1_coeff=0.4, **weights), want)
    pre = torch.randn(4, 5, 9, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(sol.topk_activation(pre, k=3), topk_relu(pre, k=3))
    topk = _sae(kind="topk", k=2)
    with torch.no_grad():
        pre = topk.pre_acts(x)
        torch.testing.assert_close(sol.topk_activation(pre, k=2), topk.encode(x))


def test_decoder_maintenance_equals_the_library():
    g = torch.Generator().manual_seed(4)
    W_dec = torch.randn(9, 5, generator=g) * (torch.rand(9, 1, generator=g) + 0.5)
    grad = torch.randn(9, 5, generator=g)
    torch.testing.assert_close(sol.remove_parallel_grad(W_dec, grad), remove_parallel_grad_(W_dec, grad.clone()))
    unit = sol.normalise_decoder(W_dec)
    torch.testing.assert_close(unit, normalise_decoder_(W_dec.clone()))
    torch.testing.assert_close(unit.norm(dim=-1), torch.ones(9))
    tangent = sol.remove_parallel_grad(W_dec, grad)
    torch.testing.assert_close((tangent * unit).sum(-1), torch.zeros(9), atol=1e-6, rtol=0)


def test_resample_dead_equals_the_library():
    sae = _sae(d_in=5, d_sae=12, seed=5)
    x = torch.randn(40, 5, generator=torch.Generator().manual_seed(6)) * 2
    dead = torch.zeros(12, dtype=torch.bool)
    dead[[0, 3, 4, 10]] = True
    with torch.no_grad():
        x_hat = sae(x)
        got = sol.resample_dead(sae.W_enc.detach(), sae.b_enc.detach(), sae.W_dec.detach(), x, x_hat, dead, seed=7)
        before = sae.W_dec.detach().clone()
        assert resample_dead_(sae, x, dead, generator=torch.Generator().manual_seed(7)) == 4
    for mine, theirs in zip(got, (sae.W_enc, sae.b_enc, sae.W_dec)):
        torch.testing.assert_close(mine, theirs.detach())
    assert torch.equal(got[2][~dead], before[~dead])  # the alive latents are left alone
    torch.testing.assert_close(got[2][dead].norm(dim=-1), torch.ones(4))


def test_metrics_equal_the_library():
    g = torch.Generator().manual_seed(8)
    acts = torch.relu(torch.randn(3, 7, 11, generator=g) - 0.5)
    assert sol.l0(acts) == pytest.approx(l0(acts))
    x = torch.randn(3, 7, 5, generator=g) + 3.0
    x_hat = x + 0.4 * torch.randn(3, 7, 5, generator=g)
    assert sol.fraction_variance_explained(x, x_hat) == pytest.approx(fraction_variance_explained(x, x_hat), rel=1e-5)
    assert sol.fraction_variance_explained(x, x) == 1.0
    assert sol.fraction_variance_explained(x, x.mean(dim=(0, 1)).expand_as(x)) == pytest.approx(0.0, abs=1e-6)


# ---------------------------------------------------------------------------
# oracles: the reference pieces against minigpt.interp.features and the spliced-loss metric
# ---------------------------------------------------------------------------


def test_top_activating_contexts_equal_the_library():
    g = torch.Generator().manual_seed(9)
    acts = torch.relu(torch.randn(8, 15, generator=g))
    acts[1, 1], acts[1, 9] = 9.0, 8.0  # one sequence peaks twice; the library's one_per_sequence keeps one
    tokens = torch.randint(0, 100, (8, 15), generator=g)
    want = top_activating_contexts(acts, tokens, k=5, window=(4, 2), one_per_sequence=True)
    got = sol.top_activating_contexts(acts, tokens, k=5, before=4, after=2)
    assert got == [(c.batch, c.pos, c.value, c.tokens) for c in want]
    assert got[0][:2] == (1, 1) and got[0][3] == tokens[1, :4].tolist()  # cut at the start


def _model(seed: int, **cfg) -> GPT:
    config = dict(n_layers=2, d_model=16, n_heads=2, d_mlp=24, d_vocab=12, n_ctx=8, seed=seed) | cfg
    model = GPT(GPTConfig(**config)).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.split(".")[-1].startswith("W_"):
                p.normal_(0.0, 0.5, generator=g)
            elif name.endswith(".w"):
                p.normal_(1.0, 0.2, generator=g)
    return model


def test_latent_logit_effect_equals_the_library():
    model = _model(10, tie_embeddings=False, unembed_bias=True)
    sae = _sae(d_in=24, d_sae=32, seed=11, hook_name="blocks.1.mlp.hook_post")
    for latent in (0, 17):
        want = direct_logit_effect(model, latent_direction(model, sae, latent))
        torch.testing.assert_close(sol.latent_logit_effect(model, 1, sae.W_dec.detach(), latent), want)


def test_loss_recovered_equals_the_library():
    model = _model(12)
    tokens = torch.randint(0, 12, (4, 1), generator=torch.Generator().manual_seed(13))
    with torch.no_grad():  # greedy continuations: the model predicts them, so zero-ablation raises the loss
        for _ in range(7):
            tokens = torch.cat([tokens, model(tokens)[:, -1].argmax(-1, keepdim=True)], dim=1)
    for hook_name, d_in in (("blocks.0.mlp.hook_post", 24), ("blocks.1.hook_resid_mid", 16)):
        sae = _sae(d_in=d_in, d_sae=2 * d_in, seed=14, hook_name=hook_name)
        weights = {name: p.detach() for name, p in sae.named_parameters()}
        want = loss_recovered(model, tokens, sae)
        assert sol.loss_recovered(model, tokens, hook_name, **weights) == pytest.approx(want, rel=1e-4)
