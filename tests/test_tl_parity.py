"""Every cached activation equals TransformerLens 3.9's on the same weights (names, shapes, values to 1e-4).

For each geometry a minigpt model (biases and LayerNorm parameters perturbed away from 0
and 1, so a mix-up shows) and its TransformerLens twin (:func:`minigpt.testing.tl_twin`)
run the same tokens through ``run_with_cache``. Every name TransformerLens records must be
in our cache (we may record more, e.g. the lazy ``attn.hook_result``), with its shape and
values. Likewise the gradients (``incl_bwd=True``), the folded LayerNorms (ours
``fold_ln`` vs theirs) and the hook points the split-input flags add, including a
patching intervention on ``hook_k_input``.
"""

from __future__ import annotations

import functools

import einops
import pytest
import torch

tl = pytest.importorskip("transformer_lens")

from minigpt import GPT, GPTConfig  # noqa: E402
from minigpt.attention import list_attention  # noqa: E402
from minigpt.testing import tl_twin  # noqa: E402
from minigpt.weights.processing import fold_ln  # noqa: E402

TOL = 1e-4
GEOMETRIES = {
    "gpt2": dict(n_layers=2, d_model=64, n_heads=4, d_vocab=101, n_ctx=16),
    "attn_only, d_head 7 x 5 heads != d_model 24": dict(n_layers=2, d_model=24, n_heads=5, d_head=7, d_vocab=50,
                                                         n_ctx=16, attn_only=True),
    "relu, d_mlp 40": dict(n_layers=2, d_model=20, n_heads=2, d_head=6, d_mlp=40, d_vocab=50, n_ctx=16,
                           act_fn="relu"),
    "gelu (erf)": dict(n_layers=1, d_model=32, n_heads=4, d_vocab=50, n_ctx=16, act_fn="gelu"),
    "silu": dict(n_layers=1, d_model=32, n_heads=2, d_vocab=50, n_ctx=16, act_fn="silu"),
    "no LayerNorm": dict(n_layers=2, d_model=20, n_heads=2, d_head=6, d_mlp=12, d_vocab=50, n_ctx=16,
                         normalization_type=None),
    "LNPre": dict(n_layers=2, d_model=32, n_heads=4, d_vocab=50, n_ctx=16, normalization_type="LNPre"),
    "untied W_U with b_U": dict(n_layers=1, d_model=32, n_heads=4, d_vocab=50, n_ctx=16, tie_embeddings=False,
                                unembed_bias=True),
}


@functools.lru_cache(maxsize=None)
def ours(geometry: str) -> GPT:
    model = GPT(GPTConfig(**GEOMETRIES[geometry], seed=0)).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.split(".")[-1].startswith("W_"):
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    return model


def tokens_for(model: GPT) -> torch.Tensor:
    return torch.randint(0, model.cfg.d_vocab, (2, 7), generator=torch.Generator().manual_seed(2))


def assert_caches_match(mine, theirs, suffix: str = "", skip=()) -> float:
    """TransformerLens's names ⊆ ours; each shape equal and values within TOL. Returns the largest difference."""
    missing = sorted(set(theirs) - set(mine))
    assert not missing, f"TransformerLens records{suffix} {missing}, which minigpt's cache lacks"
    worst = 0.0
    for name in theirs:
        if name in skip:
            continue
        a, b = mine[name], theirs[name]
        assert a.shape == b.shape, f"{name}: minigpt {tuple(a.shape)}, TransformerLens {tuple(b.shape)}"
        torch.testing.assert_close(a, b, atol=TOL, rtol=TOL, msg=lambda m: f"{name}: {m}")
        finite = torch.isfinite(b)
        assert torch.equal(finite, torch.isfinite(a)), f"{name}: the -inf of the masked scores differ"
        worst = max(worst, (a[finite] - b[finite]).abs().max().item() if finite.any() else 0.0)
    return worst


@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_forward_cache_matches_transformer_lens(geometry):
    model = ours(geometry)
    twin = tl_twin(model)
    twin.set_use_attn_result(True)  # TransformerLens records attn.hook_result only when asked; ours always can
    tokens = tokens_for(model)
    with torch.no_grad():
        logits, mine = model.run_with_cache(tokens)
        their_logits, theirs = twin.run_with_cache(tokens)
    torch.testing.assert_close(logits, their_logits, atol=TOL, rtol=TOL)
    assert_caches_match(mine, theirs)
    assert {"unembed.hook_in", "unembed.hook_out", "blocks.0.attn.hook_result"} <= set(theirs)


