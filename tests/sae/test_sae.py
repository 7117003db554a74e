"""The SAE module: shapes, the three activations and their gradients, the loss, the unit decoder, files."""

from __future__ import annotations

import pytest
import torch

from minigpt.sae import SAE, SAEConfig, jumprelu, load_sae, step, topk_relu
from minigpt.sae.activations import rectangle


@pytest.mark.parametrize("kind, k", [("relu", None), ("topk", 3), ("jumprelu", None)])
def test_shapes_and_unit_decoder_rows(kind, k):
    sae = SAE(d_in=6, d_sae=20, kind=kind, k=k, seed=1)
    assert sae.W_enc.shape == (6, 20) and sae.b_enc.shape == (20,)
    assert sae.W_dec.shape == (20, 6) and sae.b_dec.shape == (6,)
    assert torch.allclose(sae.W_dec.norm(dim=-1), torch.ones(20))
    x = torch.randn(2, 5, 6)  # [batch pos d_in]
    acts = sae.encode(x)
    assert acts.shape == (2, 5, 20) and (acts >= 0).all()
    assert sae(x).shape == sae.decode(acts).shape == (2, 5, 6)
    assert torch.allclose(sae(x), acts @ sae.W_dec + sae.b_dec)


def test_b_dec_is_subtracted_before_encoding():
    sae = SAE(d_in=4, d_sae=8, seed=0)
    x = torch.randn(4)
    with torch.no_grad():
        sae.b_dec.copy_(x)
        sae.b_enc.copy_(torch.arange(8.0) - 4)
    assert torch.equal(sae.pre_acts(x), sae.b_enc)  # (x - b_dec) W_enc + b_enc with x = b_dec
    assert torch.equal(sae.encode(x), (torch.arange(8.0) - 4).relu())


def test_topk_keeps_the_k_largest_latents_of_each_token():
    pre = torch.randn(7, 3, 50)  # [batch pos d_sae]
    acts = topk_relu(pre, k=5)
    assert ((acts > 0).sum(-1) <= 5).all()
    kept = pre.topk(5, dim=-1).indices
    assert torch.equal(acts.gather(-1, kept), pre.gather(-1, kept).relu())
    acts[torch.zeros_like(acts, dtype=torch.bool).scatter(-1, kept, True)] = 0
    assert (acts == 0).all()  # nothing outside the top 5 of its own token
    assert torch.equal(topk_relu(torch.tensor([[-1.0, -2.0]]), k=1), torch.zeros(1, 2))  # ReLU'd: never negative
    with pytest.raises(ValueError, match="k must be between 1 and d_sae"):
        topk_relu(pre, k=51)


def test_jumprelu_forward_and_pseudo_derivatives_by_hand():
    bandwidth = 0.2
    pre = torch.tensor([[0.95, 1.05, 1.5, 0.5], [1.02, 0.0, 0.91, 2.0]], requires_grad=True)  # [batch d_sae]
    threshold = torch.tensor([1.0, 1.0, 1.0, 1.0], requires_grad=True)
    out = jumprelu(pre, threshold, bandwidth)
    assert torch.allclose(out, torch.tensor([[0.0, 1.05, 1.5, 0.0], [1.02, 0.0, 0.0, 2.0]]))
    out.sum().backward()
    assert torch.equal(pre.grad, (pre > threshold).float().detach())  # the true derivative in pre
    # rect((pre - 1) / 0.2) is 1 for |pre - 1| < 0.1: 0.95, 1.05 (latents 0, 1), 1.02 (latent 0), 0.91 (latent 2)
    assert torch.allclose(threshold.grad, -(1.0 / bandwidth) * torch.tensor([2.0, 1.0, 1.0, 0.0]))
    pre.grad, threshold.grad = None, None
    l0 = step(pre, threshold, bandwidth).sum()
    assert l0.item() == 4  # 1.05, 1.5, 1.02, 2.0
    l0.backward()
    assert torch.equal(pre.grad, torch.zeros_like(pre))  # the L0 moves only the thresholds
    assert torch.allclose(threshold.grad, -(1.0 / bandwidth) * torch.tensor([2.0, 1.0, 1.0, 0.0]))
    assert torch.equal(rectangle(torch.tensor([-0.5, 0.5, 0.49])), torch.tensor([0.0, 0.0, 1.0]))


