"""Chapter 1 checks: the generation loop."""

from __future__ import annotations

import torch

from ...registry import Case, Mutant
from ._common import register_exercise
from .assembly import _model_state

# ---------------------------------------------------------------------------
# greedy_generate (a function of a model: kind="model")
# ---------------------------------------------------------------------------


def greedy_cases() -> list[Case]:
    g = torch.Generator().manual_seed(114)
    cases = []
    for cfg, batch, pos, new in (
        (dict(n_layers=1, d_model=12, n_heads=3, d_mlp=24, d_vocab=13, n_ctx=16, tie_embeddings=False), 2, 3, 6),
        (dict(n_layers=2, d_model=8, n_heads=2, d_mlp=16, d_vocab=11, n_ctx=12, tie_embeddings=False), 3, 1, 5),
    ):
        tokens = torch.randint(0, cfg["d_vocab"], (batch, pos), generator=g)
        cases.append(dict(cfg=cfg, state_dict=_model_state(g, cfg),
                          calls=[dict(tokens=tokens, max_new_tokens=new)]))
    return cases


def _greedy(model, tokens, max_new_tokens, *, mistake=""):
    prompt = tokens
    for _ in range(max_new_tokens - (mistake == "one-short")):
        logits = model(prompt if mistake == "no-feedback" else tokens)
        next_token = logits[:, 0 if mistake == "first-position" else -1].argmax(dim=-1)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
    return tokens[:, prompt.shape[1]:] if mistake == "new-tokens-only" else tokens


def _greedy_mutant(mistake: str):
    def wrong(model, tokens, max_new_tokens):
        return _greedy(model, tokens, max_new_tokens, mistake=mistake)

    return wrong


register_exercise(
    id="ch01.greedy_generate", name="greedy_generate", title="Greedy generation", points=2, difficulty=1,
    hints=["Each step: logits = model(tokens); next = logits[:, -1].argmax(dim=-1); "
           "tokens = torch.cat([tokens, next[:, None]], dim=1).",
           "Return the prompt and the new tokens together: [batch pos + max_new_tokens]."],
    make_cases=greedy_cases,
    mutants=[
        Mutant("first-position", "the next token came from the logits at position 0; the prediction for the "
               "next token is at the *last* position: logits[:, -1].", _greedy_mutant("first-position")),
        Mutant("no-feedback", "every step ran the model on the prompt only, so it predicted the same token each "
               "time; feed back everything generated so far (update tokens in the loop).",
               _greedy_mutant("no-feedback")),
        Mutant("new-tokens-only", "only the new tokens were returned; return the prompt followed by them, "
               "[batch pos + max_new_tokens].", _greedy_mutant("new-tokens-only")),
        Mutant("one-short", "one token too few: loop max_new_tokens times (range(max_new_tokens)).",
               _greedy_mutant("one-short")),
    ],
    kind="model",
)
