"""A 2-layer attention-only model with hand-planted heads, for the interp tests.

Residual stream (d_model 64): dims 0..15 one-hot position, 16..23 one-hot
token, 24..31 "the previous token" (written by the previous-token head),
32..39 the induction head's prediction (read by the unembedding).

- L0H0 previous-token head: query position q matches key position q - 1; copies the token into 24..31.
- L0H1 duplicate-token head: matches an earlier position with the same token (never itself); writes nothing.
- L1H0 induction head: query token t matches a key whose previous token was t (K-composition with L0H0),
  and writes the key's token (x10) into 32..39, which the unembedding reads: the repeat becomes predictable.
- L1H1: all zero weights (uniform attention).

On ``planted_tokens`` (BOS 0, then a permutation of 1..7 twice) each planted head scores 1.
Test modules import the fixtures ``planted_model`` and ``planted_tokens`` from here (no conftest.py:
``--doctest-modules`` trips over conftest.py files of the same name in sibling folders).
"""

from __future__ import annotations

import pytest
import torch

from minigpt import GPT, GPTConfig

N_CTX, D_VOCAB, SEQ_LEN = 16, 8, 7
POS, TOK, PREV, OUT = 0, 16, 24, 32
BIG = 40.0 * 32 ** 0.5  # a score gap of 40 after the 1/sqrt(d_head) scale: softmax is one-hot to ~1e-17


def build_planted_model() -> GPT:
    cfg = GPTConfig(n_layers=2, d_model=64, n_heads=2, d_vocab=D_VOCAB, n_ctx=N_CTX, attn_only=True,
                    normalization_type=None, tie_embeddings=False, seed=0)
    model = GPT(cfg, attention="naive").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        W_E = torch.zeros(D_VOCAB, 64)
        W_E[torch.arange(D_VOCAB), TOK + torch.arange(D_VOCAB)] = 1
        W_pos = torch.zeros(N_CTX, 64)
        W_pos[torch.arange(N_CTX), POS + torch.arange(N_CTX)] = 1
        W_U = torch.zeros(64, D_VOCAB)  # reads the induction head's output (the predicted next token)
        W_U[OUT + torch.arange(D_VOCAB), torch.arange(D_VOCAB)] = 1
        model.embed.W_E.copy_(W_E)
        model.pos_embed.W_pos.copy_(W_pos)
        model.unembed.W_U.copy_(W_U)
        a0, a1 = model.blocks[0].attn, model.blocks[1].attn
        Q, K, V, O = (torch.zeros(2, 2, 64, 32) for _ in range(4))  # [layer head d_model d_head]
        O = torch.zeros(2, 2, 32, 64)
        for p in range(N_CTX):  # L0H0: position q ~ key position q - 1
            Q[0, 0, POS + p, p] = BIG
            if p + 1 < N_CTX:
                K[0, 0, POS + p, p + 1] = 1
        for t in range(D_VOCAB):
            V[0, 0, TOK + t, t] = 1  # ... and it copies the token into the "previous token" dims
            O[0, 0, t, PREV + t] = 1
            Q[0, 1, TOK + t, t] = BIG  # L0H1: same token ...
            K[0, 1, TOK + t, t] = 1
            Q[1, 0, TOK + t, t] = BIG  # L1H0: my token == the key's previous token
            K[1, 0, PREV + t, t] = 1
            V[1, 0, TOK + t, t] = 1  # ... and it copies the key's token to the output
            O[1, 0, t, OUT + t] = 10
        for p in range(N_CTX):  # ... L0H1 but not myself
            Q[0, 1, POS + p, D_VOCAB + p] = BIG
            K[0, 1, POS + p, D_VOCAB + p] = -1
        for layer, attn in enumerate((a0, a1)):
            attn.W_Q.copy_(Q[layer])
            attn.W_K.copy_(K[layer])
            attn.W_V.copy_(V[layer])
            attn.W_O.copy_(O[layer])
    return model


def build_planted_tokens(batch: int = 4, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    perms = torch.stack([torch.randperm(SEQ_LEN, generator=gen) + 1 for _ in range(batch)])  # tokens 1..7
    return torch.cat([torch.zeros(batch, 1, dtype=torch.long), perms, perms], dim=1)  # [batch 15]


@pytest.fixture(scope="module")
def planted_model() -> GPT:
    return build_planted_model()


@pytest.fixture(scope="module")
def planted_tokens() -> torch.Tensor:
    return build_planted_tokens()
