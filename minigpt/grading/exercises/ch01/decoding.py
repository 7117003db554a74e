"""Chapter 1 checks: decoding beyond greedy, beam search and the frequency penalty."""

from __future__ import annotations

import torch
from torch import Tensor

from ...registry import Case, Mutant
from ._common import register_exercise
from .assembly import _model_state

# ---------------------------------------------------------------------------
# beam_search (a function of a model: kind="model")
# ---------------------------------------------------------------------------


def beam_cases() -> list[Case]:
    """Small peaked models where the beams beat greedy and each mistake gives its own tokens."""
    g = torch.Generator().manual_seed(1403)
    cases = []
    for cfg, pos, calls in (
        (dict(n_layers=1, d_model=12, n_heads=3, d_mlp=24, d_vocab=13, n_ctx=16, tie_embeddings=False), 3,
         [(2, 6), (3, 5)]),
        (dict(n_layers=2, d_model=8, n_heads=2, d_mlp=16, d_vocab=11, n_ctx=12, tie_embeddings=False), 2,
         [(3, 7), (4, 4)]),
    ):
        state = _model_state(g, cfg)
        calls = [dict(tokens=torch.randint(0, cfg["d_vocab"], (pos,), generator=g), num_beams=beams,
                      max_new_tokens=new) for beams, new in calls]
        cases.append(dict(cfg=cfg, state_dict=state, calls=calls))
    return cases


def _beam_search(model, tokens: Tensor, num_beams: int, max_new_tokens: int, *, mistake: str = "") -> Tensor:
    start = num_beams if mistake == "identical-copies" else 1
    beams, scores = tokens[None].repeat(start, 1), torch.zeros(start)
    for _ in range(max_new_tokens):
        log_probs = model(beams)[:, -1].log_softmax(dim=-1)  # [beams d_vocab]
        d_vocab = log_probs.shape[-1]
        if mistake == "each-beam-alone" and beams.shape[0] == num_beams:  # every beam keeps its own best token
            best = log_probs.max(dim=-1)
            beams, scores = torch.cat([beams, best.indices[:, None]], dim=1), scores + best.values
            order = scores.argsort(descending=True)
            beams, scores = beams[order], scores[order]
            continue
        total = log_probs if mistake == "no-running-score" else scores[:, None] + log_probs
        top, index = total.flatten().topk(min(num_beams, total.numel()))
        parent, token = index // d_vocab, index % d_vocab
        if mistake == "index-swapped":
            parent, token = index % beams.shape[0], index // beams.shape[0]
        history = beams if mistake == "no-reorder" and beams.shape[0] == num_beams else beams[parent]
        beams, scores = torch.cat([history, token[:, None]], dim=1), top
    return beams[-1] if mistake == "worst-beam" else beams[0]


def _beam_mutant(mistake: str):
    def wrong(model, tokens, num_beams, max_new_tokens):
        return _beam_search(model, tokens, num_beams, max_new_tokens, mistake=mistake)

    return wrong


