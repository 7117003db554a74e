"""Reading a feature: contexts and histograms against brute force and numpy; directions and logit effects
against the model's own forward pass and TransformerLens's folded unembedding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from minigpt import GPT, GPTConfig
from minigpt.checkpoints import load_checkpoint
from minigpt.interp import (activation_histogram, direct_logit_effect, latent_acts, latent_direction, logit_effect,
                            neuron_acts, neuron_direction, residual_direction, sae_hook_name, top_activating_contexts,
                            top_context_per_feature)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model() -> GPT:
    return load_checkpoint("stdlib-bytes").eval()


@pytest.fixture(scope="module")
def tokens(model) -> torch.Tensor:
    return model.to_tokens(["def f(x):\n    return x + 1\n", "class A:\n    pass\n", "import os\nos.path"])


class DuckSAE:
    """What the feature tools need of an SAE: ``encode`` and ``W_dec`` (and, optionally, ``cfg.hook_name``)."""

    def __init__(self, d_in: int, d_sae: int, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.W_dec = torch.nn.functional.normalize(torch.randn(d_sae, d_in, generator=g), dim=1)

    def encode(self, x):
        return torch.relu(x @ self.W_dec.T - 0.3)


# ----------------------------------------------------------------------------- contexts
def test_contexts_hand_checked():
    acts = torch.tensor([[0.0, 5.0, 1.0, 0.0], [4.0, 0.0, 0.0, 6.0]])
    tokens = torch.arange(8).reshape(2, 4)
    got = top_activating_contexts(acts, tokens, k=3, window=(2, 1))
    assert [(c.batch, c.pos, c.value, c.start, c.tokens, c.acts, c.peak) for c in got] == [
        (1, 3, 6.0, 1, [5, 6, 7], [0.0, 0.0, 6.0], 2),      # cut at the end of the sequence
        (0, 1, 5.0, 0, [0, 1, 2], [0.0, 5.0, 1.0], 1),      # and at its start
        (1, 0, 4.0, 0, [4, 5], [4.0, 0.0], 0),
    ]
    once = top_activating_contexts(acts, tokens, k=5, window=0, one_per_sequence=True)
    assert [(c.batch, c.pos, c.tokens) for c in once] == [(1, 3, [7]), (0, 1, [1])]


def test_contexts_equal_brute_force():
    g = torch.Generator().manual_seed(0)
    acts, tokens = torch.randn(6, 30, generator=g), torch.randint(0, 256, (6, 30), generator=g)
    got = top_activating_contexts(acts, tokens, k=12, window=(5, 3))
    ranked = sorted(((float(acts[b, p]), b, p) for b in range(6) for p in range(30)), reverse=True)[:12]
    assert [(c.batch, c.pos) for c in got] == [(b, p) for _, b, p in ranked]
    for c in got:
        lo, hi = max(0, c.pos - 5), min(30, c.pos + 4)
        assert c.tokens == tokens[c.batch, lo:hi].tolist() and c.acts == pytest.approx(acts[c.batch, lo:hi].tolist())
        assert c.value == pytest.approx(c.acts[c.peak]) and c.tokens[c.peak] == tokens[c.batch, c.pos]
    per_row = top_activating_contexts(acts, tokens, k=10, window=0, one_per_sequence=True)
    assert len(per_row) == 6 and sorted(c.batch for c in per_row) == list(range(6))
    assert [c.value for c in per_row] == pytest.approx(sorted(acts.max(dim=1).values.tolist(), reverse=True))


def test_top_context_per_feature_equals_one_feature_at_a_time():
    g = torch.Generator().manual_seed(1)
    acts = torch.relu(torch.randn(4, 12, 5, generator=g))
    acts[..., 3] = 0.0                                                   # a dead feature
    tokens = torch.randint(0, 50, (4, 12), generator=g)
    got = top_context_per_feature(acts, tokens, window=(3, 2))
    assert got[3] is None
    for i in (0, 1, 2, 4):
        assert got[i] == top_activating_contexts(acts[..., i], tokens, k=1, window=(3, 2))[0]


@pytest.mark.parametrize("bad", [
    lambda: top_activating_contexts(torch.zeros(2, 3), torch.zeros(2, 4, dtype=torch.long)),
    lambda: top_activating_contexts(torch.zeros(6), torch.zeros(6, dtype=torch.long)),
    lambda: top_activating_contexts(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long), window=(-1, 2)),
    lambda: top_context_per_feature(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long)),
])
def test_bad_shapes_say_what_was_expected(bad):
    with pytest.raises(ValueError, match="expected|window"):
        bad()


# ----------------------------------------------------------------------------- histogram
@pytest.mark.parametrize("nonzero", [True, False])
def test_histogram_equals_numpy(nonzero):
    g = torch.Generator().manual_seed(2)
    acts = torch.relu(torch.randn(8, 50, generator=g))                  # about half exactly 0
    hist = activation_histogram(acts, bins=17, nonzero=nonzero)
    values = acts.flatten().numpy()
    counts, edges = np.histogram(values[values != 0] if nonzero else values, bins=17)
    assert hist.counts.tolist() == counts.tolist()
    np.testing.assert_allclose(hist.edges.numpy(), edges, rtol=1e-6)
    assert hist.n_total == 400 and hist.n_nonzero == int((values != 0).sum())
    assert hist.density == pytest.approx(hist.n_nonzero / 400)


def test_histogram_edge_cases():
    dead = activation_histogram(torch.zeros(3, 4), bins=5)
    assert dead.counts.tolist() == [0] * 5 and dead.density == 0.0
    flat = activation_histogram(torch.full((2, 2), 3.0), bins=4)         # numpy: a width-1 range around it
    assert flat.counts.sum() == 4 and flat.edges[0] == 2.5 and flat.edges[-1] == 3.5


# ----------------------------------------------------------------------------- activations of the model
def test_neuron_and_latent_acts_equal_the_cache(model, tokens):
    _, cache = model.run_with_cache(tokens, names_filter="blocks.1.mlp.hook_post")
    post = cache["blocks.1.mlp.hook_post"]
    torch.testing.assert_close(neuron_acts(model, tokens, 1, 100, batch_size=2), post[..., 100])
    sae = DuckSAE(model.cfg.d_mlp, 24)
    torch.testing.assert_close(latent_acts(model, tokens, sae, "blocks.1.mlp.hook_post", batch_size=1),
                               sae.encode(post))
    torch.testing.assert_close(latent_acts(model, tokens, sae, "blocks.1.mlp.hook_post", latent=5),
                               sae.encode(post)[..., 5])
    with pytest.raises(ValueError, match="d_mlp = 512"):
        neuron_acts(model, tokens, 0, 512)


def test_an_sae_names_its_hook():
    from minigpt.sae import SAE

    assert sae_hook_name(SAE(8, 16, hook_name="blocks.0.mlp.hook_post")) == "blocks.0.mlp.hook_post"
    assert sae_hook_name(DuckSAE(8, 16), "blocks.0.hook_resid_pre") == "blocks.0.hook_resid_pre"
    with pytest.raises(ValueError, match="pass hook_name"):
        sae_hook_name(DuckSAE(8, 16))


# ----------------------------------------------------------------------------- directions
def test_directions_of_a_neuron_and_of_latents(model):
    W_out = model.blocks[1].mlp.W_out.detach()                           # [d_mlp d_model]
    assert torch.equal(neuron_direction(model, 1, 7), W_out[7])
    one_hot = torch.zeros(model.cfg.d_mlp)
    one_hot[7] = 1.0
    torch.testing.assert_close(residual_direction(model, "blocks.1.mlp.hook_post", one_hot), W_out[7])
    from minigpt.sae import SAE

    mlp_sae = SAE(model.cfg.d_mlp, 32, hook_name="blocks.1.mlp.hook_post")
    torch.testing.assert_close(latent_direction(model, mlp_sae, 3), mlp_sae.W_dec[3].detach() @ W_out)
    resid_sae = DuckSAE(model.cfg.d_model, 32)
    assert torch.equal(latent_direction(model, resid_sae, 3, "blocks.1.hook_resid_pre"), resid_sae.W_dec[3])
    with pytest.raises(ValueError, match=r"shape \[128\]"):
        latent_direction(model, mlp_sae, 3, "blocks.1.hook_resid_post")   # d_mlp rows on a d_model hook
    with pytest.raises(ValueError, match="no residual direction"):
        residual_direction(model, "blocks.1.attn.hook_pattern", torch.zeros(4))
    with pytest.raises(ValueError, match="out of range"):
        latent_direction(model, mlp_sae, 32)


def test_a_hook_z_direction_is_what_attn_out_moves_by(model, tokens):
    """The oracle is the model: adding the vector to hook_z at one position moves hook_attn_out by the direction."""
    cfg = model.cfg
    vector = torch.randn(cfg.n_heads * cfg.d_head, generator=torch.Generator().manual_seed(3))
    name = "blocks.0.attn.hook_z"

    def add(z, hook):
        z[:, 4] += vector.reshape(cfg.n_heads, cfg.d_head)
        return z

    _, clean = model.run_with_cache(tokens, names_filter="blocks.0.hook_attn_out")
    with model.hooks(fwd_hooks=[(name, add)]):
        _, moved = model.run_with_cache(tokens, names_filter="blocks.0.hook_attn_out")
    delta = moved["blocks.0.hook_attn_out"][:, 4] - clean["blocks.0.hook_attn_out"][:, 4]   # [batch d_model]
    torch.testing.assert_close(delta, residual_direction(model, name, vector).expand_as(delta), atol=1e-4, rtol=1e-4)


# ----------------------------------------------------------------------------- logit effects
def test_direct_logit_effect_is_the_model_with_the_final_scale_frozen(model, tokens):
    """Add the direction to the last residual with ln_final's scale held at its clean value: the logits move by
    exactly effect / scale (the LayerNorm is then linear)."""
    last = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
    direction = neuron_direction(model, 1, 42)
    logits, cache = model.run_with_cache(tokens, names_filter="ln_final.hook_scale")
    scale = cache["ln_final.hook_scale"]                                 # [batch pos 1]

    def add(resid, hook):
        return resid + direction

    with model.hooks(fwd_hooks=[(last, add), ("ln_final.hook_scale", lambda s, hook: scale)]):
        moved = model(tokens)
    expected = direct_logit_effect(model, direction) / scale              # [batch pos d_vocab]
    torch.testing.assert_close(moved - logits, expected, atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("norm", ["LN", "LNPre", None])
def test_direct_logit_effect_equals_transformer_lens_folded_unembed(norm):
    pytest.importorskip("transformer_lens")
    from minigpt.testing import tl_twin

    model = GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2, d_mlp=32, d_vocab=40, n_ctx=8, seed=0,
                          normalization_type=norm)).eval()
    if norm == "LN":
        with torch.no_grad():
            model.ln_final.w.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(0))
    twin = tl_twin(model, fold_ln=norm == "LN")                           # TL folds ln_final.w into W_U
    direction = neuron_direction(model, 0, 5)
    centred = direction - direction.mean() if norm else direction         # TL's center_writing_weights
    torch.testing.assert_close(direct_logit_effect(model, direction), centred @ twin.W_U.detach(), atol=1e-5, rtol=1e-5)


def test_logit_effect_tops(model):
    direction = neuron_direction(model, 0, 11)
    effect = direct_logit_effect(model, direction)
    promoted, suppressed = logit_effect(model, direction, k=5)
    assert [t.token for t in promoted] == effect.topk(5).indices.tolist()
    assert [t.token for t in suppressed] == (-effect).topk(5).indices.tolist()
    assert [t.value for t in suppressed] == sorted(t.value for t in suppressed)   # most negative first
    assert [t.text for t in promoted] == model.to_str_tokens([t.token for t in promoted])
    assert promoted[0].value == pytest.approx(float(effect.max()))
    with pytest.raises(ValueError, match=r"d_model = 128"):
        direct_logit_effect(model, torch.zeros(512))