@pytest.mark.parametrize("geometry", ["gpt2", "attn_only, d_head 7 x 5 heads != d_model 24", "no LayerNorm"])
def test_gradient_cache_matches_transformer_lens(geometry):
    model = ours(geometry)
    twin = tl_twin(model)
    tokens = tokens_for(model)
    loss, mine = model.run_with_cache(tokens, return_type="loss", incl_bwd=True)
    their_loss, theirs = twin.run_with_cache(tokens, return_type="loss", incl_bwd=True)
    torch.testing.assert_close(loss, their_loss, atol=TOL, rtol=TOL)
    grads = {n for n in theirs if n.endswith("_grad")}
    assert grads, "TransformerLens cached no gradient"
    # ln1's gradients differ on purpose. TransformerLens calls ln1 three times (for queries, keys
    # and values, even without split inputs), so its backward hook fires three times and the
    # cache keeps the last: the queries' share only. Ours is the whole gradient, all three paths.
    ln1 = {n for n in grads if ".ln1." in n}
    assert_caches_match(mine, theirs, suffix=" (incl_bwd)", skip=ln1)
    for L, block in enumerate(model.blocks):
        if f"blocks.{L}.ln1.hook_normalized_grad" not in ln1:
            continue
        shares = {n: einops.einsum(mine[f"blocks.{L}.attn.hook_{n}_grad"], getattr(block.attn, f"W_{n.upper()}"),
                                   "batch pos n_heads d_head, n_heads d_model d_head -> batch pos d_model")
                  * block.ln1.w for n in "qkv"}  # each path's share of d loss / d normalized
        torch.testing.assert_close(mine[f"blocks.{L}.ln1.hook_normalized_grad"], sum(shares.values()))
        torch.testing.assert_close(theirs[f"blocks.{L}.ln1.hook_normalized_grad"], shares["q"], atol=1e-9, rtol=1e-4)
    model.zero_grad(set_to_none=True)


@pytest.mark.parametrize("geometry", ["gpt2", "attn_only, d_head 7 x 5 heads != d_model 24", "relu, d_mlp 40"])
def test_folded_layer_norms_match_transformer_lens_fold_ln(geometry):
    """Our ``fold_ln`` (LNPre, reading weights centred) against TransformerLens folding the same raw weights."""
    model = ours(geometry)
    folded, twin = fold_ln(model).eval(), tl_twin(model, fold_ln=True)
    assert twin.cfg.normalization_type == folded.cfg.normalization_type == "LNPre"
    tokens = tokens_for(model)
    with torch.no_grad():
        logits, mine = folded.run_with_cache(tokens)
        their_logits, theirs = twin.run_with_cache(tokens)
        torch.testing.assert_close(logits, model(tokens), atol=TOL, rtol=TOL)
    torch.testing.assert_close(logits, their_logits, atol=TOL, rtol=TOL)
    assert_caches_match(mine, theirs, suffix=" after fold_ln")


# -- the hook points the flags add --------------------------------------------------------------------
FLAGS = {
    "split qkv": ("use_split_qkv_input",),
    "attn_in": ("use_attn_in",),
    "mlp_in": ("use_hook_mlp_in",),
    "all three": ("use_split_qkv_input", "use_attn_in", "use_hook_mlp_in"),
}


def with_flags(model: GPT, flags) -> GPT:
    for flag in flags:
        getattr(model, f"set_{flag}")(True)
    return model


@pytest.fixture
def flagged():
    """A fresh copy of the GPT-2-shaped model, so the flags do not leak into the cached one."""
    import copy

    return copy.deepcopy(ours("gpt2"))


@pytest.mark.parametrize("which", list(FLAGS))
def test_flagged_hooks_match_transformer_lens(flagged, which):
    model = with_flags(flagged, FLAGS[which])
    twin = tl_twin(model)
    tokens = tokens_for(model)
    with torch.no_grad():
        logits, mine = model.run_with_cache(tokens)
        their_logits, theirs = twin.run_with_cache(tokens)
        plain = ours("gpt2")(tokens)
    cfg = model.cfg
    expected = {
        "use_split_qkv_input": ["hook_q_input", "hook_k_input", "hook_v_input"],
        "use_attn_in": ["hook_attn_in"],
        "use_hook_mlp_in": ["hook_mlp_in"],
    }
    for flag in FLAGS[which]:
        for L in range(cfg.n_layers):
            for name in expected[flag]:
                per_head = name != "hook_mlp_in"
                shape = (*tokens.shape, cfg.n_heads, cfg.d_model) if per_head else (*tokens.shape, cfg.d_model)
                assert mine[f"blocks.{L}.{name}"].shape == shape
    torch.testing.assert_close(logits, their_logits, atol=TOL, rtol=TOL)
    torch.testing.assert_close(logits, plain, atol=TOL, rtol=TOL)  # copies change nothing by themselves
    assert_caches_match(mine, theirs, suffix=f" with {which}")


