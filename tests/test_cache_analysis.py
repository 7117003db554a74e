"""ActivationCache's analysis methods against TransformerLens 3.9's, on the same weights and inputs.

Each method runs on both caches over a grid of arguments (layer None/0/middle/-1/n_layers,
incl_mid, mlp_input, apply_ln, pos_slice None/int/tuple/list, ...), with and without a
batch axis, on three geometries: GPT-2's shape, an attention-only model with
d_head != d_model / n_heads, and one without LayerNorm. Results must agree to 1e-4 and
labels exactly; where TransformerLens raises, ours raises the same type. The few places we
differ on purpose are tested on their own, at the end.
"""

from __future__ import annotations

import itertools

import pytest
import torch

tl = pytest.importorskip("transformer_lens")
pytestmark = [pytest.mark.filterwarnings("ignore:HookedTransformer is deprecated:DeprecationWarning"),
              pytest.mark.usefixtures("one_torch_thread")]

from minigpt import GPT, GPTConfig  # noqa: E402
from minigpt.cache_analysis import LayerOutOfRange  # noqa: E402
from minigpt.slice import Slice  # noqa: E402

TOL = 1e-4
GEOMETRIES = {
    "gpt2": dict(n_layers=3, d_model=16, n_heads=4, d_vocab=256, n_ctx=16),  # d_mlp = 4 d_model
    "attn_only, odd d_head": dict(n_layers=3, d_model=24, n_heads=5, d_head=7, d_vocab=256, n_ctx=16, attn_only=True),
    "no LayerNorm": dict(n_layers=2, d_model=20, n_heads=2, d_head=6, d_mlp=12, d_vocab=256, n_ctx=16,
                         normalization_type=None),
}
POS_SLICES = [None, -1, (1, 4), [0, 2, 5]]


def tl_twin(model: GPT):
    """A ``HookedTransformer`` holding ``model``'s weights."""
    cfg = model.cfg
    twin = tl.HookedTransformer(tl.HookedTransformerConfig(
        n_layers=cfg.n_layers, d_model=cfg.d_model, n_heads=cfg.n_heads, d_head=cfg.d_head, d_mlp=cfg.d_mlp,
        d_vocab=cfg.d_vocab, n_ctx=cfg.n_ctx, act_fn=cfg.act_fn, normalization_type=cfg.normalization_type,
        attn_only=cfg.attn_only, eps=cfg.layer_norm_eps, positional_embedding_type="standard",
        default_prepend_bos=False,
    ))
    state = dict(model.state_dict(), **{"unembed.W_U": model.W_U.detach(), "unembed.b_U": torch.zeros(cfg.d_vocab)})
    missing, unexpected = twin.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith((".mask", ".IGNORE")) for k in missing), (missing, unexpected)
    return twin.eval()


class Twins:
    """A minigpt model, its TransformerLens twin, and a cache of each (batch of 2, and batch axis removed)."""

    def __init__(self, geometry: dict) -> None:
        self.model = GPT(GPTConfig(**geometry, seed=0, tokenizer="bytes")).eval()
        gen = torch.Generator().manual_seed(1)
        with torch.no_grad():  # biases and LayerNorm parameters away from 0 and 1, so that a mix-up shows
            for name, p in self.model.named_parameters():
                if not name.split(".")[-1].startswith("W_"):
                    p.add_(torch.randn(p.shape, generator=gen) * 0.1)
        self.tl = tl_twin(self.model)
        self.tokens = torch.randint(0, 256, (2, 6), generator=gen)
        self.caches = {}
        with torch.no_grad():
            for batch, tokens in (("batch", self.tokens), ("no batch", self.tokens[:1])):
                ours = self.model.run_with_cache(tokens, remove_batch_dim=batch == "no batch")[1]
                theirs = self.tl.run_with_cache(tokens, remove_batch_dim=batch == "no batch")[1]
                self.caches[batch] = (ours, theirs)




@pytest.fixture(scope="module", params=list(GEOMETRIES))
def twins(request) -> Twins:
    return Twins(GEOMETRIES[request.param])


