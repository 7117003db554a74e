"""Chapter 5's registrar, and what its checks share: small random models, IOI-like prompt pairs, the metric.

The cases never use the shipped ``ioi`` and ``facts`` checkpoints: each builds a tiny seeded
``minigpt.GPT`` (a few layers of width 16), whose weights are large enough that every head,
position and MLP moves the logits, so a check takes milliseconds and depends on nothing else.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...registry import exercise_registrar
from .._shared import _randn

register_exercise = exercise_registrar(chapter=5, file="ch05_interventions.py")

# three layers, so that a head of layer 0 reaches layer 2 both directly and through layer 1
CFG = dict(n_layers=3, d_model=16, n_heads=2, d_mlp=32, d_vocab=12, n_ctx=8)


def random_state(g: torch.Generator, cfg: dict, scale: float = 0.5) -> dict[str, Tensor]:
    """Weights for ``GPT(GPTConfig(**cfg))``: ``N(0, scale²)`` matrices, LayerNorm gains near 1, small biases."""
    from ....config import GPTConfig
    from ....model import GPT

    model = GPT(GPTConfig(**cfg), init=False)
    state = {}
    for name, p in model.state_dict().items():
        leaf = name.split(".")[-1]
        if leaf == "w":
            state[name] = _randn(g, *p.shape, scale=0.2, shift=1.0)
        elif leaf.startswith("W_"):
            state[name] = _randn(g, *p.shape, scale=scale)
        else:
            state[name] = _randn(g, *p.shape, scale=0.2)
    return state


def build(cfg: dict, state: dict[str, Tensor]):
    """The model a ``kind="model"`` case describes (as the grader builds it)."""
    from ....config import GPTConfig
    from ....model import GPT

    model = GPT(GPTConfig(**cfg), init=False)
    model.load_state_dict(state)
    return model.eval()


def mean_diff(logits: Tensor, io: Tensor, s: Tensor) -> Tensor:
    """The mean of ``logit(io) - logit(s)`` at the last position (the reference ``logit_diff``)."""
    rows = torch.arange(logits.shape[0])
    return (logits[rows, -1, io] - logits[rows, -1, s]).mean()


def prompt_pair(g: torch.Generator, cfg: dict, state: dict[str, Tensor], batch: int, pos: int,
                changed: list[int]) -> dict[str, Tensor]:
    """IOI-like ``clean``/``corrupted`` prompts ``[batch pos]`` differing at ``changed``, with ``io`` and ``s``.

    ``io`` and ``s`` (``[batch]``) are, per prompt, the tokens whose last-position logits the
    corruption lowers and raises most, so the clean and corrupted logit differences are far
    apart and the normalised metric is well conditioned.
    """
    d_vocab = cfg["d_vocab"]
    clean = torch.randint(0, d_vocab, (batch, pos), generator=g)
    corrupted = clean.clone()
    corrupted[:, changed] = (clean[:, changed] + torch.randint(1, d_vocab, (batch, len(changed)), generator=g)) % d_vocab
    model = build(cfg, state)
    with torch.no_grad():
        shift = model(clean)[:, -1] - model(corrupted)[:, -1]  # [batch d_vocab]
    return dict(clean=clean, corrupted=corrupted, io=shift.argmax(dim=-1), s=shift.argmin(dim=-1))
