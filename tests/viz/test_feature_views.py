"""Feature dashboards and the atlas without a browser: what they send is what the analysis functions compute."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from minigpt import GPT
from minigpt.checkpoints import load_checkpoint
from minigpt.data import fixed_windows, stdlib_corpus
from minigpt.interp import (activation_histogram, latent_acts, latent_direction, logit_effect, neuron_acts,
                            top_activating_contexts, top_context_per_feature)
from minigpt.viz import feature_atlas, feature_dashboard, latent_dashboard, neuron_dashboard, sae_atlas
from minigpt.viz.atlas import pca_project
from tests.interp.test_features import DuckSAE
from tests.viz.test_html import assert_self_contained, payload

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model() -> GPT:
    return load_checkpoint("stdlib-bytes").eval()


@pytest.fixture(scope="module")
def tokens() -> torch.Tensor:
    return fixed_windows(stdlib_corpus(n_bytes=60_000).val, n_ctx=64, n=32)        # [batch=32 pos=64]


def test_neuron_dashboard_sends_the_analysis(model, tokens):
    view = neuron_dashboard(model, tokens, layer=1, neuron=3, k=20, window=(48, 15))
    assert_self_contained(view.html)
    data = payload(view)
    assert data == view.payload
    acts = neuron_acts(model, tokens, 1, 3)
    contexts = top_activating_contexts(acts, tokens, k=20, window=(48, 15))
    assert len(data["contexts"]) == 20
    for sent, c in zip(data["contexts"], contexts):
        assert (sent["batch"], sent["pos"], sent["peak"]) == (c.batch, c.pos, c.peak)
        assert sent["tokens"] == model.to_str_tokens(c.tokens) and sent["value"] == pytest.approx(c.value, rel=1e-3)
        np.testing.assert_allclose(sent["acts"], c.acts, rtol=1e-3, atol=1e-6)
    assert max(len(c["tokens"]) for c in data["contexts"]) <= 64                      # 48 + peak + 15
    hist = activation_histogram(acts, bins=30)
    assert data["hist"]["counts"] == hist.counts.tolist()
    assert data["stats"]["density"] == pytest.approx(hist.density) and data["stats"]["n_tokens"] == 32 * 64
    effect = logit_effect(model, model.blocks[1].mlp.W_out[3], k=10)
    assert [row[2] for row in data["logits"]["promoted"]] == [t.token for t in effect.promoted]
    assert [row[0] for row in data["logits"]["suppressed"]] == [t.text for t in effect.suppressed]
    assert data["title"] == "neuron 3 of layer 1 (blocks.1.mlp.hook_post)"


def test_twenty_contexts_of_64_tokens_fit_in_2_mb(model):
    tokens = fixed_windows(stdlib_corpus(n_bytes=60_000).val, n_ctx=128, n=20)        # [batch=20 pos=128]
    acts = neuron_acts(model, tokens, 0, 100)
    acts[:, 60] = acts.max() + torch.arange(20.0)                 # each sequence's peak 48 tokens in, 67 before the end
    view = feature_dashboard(model, tokens, acts, model.blocks[0].mlp.W_out[100], k=20, window=(48, 15))
    assert [len(c["tokens"]) for c in view.payload["contexts"]] == [64] * 20
    assert 10_000 < len(view) <= 2_000_000, f"{len(view):,} bytes"


def test_latent_dashboard_of_a_duck_typed_sae(model, tokens):
    sae = DuckSAE(model.cfg.d_mlp, 64)
    hook = "blocks.0.mlp.hook_post"
    acts = latent_acts(model, tokens, sae, hook, latent=9)
    assert acts.max() > 0
    data = latent_dashboard(model, tokens, sae, 9, hook, k=5).payload
    assert data["stats"]["max"] == pytest.approx(float(acts.max()))
    assert [c["value"] for c in data["contexts"]] == pytest.approx(acts.flatten().topk(5).values.tolist(), rel=1e-3)
    effect = logit_effect(model, latent_direction(model, sae, 9, hook))
    assert [row[2] for row in data["logits"]["promoted"]] == [t.token for t in effect.promoted]
    with pytest.raises(ValueError, match="out of range"):
        latent_dashboard(model, tokens, sae, 64, hook)


def test_feature_dashboard_checks_its_input(model, tokens):
    with pytest.raises(ValueError, match="one activation per token"):
        feature_dashboard(model, tokens, torch.zeros(32, 63))
    with pytest.raises(ValueError, match="NaN"):
        feature_dashboard(model, tokens, torch.full((32, 64), float("nan")))
    no_logits = feature_dashboard(model, "def f(): pass", torch.arange(14.0)[None], k=3).payload
    assert no_logits["logits"] is None and [c["pos"] for c in no_logits["contexts"]] == [13, 12, 11]


def test_pca_equals_numpy_svd():
    x = torch.randn(40, 12, generator=torch.Generator().manual_seed(0)) * torch.linspace(3, 0.1, 12)
    coords, explained = pca_project(x)
    centred = x.numpy() - x.numpy().mean(axis=0)
    _, s, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    expected = centred @ vt[:2].T
    signs = np.sign((coords.numpy() * expected).sum(axis=0))                          # an axis may point either way
    np.testing.assert_allclose(coords.numpy(), expected * signs, atol=1e-4)
    np.testing.assert_allclose(explained.numpy(), s[:2] ** 2 / (s ** 2).sum(), rtol=1e-4)
    assert torch.equal(pca_project(x)[0], coords)                                     # the same map every time
    with pytest.raises(ValueError, match="n >= 2"):
        pca_project(torch.zeros(1, 3))


def test_atlas_payload(model):
    directions = torch.randn(6, 10, generator=torch.Generator().manual_seed(1))
    view = feature_atlas(directions, ["one", None, "three", "four", "five", "six"], values=torch.arange(6.0),
                         labels=[f"L{i}" for i in range(6)])
    assert_self_contained(view.html)
    data = payload(view)
    coords, explained = pca_project(directions)
    np.testing.assert_allclose(data["xs"], coords[:, 0], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(data["ys"], coords[:, 1], rtol=1e-3, atol=1e-6)
    assert data["labels"][2] == "L2" and data["contexts"][1] is None and data["contexts"][2]["tokens"] == ["three"]
    assert data["colours"][0] == "rgb(255,255,255)" and data["colours"][5] == "rgb(255,65,45)"   # white to red
    with pytest.raises(ValueError, match="got 2 contexts for 6 directions"):
        feature_atlas(directions, ["a", "b"])
    with pytest.raises(ValueError, match="got 2 labels, expected 6"):
        feature_atlas(directions, labels=["a", "b"])
    with pytest.raises(ValueError, match="6 finite values"):
        feature_atlas(directions, values=[1.0])


def test_sae_atlas_shows_each_latents_top_context(model, tokens):
    sae = DuckSAE(model.cfg.d_mlp, 40)
    sae.W_dec[7] = 0.0                                              # encodes to relu(-0.3) = 0 everywhere: dead
    hook = "blocks.1.mlp.hook_post"
    view = sae_atlas(model, tokens[:8], sae, hook, window=(6, 2))
    data = view.payload
    acts = latent_acts(model, tokens[:8], sae, hook)
    expected = top_context_per_feature(acts, tokens[:8], window=(6, 2))
    for i, (sent, c) in enumerate(zip(data["contexts"], expected)):
        if c is None:
            assert sent is None and data["labels"][i].endswith("(dead)")
        else:
            assert (sent["batch"], sent["pos"], sent["tokens"]) == (c.batch, c.pos, model.to_str_tokens(c.tokens))
    assert data["contexts"][7] is None and data["labels"][7] == "latent 7 (dead)"
    assert data["values"] == pytest.approx(acts.flatten(0, 1).max(0).values.clamp_min(0).tolist(), rel=1e-3)
    assert len(view) < 2_000_000


def test_minigpt_sae_works_as_it_is(model, tokens):
    """minigpt.sae.SAE records its hook: the dashboard and the atlas need nothing more."""
    from minigpt.sae import SAE

    sae = SAE(model.cfg.d_mlp, 32, hook_name="blocks.0.mlp.hook_post")
    with torch.no_grad():
        sae.b_enc.fill_(0.05)                                       # so a fresh SAE's latents fire
    acts = latent_acts(model, tokens[:4], sae, latent=3)
    data = latent_dashboard(model, tokens[:4], sae, 3, k=4).payload
    assert data["title"] == "SAE latent 3 on blocks.0.mlp.hook_post"
    assert acts.max() > 0 and data["stats"]["max"] == pytest.approx(float(acts.max()))
    atlas = sae_atlas(model, tokens[:4], sae).payload
    assert len(atlas["xs"]) == 32 and atlas["values"][3] == pytest.approx(float(acts.max()), rel=1e-3)
