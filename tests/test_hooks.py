"""Hook points, run_with_hooks, run_with_cache and the cache's semantics."""

from __future__ import annotations

import pytest
import torch

from minigpt import GPT, ActivationCache
from minigpt.cache import act_name
from tests.helpers import small_config

EXPECTED_NAMES = [
    "hook_embed", "hook_pos_embed",
    "blocks.0.hook_resid_pre", "blocks.0.ln1.hook_scale", "blocks.0.ln1.hook_normalized",
    "blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_v",
    "blocks.0.attn.hook_attn_scores", "blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z",
    "blocks.0.attn.hook_result", "blocks.0.hook_attn_out", "blocks.0.hook_resid_mid",
    "blocks.0.ln2.hook_scale", "blocks.0.ln2.hook_normalized",
    "blocks.0.mlp.hook_pre", "blocks.0.mlp.hook_post", "blocks.0.hook_mlp_out",
    "blocks.0.hook_resid_post", "ln_final.hook_scale", "ln_final.hook_normalized",
    "unembed.hook_in", "unembed.hook_out",
]


def test_every_transformerlens_name_exists(small_model):
    assert set(EXPECTED_NAMES) <= set(small_model.hook_names())


def test_cache_shapes_and_semantics(small_model, tokens):
    cfg = small_model.cfg
    with torch.no_grad():
        logits, cache = small_model.run_with_cache(tokens)
        torch.testing.assert_close(logits, small_model(tokens), atol=1e-5, rtol=1e-5)
    b, p = tokens.shape
    assert isinstance(cache, ActivationCache) and len(cache) == len(small_model.hook_names())
    assert cache["blocks.0.attn.hook_q"].shape == (b, p, cfg.n_heads, cfg.d_head)
    assert cache["z", 1].shape == (b, p, cfg.n_heads, cfg.d_head)
    assert cache["result", 1].shape == (b, p, cfg.n_heads, cfg.d_model)
    assert cache["pre", 0].shape == (b, p, cfg.d_mlp)
    assert cache["scale", 0, "ln2"].shape == (b, p, 1)
    pattern = cache["pattern", 0]
    assert pattern.shape == (b, cfg.n_heads, p, p)
    assert pattern is cache["blocks.0.attn.hook_pattern"]
    torch.testing.assert_close(pattern.sum(-1), torch.ones(b, cfg.n_heads, p))
    assert (pattern.triu(diagonal=1) == 0).all()
    assert torch.isinf(cache["attn_scores", 0].triu(diagonal=1)[..., 0, 1:]).all()
    for L in range(cfg.n_layers):
        torch.testing.assert_close(cache["resid_mid", L], cache["resid_pre", L] + cache["attn_out", L])
        torch.testing.assert_close(cache["resid_post", L], cache["resid_mid", L] + cache["mlp_out", L])
        torch.testing.assert_close(cache["attn_out", L], cache["result", L].sum(2) + small_model.blocks[L].attn.b_O)
    torch.testing.assert_close(cache["resid_post", 0], cache["resid_pre", 1])
    assert cache["resid_post", -1] is cache["blocks.1.hook_resid_post"]
    assert cache["normalized", 0, "ln1"] is cache["blocks.0.ln1.hook_normalized"]
    torch.testing.assert_close(cache["resid_pre", 0], cache["embed"] + cache["pos_embed"])
    # hook_normalized holds (x - mean) / scale, before w and b (TransformerLens's semantics)
    torch.testing.assert_close(
        cache["normalized", 0, "ln1"], torch.nn.functional.layer_norm(cache["resid_pre", 0], (cfg.d_model,))
    )
    torch.testing.assert_close(cache["unembed.hook_in"], cache["normalized"] * small_model.ln_final.w + small_model.ln_final.b)
    assert cache["unembed.hook_out"] is not None and torch.equal(cache["unembed.hook_out"], logits)


def test_names_filter_caches_only_what_it_names(small_model, tokens):
    _, cache = small_model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
    assert sorted(cache) == ["blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"]
    _, cache = small_model.run_with_cache(tokens, names_filter="blocks.1.hook_resid_post")
    assert list(cache) == ["blocks.1.hook_resid_post"]
    _, cache = small_model.run_with_cache(tokens, names_filter=["hook_embed", "blocks.0.mlp.hook_post"])
    assert sorted(cache) == ["blocks.0.mlp.hook_post", "hook_embed"]
    with pytest.raises(KeyError, match="not in the cache"):
        cache["pattern", 0]