@pytest.mark.parametrize("kind, coeff", [("relu", 0.3), ("topk", 0.0), ("jumprelu", 0.7)])
def test_loss_parts(kind, coeff):
    sae = SAE(d_in=5, d_sae=12, kind=kind, k=4 if kind == "topk" else None, seed=2)
    x = torch.randn(9, 5)
    out = sae.loss(x, coeff)
    assert torch.allclose(out.x_hat, sae(x)) and torch.allclose(out.acts, sae.encode(x))
    assert torch.allclose(out.mse, (sae(x) - x).pow(2).sum(-1).mean())
    pre = sae.pre_acts(x)
    if kind == "relu":
        expected = pre.relu().sum(-1).mean()  # L1 of the post-ReLU activations, not of pre
    elif kind == "jumprelu":
        expected = (pre > sae.threshold).float().sum(-1).mean()  # L0
    else:
        expected = torch.tensor(0.0)
    assert torch.allclose(out.sparsity, expected)
    assert torch.allclose(out.loss, out.mse + coeff * out.sparsity)


def test_hooks_cache_and_patch_the_sae():
    sae = SAE(d_in=4, d_sae=10, kind="topk", k=2, seed=0)
    x = torch.randn(3, 4)
    _, cache = sae.run_with_cache(x)
    assert set(cache) >= {"hook_sae_input", "hook_sae_acts_pre", "hook_sae_acts_post", "hook_sae_recons"}
    assert torch.equal(cache["hook_sae_acts_post"], topk_relu(cache["hook_sae_acts_pre"], 2))
    zeroed = sae.run_with_hooks(x, fwd_hooks=[("hook_sae_acts_post", lambda a, hook: torch.zeros_like(a))])
    assert torch.allclose(zeroed, sae.b_dec.expand(3, 4))  # no latent: only the decoder bias is left
    assert torch.allclose(sae(x, use_error_term=True), x, atol=1e-6)  # x_hat + (x - x_hat)


def test_errors_a_learner_can_act_on(tmp_path):
    with pytest.raises(ValueError, match="kind must be one of"):
        SAE(4, 8, kind="gelu")
    with pytest.raises(ValueError, match="needs k"):
        SAE(4, 8, kind="topk")
    with pytest.raises(ValueError, match="for kind='topk' only"):
        SAE(4, 8, kind="relu", k=2)
    sae = SAE(4, 8, hook_name="blocks.0.mlp.hook_post")
    with pytest.raises(ValueError, match=r"d_in=4 .* shape \(2, 5\) .* blocks.0.mlp.hook_post"):
        sae(torch.zeros(2, 5))
    with pytest.raises(FileNotFoundError, match="no SAE 'nowhere'"):
        load_sae("nowhere")
    (tmp_path / "cfg.json").write_text('{"d_in": 4, "d_sae": 8, "kind": "relu"}')
    with pytest.raises(ValueError, match="could not read .*sae_weights.safetensors"):
        load_sae(tmp_path)


@pytest.mark.parametrize("kind, k", [("relu", None), ("topk", 2), ("jumprelu", None)])
def test_save_and_load_round_trip(tmp_path, kind, k):
    sae = SAE(d_in=4, d_sae=8, kind=kind, k=k, hook_name="blocks.1.mlp.hook_post", model_name="m", seed=3)
    with torch.no_grad():
        for p in sae.parameters():
            p.add_(torch.rand_like(p))  # every parameter away from its initial value
    sae.save(tmp_path / "sae")
    again = SAE.load(tmp_path / "sae")
    assert again.cfg == sae.cfg == SAEConfig.from_dict(sae.cfg.to_dict())
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), sae.state_dict().values()))
    assert sorted(p.name for p in (tmp_path / "sae").iterdir()) == ["cfg.json", "sae_weights.safetensors"]
