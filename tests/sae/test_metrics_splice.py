"""Metrics by hand and against their definitions; splicing an SAE into a model, its hooks reachable."""

from __future__ import annotations

import pytest
import torch

from minigpt import GPT, GPTConfig
from minigpt.sae import (SAE, dead_fraction, fraction_variance_explained, l0, loss_recovered, model_activations,
                         run_with_cache_with_sae, run_with_sae, sae_metrics, spliced, spliced_losses)

HOOK = "blocks.0.mlp.hook_post"


@pytest.fixture(scope="module")
def model():
    return GPT(GPTConfig(n_layers=2, d_model=16, d_mlp=12, n_heads=2, d_vocab=20, n_ctx=10, act_fn="relu",
                         seed=0)).eval()


@pytest.fixture(scope="module")
def tokens():
    return torch.randint(0, 20, (6, 10), generator=torch.Generator().manual_seed(0))


def exact_sae(d_in: int, hook_name: str = HOOK) -> SAE:
    """A ReLU SAE that reconstructs any input exactly: x = relu(x) - relu(-x), rows +e_i and -e_i (unit norm)."""
    sae = SAE(d_in, 2 * d_in, kind="relu", hook_name=hook_name)
    eye = torch.eye(d_in)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], dim=1))
        sae.W_dec.copy_(torch.cat([eye, -eye], dim=0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


def test_metrics_by_hand():
    acts = torch.tensor([[0.0, 1.0, 2.0, 0.0], [0.0, 0.0, 5.0, 0.0], [0.0, 3.0, 0.0, 0.0]])
    assert l0(acts) == pytest.approx(4 / 3)
    assert dead_fraction(acts) == 0.5  # latents 0 and 3
    x = torch.tensor([[2.0, 0.0], [0.0, 2.0], [-2.0, -2.0]])  # mean [0, 0], total sum of squares 16
    x_hat = x + torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])  # residual sum of squares 2
    assert fraction_variance_explained(x, x_hat) == pytest.approx(1 - 2 / 16)
    assert fraction_variance_explained(x, x) == 1.0
    assert fraction_variance_explained(x, x.mean(0).expand_as(x)) == pytest.approx(0.0)  # the mean explains 0


def test_sae_metrics_agree_with_the_functions_in_any_chunking():
    sae = SAE(8, 24, kind="topk", k=3, seed=0)
    x = torch.randn(50, 8)
    acts, x_hat = sae.encode(x), sae(x)
    for batch_size in (7, 50):
        got = sae_metrics(sae, x, batch_size=batch_size)
        assert got["l0"] == pytest.approx(l0(acts))
        assert got["fve"] == pytest.approx(fraction_variance_explained(x, x_hat), abs=1e-6)
        assert got["dead"] == pytest.approx(dead_fraction(acts))


def test_spliced_run_equals_a_hand_written_replacement_hook(model, tokens):
    sae = SAE(12, 30, kind="topk", k=4, hook_name=HOOK, seed=1)
    by_hand = model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(HOOK, lambda x, hook: sae(x))])
    assert torch.equal(run_with_sae(model, tokens, sae), by_hand)
    with spliced(model, sae):
        assert torch.equal(model(tokens, return_type="loss"), by_hand)
    assert not any(hp.has_hooks for hp in model.hook_dict.values())  # nothing left behind
    assert not torch.equal(by_hand, model(tokens, return_type="loss"))  # a random SAE does change the loss


def test_loss_recovered_is_one_for_an_exact_sae_and_zero_for_an_empty_one():
    """On the shipped byte-level model, whose MLP matters (a random model's loss barely moves without it)."""
    from minigpt.checkpoints import load_checkpoint

    stdlib = load_checkpoint("stdlib-bytes")
    hook = "blocks.1.mlp.hook_post"
    text = ["def add(a, b):\n    return a + b\n\n", "for i in range(10):\n    print(i)\n  "]
    tokens = torch.cat([stdlib.to_tokens(t)[:, :30] for t in text])  # [2 30]: BOS and 29 bytes of each
    losses = spliced_losses(stdlib, tokens, exact_sae(512, hook))
    assert losses["spliced"] == pytest.approx(losses["clean"], abs=1e-5)
    assert losses["zero_ablated"] > losses["clean"] + 0.3  # measured: 2.07 against 1.63 nats per byte
    assert loss_recovered(stdlib, tokens, exact_sae(512, hook)) == pytest.approx(1.0, abs=1e-4)
    empty = exact_sae(512, hook)
    with torch.no_grad():
        empty.b_enc.fill_(-1e4)  # nothing fires and b_dec is 0: x_hat = 0, the zero ablation itself
    assert loss_recovered(stdlib, tokens, empty) == pytest.approx(0.0, abs=1e-6)
    flipped = exact_sae(512, hook)
    with torch.no_grad():
        flipped.W_dec.neg_()  # x_hat = -x: worse than deleting the activation
    assert loss_recovered(stdlib, tokens, flipped) < 0


def test_the_saes_hooks_are_reachable_spliced(model, tokens):
    sae = SAE(12, 30, kind="relu", hook_name=HOOK, seed=2)
    logits, cache = run_with_cache_with_sae(model, tokens, sae)
    clean = model_activations(model, tokens, HOOK)  # [batch pos d_mlp]
    assert torch.allclose(cache[f"{HOOK}.hook_sae_input"], clean, atol=1e-6)  # (a cache of every name: naive attention)
    assert torch.allclose(cache[f"{HOOK}.hook_sae_acts_post"], sae.encode(clean), atol=1e-5)
    assert torch.allclose(cache[HOOK], sae(clean), atol=1e-5)  # the model's own hook at the splice point sees x_hat
    assert torch.allclose(logits, run_with_sae(model, tokens, sae, return_type="logits"), atol=1e-5)
    assert "blocks.1.hook_resid_post" in cache
    latent = int(cache[f"{HOOK}.hook_sae_acts_post"].sum((0, 1)).argmax())

    def ablate(acts, hook):
        acts = acts.clone()
        acts[..., latent] = 0
        return acts

    name = f"{HOOK}.hook_sae_acts_post"
    patched = run_with_sae(model, tokens, sae, return_type="logits", use_error_term=True, fwd_hooks=[(name, ablate)])
    # with the error term only the latent's own share leaves the MLP: its decoder row times its activation
    by_hand = model.run_with_hooks(tokens, fwd_hooks=[(HOOK, lambda x, hook: x - sae.encode(x)[..., latent, None]
                                                       * sae.W_dec[latent])])
    assert torch.allclose(patched, by_hand, atol=1e-5)
    _, only = run_with_cache_with_sae(model, tokens, sae, names_filter=lambda n: n.endswith("acts_post"))
    assert list(only) == [name]


def test_splicing_needs_a_hook_name(model, tokens):
    with pytest.raises(ValueError, match="name the hook to splice at"):
        run_with_sae(model, tokens, SAE(12, 30))
    with pytest.raises(KeyError, match="no hook point named"):
        run_with_sae(model, tokens, SAE(12, 30), "blocks.0.mlp.hook_pots")