def test_incl_bwd_caches_gradients(small_model, tokens):
    loss, cache = small_model.run_with_cache(tokens, return_type="loss", incl_bwd=True)
    grad = cache["blocks.1.hook_resid_post_grad"]
    assert grad.shape == cache["resid_post", 1].shape and grad.abs().sum() > 0
    # the gradient of the loss with respect to the final residual, checked by autograd directly
    resid = cache["resid_post", 1].clone().requires_grad_()
    logits = small_model.unembed(small_model.ln_final(resid))
    from minigpt.model import next_token_loss

    expected, = torch.autograd.grad(next_token_loss(logits, tokens), resid)
    torch.testing.assert_close(grad, expected, atol=1e-6, rtol=1e-4)
    assert all(not hp.has_hooks for hp in small_model.hook_dict.values())


def test_a_hook_can_change_the_output(small_model, tokens):
    """Zeroing head 2's z equals recomputing attn_out by hand without that head."""

    def zero_head_2(z, hook):
        z = z.clone()
        z[:, :, 2] = 0
        return z

    with torch.no_grad():
        clean, cache = small_model.run_with_cache(tokens)
        patched = small_model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.attn.hook_z", zero_head_2)])
        attn = small_model.blocks[0].attn
        z = cache["z", 0].clone()
        z[:, :, 2] = 0
        by_hand = torch.einsum("bphe,hed->bpd", z, attn.W_O) + attn.b_O
        replaced = small_model.run_with_hooks(
            tokens, fwd_hooks=[("blocks.0.hook_attn_out", lambda x, hook: by_hand)]
        )
    assert not torch.allclose(clean, patched)
    torch.testing.assert_close(replaced, patched, atol=1e-5, rtol=1e-5)


def test_hooks_are_removed_even_when_the_forward_raises(small_model, tokens):
    def boom(x, hook):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        small_model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.hook_resid_pre", boom)])
    assert all(not hp.has_hooks for hp in small_model.hook_dict.values())
    with pytest.raises(RuntimeError):
        with small_model.hooks(fwd_hooks=[(lambda n: "mlp" in n, boom)]):
            small_model(tokens)
    assert all(not hp.has_hooks for hp in small_model.hook_dict.values())


def test_hooks_context_manager_and_backward_hooks(small_model, tokens):
    grads = {}

    def save(g, hook):
        grads[hook.name] = g

    with small_model.hooks(bwd_hooks=[("blocks.0.hook_resid_post", save)]):
        small_model(tokens, return_type="loss").backward()
    assert grads["blocks.0.hook_resid_post"].shape == (3, 17, 48)
    # run_with_hooks: the backward hook fires at the later .backward(), and only for that pass
    grads.clear()
    loss = small_model.run_with_hooks(tokens, return_type="loss", bwd_hooks=[("hook_embed", save)])
    assert not grads
    loss.backward()
    assert grads["hook_embed"].shape == (3, 17, 48)
    grads.clear()
    small_model(tokens, return_type="loss").backward()
    assert not grads


def test_unknown_hook_name_suggests_the_closest(small_model, tokens):
    with pytest.raises(KeyError, match="blocks.0.attn.hook_pattern"):
        small_model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.attn.hook_patern", lambda x, hook: x)])
    with pytest.raises(KeyError, match="hook_names"):
        small_model.run_with_cache(tokens, names_filter=["no_such_thing"])


def test_a_hook_returning_the_wrong_type_is_named(small_model, tokens):
    with pytest.raises(TypeError, match="blocks.0.hook_mlp_out"):
        small_model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.hook_mlp_out", lambda x, hook: 1.0)])


def test_act_name_and_attn_only_models():
    assert act_name("pattern", 3) == "blocks.3.attn.hook_pattern"
    assert act_name("normalized", 1, "ln2") == "blocks.1.ln2.hook_normalized"
    assert act_name("resid_pre", 0) == "blocks.0.hook_resid_pre"
    assert act_name("post", 2) == "blocks.2.mlp.hook_post"
    assert act_name("scale") == "ln_final.hook_scale"
    model = GPT(small_config(attn_only=True, normalization_type=None, n_layers=1))
    names = model.hook_names()
    assert "blocks.0.hook_resid_mid" not in names and "blocks.0.mlp.hook_pre" not in names
    _, cache = model.run_with_cache(torch.tensor([[1, 2, 3]]))
    torch.testing.assert_close(cache["resid_post", 0], cache["resid_pre", 0] + cache["attn_out", 0])