def same(ours, theirs) -> float:
    """Assert equal results (tensors, or (tensor, labels)); return the largest difference."""
    if isinstance(theirs, tuple):
        assert ours[1] == theirs[1]
        ours, theirs = ours[0], theirs[0]
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    return (ours - theirs).abs().max().item() if ours.numel() else 0.0


def check(ours_cache, tl_cache, method: str, *args, **kwargs) -> float:
    """Call ``method`` on both caches: equal results, or an error of TransformerLens's type."""
    try:
        expected = getattr(tl_cache, method)(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - the type is what we compare
        with pytest.raises(type(error)):
            getattr(ours_cache, method)(*args, **kwargs)
        return 0.0
    diff = same(getattr(ours_cache, method)(*args, **kwargs), expected)
    assert diff <= TOL, (method, args, kwargs, diff)
    return diff


def grid(**axes):
    """Every combination of the given argument values, as keyword dicts."""
    return [dict(zip(axes, values)) for values in itertools.product(*axes.values())]


def layers(twins) -> list:
    n_layers = twins.model.cfg.n_layers
    return [None, 0, n_layers // 2, -1, n_layers]


@pytest.mark.parametrize("batch", ["batch", "no batch"])
def test_accumulated_resid(twins, batch):
    ours, theirs = twins.caches[batch]
    for kwargs in grid(layer=layers(twins), incl_mid=[False, True], apply_ln=[False, True], pos_slice=POS_SLICES,
                       mlp_input=[False, True]):
        check(ours, theirs, "accumulated_resid", return_labels=True, **kwargs)
    check(ours, theirs, "accumulated_resid", layer=1)  # the stack alone, without labels


@pytest.mark.parametrize("batch", ["batch", "no batch"])
def test_decompose_resid(twins, batch):
    ours, theirs = twins.caches[batch]
    for kwargs in grid(layer=layers(twins), mlp_input=[False, True], mode=["all", "mlp", "attn"],
                       apply_ln=[False, True], pos_slice=[None, -1, [0, 2, 5]], incl_embeds=[True, False]):
        check(ours, theirs, "decompose_resid", return_labels=True, **kwargs)
    check(ours, theirs, "decompose_resid", pos_slice=(1, 4), apply_ln=True)


@pytest.mark.parametrize("batch", ["batch", "no batch"])
def test_stack_head_results(twins, batch):
    ours, theirs = twins.caches[batch]
    for kwargs in grid(layer=layers(twins), incl_remainder=[False, True], pos_slice=POS_SLICES,
                       apply_ln=[False, True]):
        if kwargs["layer"] == 0 and kwargs["incl_remainder"]:
            continue  # we differ on purpose: see test_remainder_at_layer_0
        check(ours, theirs, "stack_head_results", return_labels=True, **kwargs)
    assert "blocks.0.attn.hook_result" in ours


@pytest.mark.parametrize("batch", ["batch", "no batch"])
def test_get_full_resid_decomposition(twins, batch):
    ours, theirs = twins.caches[batch]
    for kwargs in grid(layer=layers(twins), mlp_input=[False, True], expand_neurons=[True, False],
                       apply_ln=[False, True], pos_slice=POS_SLICES):
        if twins.model.cfg.attn_only and kwargs["expand_neurons"]:
            continue  # TransformerLens raises there: see test_full_decomposition_of_an_attention_only_model
        check(ours, theirs, "get_full_resid_decomposition", return_labels=True, **kwargs)


@pytest.mark.parametrize("batch", ["batch", "no batch"])
def test_stack_neuron_results(twins, batch):
    ours, theirs = twins.caches[batch]
    if twins.model.cfg.attn_only:
        with pytest.raises(ValueError, match="attention-only"):
            ours.stack_neuron_results(-1)
        return
    n_layers = twins.model.cfg.n_layers  # fewer cases: TransformerLens labels each neuron slowly
    for kwargs in grid(layer=[0, 1, -1, n_layers], pos_slice=[None, -1, (1, 4)], neuron_slice=[None, [3, 1]],
                       incl_remainder=[False, True], apply_ln=[False, True]):
        if kwargs["layer"] == 0 and kwargs["incl_remainder"]:
            continue  # see test_remainder_at_layer_0
        check(ours, theirs, "stack_neuron_results", return_labels=True, **kwargs)
    check(ours, theirs, "stack_neuron_results", 2, neuron_slice=(0, 10, 3), pos_slice=[0, 2], apply_ln=True)


@pytest.mark.parametrize("batch", ["batch", "no batch"])
def test_stack_activation(twins, batch):
    ours, theirs = twins.caches[batch]
    names = [("resid_pre", None), ("pattern", None), ("z", "attn"), ("attn_out", None)]
    if twins.model.cfg.normalization_type:
        names.append(("scale", "ln1"))
    if not twins.model.cfg.attn_only:
        names += [("post", None), ("resid_mid", None)]
    for (name, sublayer_type), layer in itertools.product(names, layers(twins)):
        check(ours, theirs, "stack_activation", name, layer=layer, sublayer_type=sublayer_type)


@pytest.mark.parametrize("batch", ["batch", "no batch"])
def test_apply_ln_to_stack(twins, batch):
    """Stacks with one and two leading axes, batch and position slices, each block's LayerNorm, recomputed."""
    ours, theirs = twins.caches[batch]
    stack = ours.decompose_resid()  # [components *batch pos d_model]
    two_leading = torch.stack([stack, 2 * stack])  # [2 components *batch pos d_model]
    batch_slices = [None, 0, [1, 0], (1,)] if batch == "batch" else [None]
    for kwargs in grid(layer=layers(twins), mlp_input=[False, True], batch_slice=batch_slices,
                       recompute_ln=[False, True]):
        check(ours, theirs, "apply_ln_to_stack", stack, **kwargs)
    for pos_slice in POS_SLICES:
        sliced = Slice(pos_slice).apply(stack, dim=-2)
        check(ours, theirs, "apply_ln_to_stack", sliced, 1, pos_slice=pos_slice)
    check(ours, theirs, "apply_ln_to_stack", two_leading, -1)
    check(ours, theirs, "apply_ln_to_stack", stack[:, 0], has_batch_dim=False, pos_slice=None)


def test_logit_attrs(twins):
    ours, theirs = twins.caches["batch"]
    tokens, stack = twins.tokens, ours.decompose_resid()
    wrong = (tokens + 1) % 256
    check(ours, theirs, "logit_attrs", stack, tokens)
    check(ours, theirs, "logit_attrs", stack, tokens, incorrect_tokens=wrong)
    check(ours, theirs, "logit_attrs", stack[:, :, -1], tokens[:, -1], incorrect_tokens=wrong[:, -1], pos_slice=-1)
    check(ours, theirs, "logit_attrs", stack[:, :, [0, 2]], tokens[:, [0, 2]], pos_slice=[0, 2])
    check(ours, theirs, "logit_attrs", stack, 7, incorrect_tokens=torch.tensor(9))
    check(ours, theirs, "logit_attrs", stack, tokens[1], batch_slice=1)
    check(ours, theirs, "logit_attrs", stack, tokens, incorrect_tokens=3)  # shapes differ: ValueError
    # A one-token string: TransformerLens's twin has no tokenizer, ours reads bytes ("a" is 97).
    torch.testing.assert_close(ours.logit_attrs(stack, "a", incorrect_tokens="b"),
                               theirs.logit_attrs(stack, 97, incorrect_tokens=98), atol=TOL, rtol=0)
    no_batch, no_batch_tl = twins.caches["no batch"]
    check(no_batch, no_batch_tl, "logit_attrs", no_batch.accumulated_resid(), tokens[0], has_batch_dim=False)


def test_compute_head_results_when_the_cache_lacks_them(twins):
    """A cache made without ``hook_result`` computes it from ``hook_z`` and the model's ``W_O``."""
    _, cache = twins.model.run_with_cache(twins.tokens, names_filter=lambda name: not name.endswith("hook_result"))
    assert "blocks.0.attn.hook_result" not in cache
    cache.compute_head_results()
    theirs = twins.caches["batch"][1]
    theirs.compute_head_results()
    for layer in range(twins.model.cfg.n_layers):
        assert same(cache["result", layer], theirs["result", layer]) <= TOL


# -- where we differ from TransformerLens on purpose -------------------------------------
def test_remainder_at_layer_0(twins):
    """TransformerLens's remainder at layer 0 is the *last* block's resid_post (layer -1); ours, what layer 0 reads."""
    cache = twins.caches["batch"][0]
    heads, labels = cache.stack_head_results(0, incl_remainder=True, return_labels=True)
    assert labels == ["remainder"] and torch.equal(heads[0], cache["resid_pre", 0])
    if not twins.model.cfg.attn_only:
        neurons = cache.stack_neuron_results(0, incl_remainder=True, pos_slice=-1)
        assert torch.equal(neurons[0], cache["resid_pre", 0][:, -1])


def test_full_decomposition_of_an_attention_only_model(twins):
    """TransformerLens raises (it looks for an MLP's bias); ours has no neurons to expand: as expand_neurons=False."""
    if not twins.model.cfg.attn_only:
        pytest.skip("the model has MLPs")
    ours, theirs = twins.caches["batch"]
    with pytest.raises(AttributeError):
        theirs.get_full_resid_decomposition()
    assert same(ours.get_full_resid_decomposition(return_labels=True),
                theirs.get_full_resid_decomposition(expand_neurons=False, return_labels=True)) <= TOL


def test_layer_out_of_range_is_a_key_error_with_a_reason(twins):
    cache, n_layers = twins.caches["batch"][0], twins.model.cfg.n_layers
    for bad in (n_layers + 1, -2):  # TransformerLens: a KeyError above; below, an empty stack or a wrong one
        for method in ("accumulated_resid", "decompose_resid", "stack_head_results", "get_full_resid_decomposition"):
            with pytest.raises(KeyError, match="out of range"):
                getattr(cache, method)(bad)
    with pytest.raises(LayerOutOfRange, match="mlp_input"):
        cache.get_full_resid_decomposition(n_layers, mlp_input=True)
    with pytest.raises(ValueError, match="mode"):
        cache.decompose_resid(mode="heads")  # TransformerLens takes any other string as "all"


def test_an_int_neuron_slice_keeps_the_neuron_axis():
    """``neuron_slice=5`` is one neuron, ``[5]`` (TransformerLens's int would drop the axis and mix up the stack)."""
    twins = Twins(GEOMETRIES["gpt2"])
    cache = twins.caches["batch"][0]
    one, labels = cache.stack_neuron_results(2, neuron_slice=5, return_labels=True)
    assert labels == ["L0N5", "L1N5"]
    assert torch.equal(one, cache.stack_neuron_results(2, neuron_slice=[5]))


# -- the sums the module docstring promises ---------------------------------------------
@pytest.mark.parametrize("batch", ["batch", "no batch"])
def test_the_pieces_sum_to_what_each_layer_reads(twins, batch):
    cache, cfg = twins.caches[batch][0], twins.model.cfg
    for layer in range(cfg.n_layers + 1):
        reads = cache["resid_post", layer - 1] if layer else cache["resid_pre", 0]
        for parts in (cache.decompose_resid(layer), cache.get_full_resid_decomposition(layer, expand_neurons=False),
                      cache.stack_head_results(layer, incl_remainder=True)):
            torch.testing.assert_close(parts.sum(0), reads, atol=1e-5, rtol=0)
        if not cfg.attn_only:
            torch.testing.assert_close(cache.get_full_resid_decomposition(layer).sum(0), reads, atol=1e-5, rtol=0)
    if cfg.normalization_type:  # at a frozen scale, LayerNorm (before w, b) distributes over the sum
        final = cache["resid_post", -1]
        normalised = (final - final.mean(-1, keepdim=True)) / cache["ln_final.hook_scale"]
        torch.testing.assert_close(cache.decompose_resid(apply_ln=True).sum(0), normalised, atol=1e-5, rtol=0)


def test_cache_keeps_its_model_through_to_and_remove_batch_dim(twins):
    cache = twins.model.run_with_cache(twins.tokens[:1])[1]
    assert cache.model is twins.model and cache.has_batch_dim
    single = cache.to("cpu").remove_batch_dim()
    assert single.model is twins.model and not single.has_batch_dim
    with pytest.raises(ValueError, match="no batch axis"):
        single.remove_batch_dim()
    torch.testing.assert_close(single.decompose_resid(apply_ln=True), cache.decompose_resid(apply_ln=True)[:, 0])