register_exercise(
    id="ch01.beam_search", name="beam_search", title="Beam search", points=3, difficulty=3,
    hints=["Start from one beam, beams = tokens[None] with scores = torch.zeros(1); each step "
           "total = scores[:, None] + model(beams)[:, -1].log_softmax(-1), a [beams, d_vocab] table.",
           "Rank all beams x tokens together: scores, index = total.flatten().topk(num_beams); the parent beam is "
           "index // d_vocab and the token index % d_vocab.",
           "Each new beam is its parent's sequence plus its token: beams = torch.cat([beams[parent], "
           "token[:, None]], dim=1). topk sorts best first, so return beams[0]."],
    make_cases=beam_cases,
    mutants=[
        Mutant("no-running-score", "the beams were ranked by this step's log-prob alone; a beam's score is the "
               "sum over all its tokens: add each beam's running score to its candidates "
               "(scores[:, None] + log_probs) before the topk.", _beam_mutant("no-running-score")),
        Mutant("each-beam-alone", "each beam was extended by its own best token, so the beams never compete "
               "(num_beams greedy runs); rank all num_beams x d_vocab candidates together: "
               "total.flatten().topk(num_beams), and a strong beam may get several children.",
               _beam_mutant("each-beam-alone")),
        Mutant("no-reorder", "the new tokens were appended to the beams in their old order; each new beam "
               "continues its *parent*, so reorder the histories first: beams[parent], parent = index // d_vocab.",
               _beam_mutant("no-reorder")),
        Mutant("identical-copies", "the search started from num_beams copies of the prompt with equal scores, so "
               "every step picked the same token from each copy and all beams stayed identical (greedy); start "
               "from one beam (or give the copies a score of -inf).", _beam_mutant("identical-copies")),
        Mutant("index-swapped", "the flat index was decoded the wrong way round; flattening [beams, d_vocab] puts "
               "beam b's token t at b * d_vocab + t, so the beam is index // d_vocab and the token "
               "index % d_vocab.", _beam_mutant("index-swapped")),
        Mutant("worst-beam", "the last beam was returned; topk sorts best first, so the best beam is beams[0].",
               _beam_mutant("worst-beam")),
    ],
    kind="model",
)

# ---------------------------------------------------------------------------
# apply_frequency_penalty
# ---------------------------------------------------------------------------


def penalty_cases() -> list[Case]:
    g = torch.Generator().manual_seed(1405)
    cases = []
    for batch, d_vocab, pos, penalty in ((3, 11, 9, 0.5), (2, 7, 12, 1.3), (4, 20, 5, 0.25)):
        tokens = torch.randint(0, d_vocab // 2, (batch, pos), generator=g)  # half the vocabulary: repeats
        tokens[0] = tokens[0, 0]  # one row says the same token pos times
        cases.append(dict(logits=torch.randn(batch, d_vocab, generator=g) * 2, tokens=tokens, penalty=penalty))
    return cases


def _counts(logits: Tensor, tokens: Tensor) -> Tensor:
    return torch.zeros_like(logits).scatter_add_(-1, tokens, torch.ones_like(tokens, dtype=logits.dtype))


def _presence(logits, tokens, penalty):
    return logits - penalty * (_counts(logits, tokens) > 0).to(logits.dtype)


def _plus(logits, tokens, penalty):
    return logits + penalty * _counts(logits, tokens)


def _whole_batch(logits, tokens, penalty):
    return logits - penalty * _counts(logits, tokens).sum(dim=0, keepdim=True)


def _repetition_penalty(logits, tokens, penalty):  # Keskar et al. (2019), transformers' repetition_penalty
    seen = _counts(logits, tokens) > 0
    factor = 1 + penalty
    return torch.where(seen, torch.where(logits > 0, logits / factor, logits * factor), logits)


register_exercise(
    id="ch01.apply_frequency_penalty", name="apply_frequency_penalty", title="Frequency penalty", points=1,
    difficulty=1,
    hints=["count[b, v] = how many times v occurs in tokens[b]: F.one_hot(tokens, d_vocab).sum(dim=1), or "
           "torch.zeros_like(logits).scatter_add_(-1, tokens, ones).",
           "Subtract: logits - penalty * count (a token never used keeps its logit)."],
    make_cases=penalty_cases,
    mutants=[
        Mutant("presence", "each token seen was penalised once, however often it occurs: that is the presence "
               "penalty. The frequency penalty counts occurrences (scatter_add_ or one_hot(...).sum, not "
               "scatter_ or a mask): penalty * count.", _presence),
        Mutant("wrong-sign", "the penalty was added: repeated tokens became *more* likely; subtract "
               "penalty * count.", _plus),
        Mutant("whole-batch", "the counts were taken over the whole batch; each row is its own sequence, so count "
               "tokens[b] for row b only (sum over dim=1 of one_hot, not over the batch).", _whole_batch),
        Mutant("multiplicative", "the seen tokens' logits were divided (or multiplied, when negative), as "
               "transformers' repetition_penalty does; the frequency penalty subtracts penalty * count.",
               _repetition_penalty),
    ],
)