def test_cache_helpers(small_model, tokens):
    _, cache = small_model.run_with_cache(tokens[:1])
    assert cache.stack("pattern").shape == (2, 1, 4, 17, 17)
    single = cache.remove_batch_dim()
    assert single["resid_pre", 0].shape == (17, 48)
    _, cache3 = small_model.run_with_cache(tokens)
    with pytest.raises(ValueError, match="batch size"):
        cache3.remove_batch_dim()


def test_layer_norm_scale_hook_reads_and_replaces(small_model, tokens):
    """Reading the scale changes nothing; freezing it (as in direct logit attribution) is honoured."""
    from minigpt.functional import layer_norm

    ln = small_model.ln_final
    with torch.no_grad():  # w and b away from 1 and 0, so normalised-before-w-and-b shows
        ln.w.mul_(torch.linspace(0.5, 1.5, ln.w.numel()))
        ln.b.add_(0.3)
    _, cache = small_model.run_with_cache(tokens, names_filter=lambda n: n.startswith(("ln_final", "unembed")) or n.endswith("resid_post"))
    resid = cache["resid_post", -1]
    torch.testing.assert_close(cache["ln_final.hook_normalized"], layer_norm(resid, eps=ln.eps))  # before w, b
    torch.testing.assert_close(cache["unembed.hook_in"], layer_norm(resid, ln.w, ln.b, ln.eps))
    torch.testing.assert_close(cache["scale"], (resid.var(-1, keepdim=True, unbiased=False) + ln.eps).sqrt())
    frozen = torch.full_like(cache["scale"], 2.0)
    for in_place in (False, True):
        def freeze(scale, hook):
            if in_place:
                scale.fill_(2.0)
                return None
            return frozen

        seen = {}
        with small_model.hooks(fwd_hooks=[("ln_final.hook_scale", freeze),
                                          ("ln_final.hook_normalized", lambda x, hook: seen.setdefault("n", x)),
                                          ("unembed.hook_in", lambda x, hook: seen.setdefault("out", x))]):
            small_model(tokens)
        expected = (resid - resid.mean(-1, keepdim=True)) / 2.0
        torch.testing.assert_close(seen["n"], expected)
        torch.testing.assert_close(seen["out"], expected * ln.w + ln.b)


def test_hook_normalized_can_be_replaced(small_model, tokens):
    """A hook on hook_normalized that returns a new tensor changes what w and b scale (the LayerNorm's output)."""
    ln = small_model.blocks[1].ln2
    with torch.no_grad():
        ln.w.fill_(2.0)
        ln.b.fill_(0.5)
        seen = {}
        small_model.run_with_hooks(tokens, fwd_hooks=[
            ("blocks.1.ln2.hook_normalized", lambda n, hook: torch.ones_like(n)),
            ("blocks.1.mlp.hook_pre", lambda pre, hook: seen.setdefault("pre", pre.clone())),
        ])
    mlp = small_model.blocks[1].mlp
    torch.testing.assert_close(seen["pre"], (torch.full((3, 17, 48), 2.5) @ mlp.W_in + mlp.b_in).detach())


def test_per_head_results_are_computed_when_read(small_model, tokens):
    """``hook_result`` is derived from ``hook_z`` lazily, with the weights of caching time."""
    with torch.no_grad():
        _, lazy = small_model.run_with_cache(tokens, names_filter=lambda n: n.endswith(("hook_result", "attn_out")))
        assert sorted(lazy) == sorted(
            f"blocks.{L}.{n}" for L in range(2) for n in ("attn.hook_result", "hook_attn_out")
        )
        assert "blocks.0.attn.hook_z" not in lazy and "blocks.0.attn.hook_result" not in lazy._store
        eager = {}
        with small_model.hooks(fwd_hooks=[("blocks.0.attn.hook_result", lambda r, hook: eager.setdefault("r", r))]):
            small_model(tokens)  # a hook on hook_result makes the model compute it for real
        W_O = small_model.blocks[0].attn.W_O
        saved = W_O.clone()
        W_O.zero_()  # changing the weights after caching does not change the cached results
        try:
            torch.testing.assert_close(lazy["result", 0], eager["r"])
        finally:
            W_O.copy_(saved)
        torch.testing.assert_close(lazy["result", 0].sum(2) + small_model.blocks[0].attn.b_O, lazy["attn_out", 0])
