"""Causal tracing: a hand-built model whose only path from the subject to the answer is known,
an unbatched reference, determinism, text prompts."""

from __future__ import annotations

import math

import pytest
import torch

from minigpt import GPT, GPTConfig
from minigpt.interp import causal_trace, trace_window

# Residual stream (d_model 32): dims 0..7 one-hot token, 8..15 position (x10), 16..23 the subject's
# token moved to later positions by L1's head, 24..31 the answer (read by the unembedding).
TOK, POS, MOVED, OUT = 0, 8, 16, 24
PROMPT, SUBJECT_POS = torch.tensor([3, 5, 2, 6, 7]), 1
ANSWER = (5 + 1) % 8  # the answer to subject token t is t + 1 (mod 8)


def hand_model() -> GPT:
    """Layer 0 does nothing; L1's head moves the token at position 1 to every later position; MLP 2 maps
    the moved token t to logit 10 on t + 1. Every other weight is zero, so the fact goes
    embed(pos 1) -> attn 1 (to the last position) -> MLP 2 (last position) -> logits."""
    cfg = GPTConfig(n_layers=3, d_model=32, n_heads=1, d_head=8, d_mlp=8, d_vocab=8, n_ctx=8, act_fn="relu",
                    normalization_type=None, tie_embeddings=False, seed=0)
    model = GPT(cfg, attention="naive").eval()
    eye = torch.eye(8)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.embed.W_E[:, TOK:TOK + 8] = eye
        model.pos_embed.W_pos[:, POS:POS + 8] = 10 * eye
        attn = model.blocks[1].attn
        attn.b_Q[0, 0] = 20.0                               # every query asks for ...
        attn.W_K[0, POS + SUBJECT_POS, 0] = 1.0             # ... the key at position 1: score 200 / sqrt(8)
        attn.W_V[0, TOK:TOK + 8] = eye                      # value: the token
        attn.W_O[0, :, MOVED:MOVED + 8] = eye               # written to MOVED
        mlp = model.blocks[2].mlp
        mlp.W_in[MOVED:MOVED + 8] = eye                     # hidden t = relu(moved t)
        mlp.W_out[:, OUT:OUT + 8] = 10 * eye.roll(1, dims=1)  # hidden t -> answer t + 1, x10
        model.unembed.W_U[OUT:OUT + 8] = eye
    return model


def expected(cells: list[tuple[int, int]], delta: float) -> torch.Tensor:
    grid = torch.zeros(3, len(PROMPT))
    for layer, pos in cells:
        grid[layer, pos] = delta
    return grid


def test_hand_built_model_every_kind():
    model, last = hand_model(), len(PROMPT) - 1
    kw = dict(prompt=PROMPT, subject=PROMPT[SUBJECT_POS:SUBJECT_POS + 1], answer=ANSWER, noise=3.0, samples=8)
    trace = causal_trace(model, kind="resid", **kw)
    assert trace.subject_positions == [SUBJECT_POS] and trace.kind == "resid" and trace.answer == ANSWER
    assert trace.p_clean == pytest.approx(math.exp(10) / (math.exp(10) + 7), abs=1e-6)  # by hand
    assert trace.p_corrupted < trace.p_clean - 0.2
    delta = trace.p_clean - trace.p_corrupted
    # the embedding at the subject (layer 0's output there), then the last position after L1 and L2
    torch.testing.assert_close(trace.effects, expected([(0, SUBJECT_POS), (1, last), (2, last)], delta),
                               atol=1e-6, rtol=0)
    for kind, window, cells in [("attn", 1, [(1, last)]), ("mlp", 1, [(2, last)]),
                                ("mlp", 3, [(1, last), (2, last)])]:  # window 3 at layer 1: MLPs 0, 1, 2
        trace = causal_trace(model, kind=kind, window=window, **kw)
        torch.testing.assert_close(trace.effects, expected(cells, delta), atol=1e-6, rtol=0, msg=f"{kind} {window}")


