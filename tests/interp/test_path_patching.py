"""Path patching: a hand-built 3-layer model whose every path is known, checked value by value;
consistency with activation patching; the split-input hooks give the same answer as hook_q."""

from __future__ import annotations

import math

import pytest
import torch

from minigpt import GPT, GPTConfig
from minigpt.interp import path_patch

# Residual directions (d_model 8), one job each:
ONE, X, A_OUT, MARK, B_OUT, C_OUT, D_OUT = range(7)
# token 0: ONE; token 1: ONE + X (the feature head A counts); token 2: ONE + MARK (the key B, C, D look for)
CLEAN, CORRUPTED = torch.tensor([[2, 1, 1]]), torch.tensor([[2, 0, 0]])
A, B, C, D = (0, 0), (1, 0), (1, 1), (2, 0)


def hand_model() -> GPT:
    """Attention only, no LayerNorm, no positions, d_head 1 (scores unscaled). Every other weight is 0.

    - A = L0H0 attends evenly (W_Q = W_K = 0) and writes the share of X tokens so far to A_OUT:
      clean a = [0, 1/2, 2/3] by position, corrupted a = 0.
    - B = L1H0: query 3 * A_OUT, key MARK (position 0 only); value MARK; writes B_OUT. At the
      last position it puts exp(3a) / (exp(3a) + 2) on position 0 and outputs that.
    - C = L1H1: query 2 * ONE (constant), key A_OUT; value MARK; writes C_OUT: 1 / (1 + e^{2a_1} + e^{2a_2}).
    - D = L2H0: query 3 * (A_OUT + C_OUT), key MARK; value MARK; writes D_OUT.
    - The unembedding reads B_OUT, A_OUT, C_OUT, D_OUT as logits 0, 1, 2, 3.
    """
    cfg = GPTConfig(n_layers=3, d_model=8, n_heads=2, d_head=1, d_vocab=4, n_ctx=4, attn_only=True,
                    normalization_type=None, positional_embedding=False, tie_embeddings=False, seed=0)
    model = GPT(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.embed.W_E[:, ONE] = 1.0
        model.embed.W_E[1, X] = 1.0
        model.embed.W_E[2, MARK] = 1.0
        a, b, c, d = (model.blocks[layer].attn for layer in (0, 1, 1, 2))
        a.W_V[0, X, 0], a.W_O[0, 0, A_OUT] = 1.0, 1.0
        b.W_Q[0, A_OUT, 0], b.W_K[0, MARK, 0], b.W_V[0, MARK, 0], b.W_O[0, 0, B_OUT] = 3.0, 1.0, 1.0, 1.0
        c.W_Q[1, ONE, 0], c.W_K[1, A_OUT, 0], c.W_V[1, MARK, 0], c.W_O[1, 0, C_OUT] = 2.0, 1.0, 1.0, 1.0
        d.W_Q[0, A_OUT, 0] = d.W_Q[0, C_OUT, 0] = 3.0
        d.W_K[0, MARK, 0], d.W_V[0, MARK, 0], d.W_O[0, 0, D_OUT] = 1.0, 1.0, 1.0
        for logit, direction in enumerate((B_OUT, A_OUT, C_OUT, D_OUT)):
            model.unembed.W_U[direction, logit] = 1.0
    return model


def last_logits(logits):  # [batch pos d_vocab] -> the 4 logits at the last position
    return logits[0, -1]


def mark_share(score: float, others: int = 2) -> float:
    """The attention on position 0 (the MARK) when its score is ``score`` and ``others`` keys score 0."""
    return math.exp(score) / (math.exp(score) + others)


A_CLEAN = 2 / 3                                                      # A's output at the last position
C_CLEAN = 1 / (1 + math.exp(2 * 1 / 2) + math.exp(2 * 2 / 3))         # C's keys: 2a = [0, 1, 4/3]
CLEAN_LOGITS = [mark_share(3 * A_CLEAN), A_CLEAN, C_CLEAN, mark_share(3 * (A_CLEAN + C_CLEAN))]


def expect(**changes) -> torch.Tensor:
    logits = list(CLEAN_LOGITS)
    for index, value in changes.items():
        logits["BACD".index(index)] = value
    return torch.tensor(logits)


@pytest.fixture(scope="module")
def model():
    return hand_model()


def patched(model, senders, receivers, receiver_input, **kw):
    return path_patch(model, CLEAN, CORRUPTED, senders, receivers, last_logits, receiver_input, **kw)


def test_the_clean_run_is_what_the_weights_say(model):
    torch.testing.assert_close(last_logits(model(CLEAN)), expect(), atol=1e-6, rtol=0)


@pytest.mark.parametrize("receiver, receiver_input, changes", [
    # B's query reads A: B falls to an even 1/3; nothing else moves (C and D see a clean A)
    (B, "q", dict(B=1 / 3)),
    (B, "k", {}),                        # B's keys read MARK only: no path from A
    (C, "k", dict(C=1 / 3, D=mark_share(3 * (A_CLEAN + 1 / 3)))),  # C's keys read A; D then reads the new C
    (C, "q", {}),                        # C's query reads ONE only
    # D's query reads A directly and through C: only the direct part passes (C frozen clean in step 2)
    (D, "q", dict(D=mark_share(3 * (0 + C_CLEAN)))),
])
def test_path_to_a_head_carries_only_what_that_input_reads(model, receiver, receiver_input, changes):
    torch.testing.assert_close(patched(model, [A], [receiver], receiver_input), expect(**changes), atol=1e-6, rtol=0)


def test_direct_effect_on_the_logits_and_the_total_effect(model):
    # to the logits: only A's own write moves (B, C, D frozen clean)
    torch.testing.assert_close(patched(model, [A], "logits", "resid"), expect(A=0.0), atol=1e-6, rtol=0)
    # into layer 1's residual stream: everything downstream recomputes, i.e. the total effect of A
    total = expect(B=1 / 3, A=0.0, C=1 / 3, D=mark_share(3 * (0 + 1 / 3)))
    torch.testing.assert_close(patched(model, [A], 1, "resid"), total, atol=1e-6, rtol=0)


def test_several_receivers_and_positions(model):
    both = patched(model, [A], [B, C], "k")  # B's keys carry nothing, C's carry the change
    torch.testing.assert_close(both, expect(C=1 / 3, D=mark_share(3 * (A_CLEAN + 1 / 3))), atol=1e-6, rtol=0)
    torch.testing.assert_close(patched(model, [A], [B], "q", positions=[2]), expect(B=1 / 3), atol=1e-6, rtol=0)
    torch.testing.assert_close(patched(model, [A], [B], "q", positions=[0, 1]), expect(), atol=1e-6, rtol=0)


def test_senders_in_the_last_layer_to_the_logits_equal_activation_patching():
    """With nothing after the senders, their path to the final residual stream is their whole effect."""
    model = GPT(GPTConfig(n_layers=2, d_model=32, n_heads=4, d_vocab=50, n_ctx=8, init_range=0.3, seed=1)).eval()
    gen = torch.Generator().manual_seed(0)
    clean = torch.randint(0, 50, (2, 6), generator=gen)
    corrupted = torch.randint(0, 50, (2, 6), generator=gen)
    senders = [(1, 0), (1, 2)]
    _, corrupted_cache = model.run_with_cache(corrupted, names_filter="blocks.1.attn.hook_z")

    def corrupt_senders(z, hook):
        z = z.clone()
        z[:, :, [0, 2]] = corrupted_cache[hook.name][:, :, [0, 2]]
        return z

    metric = lambda logits: logits[:, -1].log_softmax(-1)[:, 7].mean()  # noqa: E731
    with torch.no_grad():
        activation_patched = metric(model.run_with_hooks(clean, fwd_hooks=[("blocks.1.attn.hook_z", corrupt_senders)]))
    path_patched = path_patch(model, clean, corrupted, senders, "logits", metric, "resid")
    assert abs(path_patched - metric(model(clean))) > 1e-3  # the senders matter ...
    torch.testing.assert_close(path_patched, activation_patched, atol=1e-6, rtol=0)  # ... and all of it passes


def test_patching_the_query_equals_patching_the_split_query_input():
    """ARENA patches hook_q; the paper's 'query input' is hook_q_input (split inputs): the same numbers."""
    model = GPT(GPTConfig(n_layers=3, d_model=32, n_heads=4, d_vocab=50, n_ctx=8, init_range=0.3, seed=2)).eval()
    if not hasattr(model, "set_use_split_qkv_input"):
        pytest.skip("this model has no split-input hooks")
    gen = torch.Generator().manual_seed(0)
    clean, corrupted = torch.randint(0, 50, (2, 6), generator=gen), torch.randint(0, 50, (2, 6), generator=gen)
    metric = lambda logits: logits[:, -1, 3].mean()  # noqa: E731
    senders, receivers = [(0, 1), (1, 3)], [(2, 0), (2, 2)]
    ours = path_patch(model, clean, corrupted, senders, receivers, metric, "q")

    # by hand, through hook_q_input
    model.set_use_split_qkv_input(True)
    try:
        z_names = [f"blocks.{layer}.attn.hook_z" for layer in range(3)]
        _, clean_cache = model.run_with_cache(clean, names_filter=z_names)
        _, corrupted_cache = model.run_with_cache(corrupted, names_filter=z_names)

        def freeze(z, hook):
            z = clean_cache[hook.name].clone()
            for layer, head in senders:
                if hook.name == z_names[layer]:
                    z[:, :, head] = corrupted_cache[hook.name][:, :, head]
            return z

        with model.hooks(fwd_hooks=[(name, freeze) for name in z_names]):
            _, sent = model.run_with_cache(clean, names_filter="blocks.2.hook_q_input")

        def patch_input(q_input, hook):
            q_input = q_input.clone()
            q_input[:, :, [0, 2]] = sent[hook.name][:, :, [0, 2]]
            return q_input

        with torch.no_grad():
            by_hand = metric(model.run_with_hooks(clean, fwd_hooks=[("blocks.2.hook_q_input", patch_input)]))
    finally:
        model.set_use_split_qkv_input(False)
    assert abs(ours - metric(model(clean))) > 1e-3
    torch.testing.assert_close(ours, by_hand, atol=1e-5, rtol=0)


def test_errors_name_what_is_wrong(model):
    with pytest.raises(ValueError, match="receiver_input must be one of"):
        patched(model, [A], [B], "z")
    with pytest.raises(ValueError, match="receivers must be"):
        patched(model, [A], [(5, 0)], "q")
    with pytest.raises(ValueError, match="'logits' or a layer"):
        patched(model, [A], [B], "resid")
    with pytest.raises(ValueError, match="same shape"):
        path_patch(model, CLEAN, CORRUPTED[:, :2], [A], [B], last_logits)