def test_flags_off_cost_no_names_and_unknown_names_say_which_flag(flagged):
    names = set(flagged.hook_names())
    assert not {n for n in names if n.endswith(("_input", "attn_in", "mlp_in"))}
    with pytest.raises(KeyError, match=r"set_use_split_qkv_input\(True\)"):
        flagged.run_with_hooks(tokens_for(flagged), fwd_hooks=[("blocks.0.hook_k_input", lambda x, hook: x)])
    flagged.set_use_split_qkv_input(True)
    flagged.set_use_split_qkv_input(False)
    assert set(flagged.hook_names()) == names
    attn_only = GPT(GPTConfig(**GEOMETRIES["attn_only, d_head 7 x 5 heads != d_model 24"]))
    with pytest.raises(ValueError, match="no MLP"):
        attn_only.set_use_hook_mlp_in(True)


def test_patching_k_input_changes_only_keys_and_matches_transformer_lens(flagged):
    """Path patching's move: one head's key input from a corrupted run; the same logits in both libraries."""
    model = with_flags(flagged, ["use_split_qkv_input"])
    layer, head = 1, 2
    with torch.no_grad():  # sharper attention and louder heads than GPT-2's init: keys matter to the logits
        for W, factor in (("W_Q", 30.0), ("W_K", 30.0), ("W_V", 10.0), ("W_O", 10.0)):
            getattr(model.blocks[layer].attn, W).mul_(factor)
    twin = tl_twin(model)
    clean = tokens_for(model)
    corrupt = torch.randint(0, model.cfg.d_vocab, clean.shape, generator=torch.Generator().manual_seed(3))
    name = f"blocks.{layer}.hook_k_input"
    with torch.no_grad():
        _, corrupt_cache = model.run_with_cache(corrupt, names_filter=name)
        _, clean_cache = model.run_with_cache(clean)

        def patch(k_input, hook):  # [batch pos n_heads d_model]
            k_input[:, :, head] = corrupt_cache[name][:, :, head]
            return k_input

        seen = {}

        def keep(x, hook):
            seen[hook.name] = x.clone()

        attn = f"blocks.{layer}.attn"
        probes = [(f"{attn}.hook_{n}", keep) for n in "qkv"]
        patched = model.run_with_hooks(clean, fwd_hooks=[(name, patch), *probes])
        their_patched = twin.run_with_hooks(clean, fwd_hooks=[(name, patch)])
    torch.testing.assert_close(patched, their_patched, atol=TOL, rtol=TOL)
    assert (patched - model(clean)).abs().max() > 100 * TOL  # the patch moved the logits
    torch.testing.assert_close(seen[f"{attn}.hook_q"], clean_cache[f"{attn}.hook_q"])
    torch.testing.assert_close(seen[f"{attn}.hook_v"], clean_cache[f"{attn}.hook_v"])
    k_changed = (seen[f"{attn}.hook_k"] - clean_cache[f"{attn}.hook_k"]).abs().amax(dim=(0, 1, 3))  # per head
    assert k_changed[head] > 0.1 and k_changed[torch.arange(len(k_changed)) != head].max() < TOL


@pytest.mark.parametrize("kernel", [pytest.param(k, marks=[pytest.mark.slow] if k == "flex" else [])
                                    for k in list_attention(available_only=True)])  # flex compiles: ~13 s
def test_split_inputs_run_on_every_kernel_and_with_a_kv_cache(flagged, kernel):
    """Per-head inputs are projected per head, then any kernel (and the KV cache) takes it from there."""
    tokens = tokens_for(flagged)
    with torch.no_grad():
        expected = flagged(tokens)
        model = with_flags(flagged, ["use_split_qkv_input", "use_attn_in"]).set_attention(kernel)
        torch.testing.assert_close(model(tokens), expected, atol=TOL, rtol=TOL)
        greedy = flagged.generate(tokens[:1, :3], max_new_tokens=4, temperature=0.0, use_kv_cache=True)
        no_cache = flagged.generate(tokens[:1, :3], max_new_tokens=4, temperature=0.0, use_kv_cache=False)
    assert torch.equal(greedy, no_cache)
