"""Training: the planted-features test (known ground truth), unit decoder rows, resampling, the folded scale."""

from __future__ import annotations

import pytest
import torch

from minigpt.sae import (SAE, fold_input_scale_, input_scale, normalise_decoder_, remove_parallel_grad_,
                         resample_dead_, train_sae)


def planted_features(n_features: int = 32, d_in: int = 16, p: float = 0.05, n: int = 20_000, seed: int = 0):
    """``x [n d_in]``: each of ``n_features`` random unit directions is on with probability ``p``, at a
    magnitude drawn from U(0, 1); returns ``(x, directions [n_features d_in])``."""
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn(n_features, d_in, generator=generator)
    directions /= directions.norm(dim=-1, keepdim=True)
    on = torch.rand(n, n_features, generator=generator) < p
    magnitude = torch.rand(n, n_features, generator=generator)
    return (on * magnitude) @ directions, directions


def recovered(W_dec: torch.Tensor, directions: torch.Tensor, min_cos: float = 0.9) -> float:
    """The share of true directions that some decoder row matches with cosine >= ``min_cos``."""
    cos = directions @ (W_dec / W_dec.norm(dim=-1, keepdim=True)).T  # [n_features d_sae]
    return (cos.max(dim=1).values >= min_cos).float().mean().item()


# Measured (1,000 steps of 256 rows, lr 1e-2, 64 latents, data seeds 100-103, SAE seeds 0-3): relu (l1 2.0)
# 1.00/1.00/1.00/1.00, topk (k 4) 0.97/0.97/0.94/1.00, jumprelu (l0 3.0) 1.00/1.00/0.97/0.91; each ~1.5 s of CPU.
@pytest.mark.parametrize("kind, kw", [("relu", dict(l1_coeff=2.0)), ("topk", dict(k=4)),
                                      ("jumprelu", dict(l0_coeff=3.0))])
def test_planted_features_are_recovered(kind, kw):
    x, directions = planted_features(seed=100)  # not the SAE's seed: its initial rows would be the answer
    result = train_sae(x, 64, kind=kind, steps=1000, lr=1e-2, batch_size=256, seed=0, progress=False, **kw)
    assert recovered(result.sae.W_dec, directions) >= 0.9
    assert result.history[-1]["fve"] >= 0.85
    assert result.history[-1]["l0"] <= 5  # the truth: 32 x 0.05 = 1.6 features per row
    assert torch.allclose(result.sae.W_dec.norm(dim=-1), torch.ones(64), atol=1e-5)
    assert recovered(SAE(16, 64, seed=0).W_dec, directions) < 0.1  # an untrained SAE recovers (almost) none


def test_the_gradient_along_a_row_is_removed_and_rows_stay_unit():
    W_dec = torch.randn(10, 6)
    grad = torch.randn(10, 6)
    remove_parallel_grad_(W_dec, grad)
    assert torch.allclose((grad * W_dec).sum(-1), torch.zeros(10), atol=1e-5)  # tangent to every row
    assert torch.allclose(normalise_decoder_(W_dec).norm(dim=-1), torch.ones(10))


def test_resampling_aims_dead_latents_at_badly_reconstructed_inputs():
    torch.manual_seed(0)
    sae = SAE(d_in=4, d_sae=6, kind="relu", seed=0)
    optimizer = torch.optim.Adam(sae.parameters())
    sae.loss(torch.randn(8, 4), 0.1).loss.backward()
    optimizer.step()  # Adam now has moments
    before = {name: p.detach().clone() for name, p in sae.named_parameters()}
    x = torch.zeros(5, 4)
    x[3] = torch.tensor([0.0, 3.0, 0.0, 4.0])  # the only badly reconstructed row (the others are 0 ... almost)
    with torch.no_grad():
        sae.b_dec.zero_()
        sae.b_enc.fill_(-100.0)  # nothing fires: x_hat = 0, so the residual of row 3 is row 3 itself
    dead = torch.tensor([False, True, False, False, True, False])
    assert resample_dead_(sae, x, dead, generator=torch.Generator().manual_seed(0), optimizer=optimizer) == 2
    for latent in (1, 4):
        assert torch.allclose(sae.W_dec[latent], torch.tensor([0.0, 0.6, 0.0, 0.8]))
        assert sae.b_enc[latent] == 0
        assert torch.allclose(sae.W_enc[:, latent] / sae.W_enc[:, latent].norm(), sae.W_dec[latent])
        assert (optimizer.state[sae.W_dec]["exp_avg"][latent] == 0).all()
    alive = ~dead
    assert torch.equal(sae.W_dec[alive], before["W_dec"][alive])
    assert torch.allclose(sae.W_enc[:, 1].norm(), 0.2 * before["W_enc"][:, alive].norm(dim=0).mean())
    assert (optimizer.state[sae.W_dec]["exp_avg"][alive] != 0).any()


def test_dead_latents_are_resampled_during_training():
    x, _ = planted_features(n_features=4, p=0.2, n=4000, seed=100)  # 4 features for 64 latents: most go unused
    kw = dict(kind="relu", l1_coeff=2.0, steps=300, lr=1e-2, batch_size=128, seed=0, progress=False)
    result = train_sae(x, 64, resample_every=100, **kw)
    never = train_sae(x, 64, resample_every=None, **kw)
    assert result.resampled and all(step % 100 == 0 and n > 0 for step, n in result.resampled)
    assert never.resampled == []
    assert result.history[-1]["dead"] < never.history[-1]["dead"], (result.history[-1], never.history[-1])


@pytest.mark.parametrize("kind, k", [("relu", None), ("topk", 3), ("jumprelu", None)])
def test_the_folded_scale_reads_raw_activations(kind, k):
    sae = SAE(d_in=5, d_sae=16, kind=kind, k=k, seed=4)
    with torch.no_grad():
        sae.b_dec.normal_()
        sae.b_enc.normal_()
        if kind == "jumprelu":
            sae.threshold.fill_(0.3)
    x = 7.0 * torch.randn(10, 5)
    scale = input_scale(x)
    assert torch.allclose((x * scale).norm(dim=-1).mean(), torch.tensor(5 ** 0.5))
    expected_acts, expected_x_hat = sae.encode(x * scale) / scale, sae(x * scale) / scale
    fold_input_scale_(sae, scale)
    assert torch.allclose(sae.encode(x), expected_acts, atol=1e-5)
    assert torch.allclose(sae(x), expected_x_hat, atol=1e-5)


def test_bad_arguments_say_what_is_missing():
    with pytest.raises(ValueError, match="needs l1_coeff"):
        train_sae(torch.randn(100, 4), 8, kind="relu", steps=1, progress=False)
    with pytest.raises(ValueError, match="needs l0_coeff"):
        train_sae(torch.randn(100, 4), 8, kind="jumprelu", steps=1, progress=False)
    with pytest.raises(ValueError, match=r"\[\.\.\. d_in\]"):
        train_sae(torch.randn(100), 8, kind="topk", k=2, steps=1, progress=False)
