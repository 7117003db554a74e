"""Chapter 1 checks: the whole model, assembled from the learner's pieces."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import register_exercise
from .layers import _attention_state
from ....config import GPTConfig
from ....model import GPT as _LibGPT


def _model_state(g: torch.Generator, cfg: dict) -> dict[str, Tensor]:
    """Weights for every parameter of a GPT of this (untied) config, large enough that each piece matters."""
    d, h, m, v, n = cfg["d_model"], cfg["n_heads"], cfg["d_mlp"], cfg["d_vocab"], cfg["n_ctx"]
    state = {"embed.W_E": _randn(g, v, d), "pos_embed.W_pos": _randn(g, n, d, scale=0.7)}
    for L in range(cfg["n_layers"]):
        p = f"blocks.{L}."
        for ln in ("ln1", "ln2"):
            state[p + ln + ".w"], state[p + ln + ".b"] = _randn(g, d, scale=0.3, shift=1.0), _randn(g, d, scale=0.3)
        state.update({p + "attn." + k: t for k, t in _attention_state(g, h, d, cfg.get("d_head", d // h)).items()})
        state.update({p + "mlp.W_in": _randn(g, d, m, scale=2 / math.sqrt(d)),
                      p + "mlp.b_in": _randn(g, m, scale=0.5),
                      p + "mlp.W_out": _randn(g, m, d, scale=1 / math.sqrt(m)),
                      p + "mlp.b_out": _randn(g, d, scale=0.5)})
    state["ln_final.w"], state["ln_final.b"] = _randn(g, d, scale=0.3, shift=1.0), _randn(g, d, scale=0.3)
    state["unembed.W_U"] = _randn(g, d, v, scale=1 / math.sqrt(d))
    return state


def transformer_cases() -> list[Case]:
    g = torch.Generator().manual_seed(113)
    cases = []
    for cfg, batch, pos in (
        (dict(n_layers=2, d_model=12, n_heads=3, d_mlp=20, d_vocab=13, n_ctx=10, tie_embeddings=False), 2, 6),
        (dict(n_layers=1, d_model=8, n_heads=2, d_head=3, d_mlp=12, d_vocab=11, n_ctx=8, tie_embeddings=False), 3, 5),
        (dict(n_layers=3, d_model=8, n_heads=2, d_mlp=16, d_vocab=7, n_ctx=12, tie_embeddings=False), 1, 9),
    ):
        cases.append(dict(cfg=cfg, state_dict=_model_state(g, cfg),
                          tokens=torch.randint(0, cfg["d_vocab"], (batch, pos), generator=g)))
    return cases


class _WrongTransformer(_LibGPT):
    """minigpt's GPT (same sub-modules and parameter names, untied) with a forward that makes one mistake."""

    mistake = ""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__(cfg.replace(tie_embeddings=False), attention="naive", init=False)

    def forward(self, tokens: Tensor) -> Tensor:
        m = self.mistake
        embedded = self.embed(tokens) + (0 if m == "no-pos-embed" else self.pos_embed(tokens))
        resid = embedded
        for block in self.blocks:
            resid = block(embedded if m == "blocks-read-embeddings" else resid)
        logits = self.unembed(resid if m == "no-ln-final" else self.ln_final(resid))
        if m == "probabilities":
            return logits.softmax(dim=-1)
        return logits[:, -1] if m == "last-position-only" else logits


def _transformer_mutant(mistake: str) -> type:
    return type(f"Transformer_{mistake.replace('-', '_')}", (_WrongTransformer,), {"mistake": mistake})


register_exercise(
    id="ch01.transformer", name="Transformer", title="The whole transformer", points=3, difficulty=2,
    hints=["resid = self.embed(tokens) + self.pos_embed(tokens); each block maps the stream to the next stream.",
           "After the last block: self.unembed(self.ln_final(resid)): logits at every position, no softmax.",
           "Sub-module names must be embed, pos_embed, blocks (an nn.ModuleList), ln_final, unembed."],
    make_cases=transformer_cases,
    mutants=[
        Mutant("no-pos-embed", "the position embedding is missing: the residual stream starts as "
               "embed(tokens) + pos_embed(tokens); without it the model cannot tell positions apart.",
               _transformer_mutant("no-pos-embed")),
        Mutant("no-ln-final", "the final LayerNorm is skipped: unembed(ln_final(resid)), not unembed(resid).",
               _transformer_mutant("no-ln-final")),
        Mutant("blocks-read-embeddings", "every block reads the embeddings, so only the last block counts; feed "
               "each block the previous block's output: resid = block(resid).",
               _transformer_mutant("blocks-read-embeddings")),
        Mutant("probabilities", "you returned probabilities; the model returns logits (no softmax): the loss "
               "and the samplers apply log_softmax/softmax themselves.", _transformer_mutant("probabilities")),
        Mutant("last-position-only", "only the last position's logits are returned; return them at every "
               "position, [batch pos d_vocab]: training predicts every next token at once.",
               _transformer_mutant("last-position-only")),
    ],
    depends_on=["ch01.layer_norm", "ch01.embed", "ch01.pos_embed", "ch01.block", "ch01.unembed"], kind="module",
)


