"""A toy world of 20 facts and a small GPT trained to recall them, for the causal-tracing and ROME tests.

Token ids (no tokenizer: the tests work on ids):

- ``0 .. 9``: filler words, the random prefixes a fact may follow;
- ``10``: the relation ("lives in"); ``11, 12``: its paraphrase ("has home in");
- ``13 .. 22``: first names; ``23 .. 32``: last names. A subject is a (first, last) pair; each
  first and each last name belongs to two subjects, so the object depends on both tokens;
- ``33 .. 42``: cities, the objects; each city is the answer for two subjects.

A sequence: ``[filler]*k, relation..., first, last, city`` with ``k`` in ``0..4``, padded with
fillers to ``N_CTX``; the loss is the cross-entropy of the city only. The subject comes *last*
("Where lives ... Alice Smith?"): with the subject first ("Alice Smith lives in"), causal
tracing put the recall in the MLPs at the relation token (0.7 at layer 0) and none at the
subject's tokens (below 0.01), so ROME, which writes at the subject's last token, had nothing
to edit there (efficacy 0 at both layers); see DESIGN.md's note on factual recall in toy models.
With the subject last, the trace puts the recall in MLP 0 at the subject's last token.
"""

from __future__ import annotations

import torch

from minigpt import GPT, GPTConfig

N_FILLER, RELATION, PARAPHRASE = 10, [10], [11, 12]
FIRST, LAST, CITY = 13, 23, 33
D_VOCAB, N_CTX, N_FACTS = 43, 12, 20


def facts() -> list[tuple[list[int], int]]:
    """20 ``(subject tokens, city)`` pairs."""
    out = []
    for i in range(N_FACTS):
        first, last = FIRST + i % 10, LAST + (i + i // 10 * 3) % 10  # (i, i) for i < 10, then (i, i + 3)
        out.append(([first, last], CITY + (3 * i + i // 10 * 5) % 10))  # neither name alone tells the city
    return out


def prompt(subject: list[int], template: list[int] = RELATION, prefix: list[int] = ()) -> list[int]:
    return list(prefix) + template + subject


def batch(gen: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``tokens [n N_CTX]``, the position that predicts the city ``[n]``, the city ``[n]``."""
    world = facts()
    tokens = torch.randint(0, N_FILLER, (n, N_CTX), generator=gen)
    which = torch.randint(0, len(world), (n,), generator=gen)
    k = torch.randint(0, 5, (n,), generator=gen)
    para = torch.rand(n, generator=gen) < 0.5
    where, city = torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long)
    for row in range(n):
        subject, city[row] = world[which[row]]
        seq = prompt(subject, PARAPHRASE if para[row] else RELATION, tokens[row, :k[row]].tolist())
        tokens[row, :len(seq)] = torch.tensor(seq)
        tokens[row, len(seq)] = city[row]
        where[row] = len(seq) - 1
    return tokens, where, city


def train_facts_model(steps: int = 400, seed: int = 0) -> GPT:
    """A 2-layer GPT (d_model 64, MLPs) that recalls every fact, under both templates."""
    cfg = GPTConfig(n_layers=2, d_model=64, n_heads=4, d_vocab=D_VOCAB, n_ctx=N_CTX, act_fn="gelu", seed=seed)
    model = GPT(cfg, attention="naive")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    for _ in range(steps):
        tokens, where, city = batch(gen, 64)
        logits = model(tokens)[torch.arange(len(tokens)), where]
        loss = torch.nn.functional.cross_entropy(logits, city)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@torch.no_grad()
def recall(model: GPT, template: list[int] = RELATION, prefix: list[int] = ()) -> torch.Tensor:
    """``[N_FACTS]`` bool: the model's greedy answer is the fact's city."""
    world = facts()
    tokens = torch.tensor([prompt(s, template, prefix) for s, _ in world])
    return model(tokens)[:, -1].argmax(-1) == torch.tensor([c for _, c in world])