def _random_model(**kw) -> GPT:
    return GPT(GPTConfig(n_layers=3, d_model=32, n_heads=4, d_vocab=20, n_ctx=16, seed=1, **kw)).eval()


@pytest.mark.parametrize("kind", ["resid", "mlp", "attn"])
def test_batched_equals_one_restoration_at_a_time(kind):
    """Reference: one forward pass per (layer, position), hooks written out plainly."""
    model, samples, noise, window = _random_model(), 3, 0.5, 3
    tokens, subj = torch.tensor([4, 7, 9, 1, 2, 5]), [1, 2]
    trace = causal_trace(model, tokens, tokens[1:3], answer=11, kind=kind, noise=noise, samples=samples,
                         window=window, seed=3, batch_size=20)
    eps = torch.randn(samples, len(subj), 32, generator=torch.Generator().manual_seed(3)) * noise
    _, cache = model.run_with_cache(tokens[None])

    def corrupt(x, hook):
        x = x.clone()
        x[:, subj] += eps
        return x

    def p_answer(hooks):
        logits = model.run_with_hooks(tokens[None].expand(samples, -1), fwd_hooks=hooks)
        return logits[:, -1].softmax(-1)[:, 11].mean().item()

    suffix = {"resid": "hook_resid_post", "mlp": "hook_mlp_out", "attn": "hook_attn_out"}[kind]
    p_corrupted = p_answer([("hook_embed", corrupt)])
    assert trace.p_corrupted == pytest.approx(p_corrupted, abs=1e-6)
    for layer in range(3):
        for pos in range(len(tokens)):
            def restore(x, hook, pos=pos):
                x = x.clone()
                x[:, pos] = cache[hook.name][0, pos]
                return x
            layers = [layer] if kind == "resid" else trace_window(layer, window, 3)
            hooks = [("hook_embed", corrupt)] + [(f"blocks.{restored}.{suffix}", restore) for restored in layers]
            assert trace.effects[layer, pos].item() == pytest.approx(p_answer(hooks) - p_corrupted, abs=1e-5)


def test_last_layer_restored_gives_the_clean_run_and_seeds_decide():
    model = _random_model()
    tokens = torch.tensor([4, 7, 9, 1, 2, 5])
    a = causal_trace(model, tokens, [7, 9], answer=3, samples=5, seed=0)
    assert a.p_restored[-1, -1].item() == pytest.approx(a.p_clean, abs=1e-6)
    assert a.effects[-1, :-1].abs().max() < 1e-6          # nothing reads the last layer's other positions
    assert torch.equal(a.effects, causal_trace(model, tokens, [7, 9], answer=3, samples=5, seed=0).effects)
    assert not torch.equal(a.effects, causal_trace(model, tokens, [7, 9], answer=3, samples=5, seed=1).effects)
    assert a.noise == pytest.approx(3 * model.W_E.std().item(), rel=1e-6)  # the paper's 3 sigma


def test_text_prompt_and_a_missing_subject():
    model = GPT(GPTConfig(n_layers=2, d_model=16, n_heads=2, d_vocab=256, n_ctx=32, tokenizer="bytes",
                          bos_token_id=0, seed=0)).eval()
    trace = causal_trace(model, "The cat sat", "cat", answer=" ", kind="mlp", samples=2)
    assert trace.tokens[0] == 0 and trace.subject_positions == [5, 6, 7] and trace.answer == ord(" ")
    assert trace.effects.shape == (2, 12)
    with pytest.raises(ValueError, match="'dog'.*not in the prompt"):
        causal_trace(model, "The cat sat", "dog", answer=" ")
    attn_only = GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2, d_vocab=20, n_ctx=8, attn_only=True))
    with pytest.raises(ValueError, match="no MLPs"):
        causal_trace(attn_only, [1, 2, 3], [2], answer=4, kind="mlp")