# ---------------------------------------------------------------------------
# count_parameters
# ---------------------------------------------------------------------------


def count_cases() -> list[Case]:
    return [
        dict(n_layers=12, d_model=768, n_heads=12, d_head=64, d_mlp=3072, d_vocab=50257, n_ctx=1024),  # GPT-2
        # untied, n_heads * d_head != d_model, d_mlp != 4 * d_model
        dict(n_layers=3, d_model=40, n_heads=3, d_head=7, d_mlp=100, d_vocab=97, n_ctx=33, tie_embeddings=False),
        dict(n_layers=2, d_model=128, n_heads=4, d_head=32, d_mlp=512, d_vocab=256, n_ctx=128, tie_embeddings=True),
    ]


def _count(n_layers, d_model, n_heads, d_head, d_mlp, d_vocab, n_ctx, tie_embeddings=True, *, mistake=""):
    hd = d_model if mistake == "heads-times-d-head-is-d-model" else n_heads * d_head
    m = 4 * d_model if mistake == "mlp-four-times" else d_mlp
    biases = mistake != "no-biases"
    embeddings = d_vocab * d_model + (0 if mistake == "no-pos-embed" else n_ctx * d_model)
    attention = 4 * hd * d_model + biases * (3 * hd + d_model)
    mlp = 2 * d_model * m + biases * (m + d_model)
    lns = 0 if mistake == "no-layernorm" else 2 * 2 * d_model
    ln_final = 0 if mistake in ("no-layernorm", "no-ln-final") else 2 * d_model
    counts_w_u = (not tie_embeddings) != (mistake == "tying-reversed")
    return embeddings + n_layers * (attention + mlp + lns) + ln_final + counts_w_u * d_model * d_vocab


def _count_mutant(mistake: str):
    def wrong(n_layers, d_model, n_heads, d_head, d_mlp, d_vocab, n_ctx, tie_embeddings=True):
        return _count(n_layers, d_model, n_heads, d_head, d_mlp, d_vocab, n_ctx, tie_embeddings, mistake=mistake)

    return wrong


register_exercise(
    id="ch01.count_parameters", name="count_parameters", title="Counting parameters", points=1, difficulty=1,
    hints=["Per block: 4 * n_heads * d_model * d_head attention weights, 3 * n_heads * d_head + d_model attention "
           "biases, 2 * d_model * d_mlp + d_mlp + d_model in the MLP, 4 * d_model in the two LayerNorms.",
           "Outside the blocks: W_E, W_pos, ln_final (2 * d_model), and W_U only when tie_embeddings is False."],
    make_cases=count_cases,
    mutants=[
        Mutant("no-biases", "the biases are missing: b_Q, b_K, b_V ([n_heads, d_head] each), b_O, b_in and b_out "
               "are parameters too.", _count_mutant("no-biases")),
        Mutant("no-layernorm", "the LayerNorms are missing: each has a w and a b of d_model numbers (ln1, ln2 in "
               "every block, and ln_final).", _count_mutant("no-layernorm")),
        Mutant("no-ln-final", "the final LayerNorm (2 * d_model) is missing.", _count_mutant("no-ln-final")),
        Mutant("no-pos-embed", "W_pos ([n_ctx, d_model]) is missing.", _count_mutant("no-pos-embed")),
        Mutant("tying-reversed", "tying is the wrong way round: a tied W_U is W_E itself and adds nothing; an "
               "untied one adds d_model * d_vocab.", _count_mutant("tying-reversed")),
        Mutant("heads-times-d-head-is-d-model", "you assumed n_heads * d_head == d_model; W_Q is [n_heads, d_model, "
               "d_head], so count n_heads * d_model * d_head.", _count_mutant("heads-times-d-head-is-d-model")),
        Mutant("mlp-four-times", "you used 4 * d_model for the MLP width; use d_mlp (4 * d_model is GPT-2's "
               "choice, not a rule).", _count_mutant("mlp-four-times")),
    ],
    atol=0.5, rtol=0.0,
)
