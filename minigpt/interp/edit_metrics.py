"""Scoring a model edit: efficacy, generalisation, specificity (CounterFact's measures, Meng et al. 2022 §3.4).

After editing "The Eiffel Tower is in" from " Paris" to " Rome":

- **efficacy**: on the edited prompt, is ``P(new) > P(old)``, and is the new target the
  greedy answer?
- **paraphrase** (generalisation): the same on other wordings of the fact
  ("Where is the Eiffel Tower? It is in");
- **neighbourhood** (specificity): facts about *other* subjects ("The Louvre is in" → " Paris")
  should keep their answers: the fraction still answered with their target, the fraction
  whose greedy answer did not move, and the fraction with ``P(target) > P(new)``.

Probabilities are of the whole target (its tokens teacher-forced); "greedy" means every
target token is the argmax.

>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2, d_vocab=12, n_ctx=8, seed=0))
>>> answer = model(torch.tensor([[1, 2, 3]]))[0, -1].argmax().item()
>>> metrics = edit_metrics(model, model, [Fact([1, 2, 3], answer)], prompt=[4, 5], new_target=6)
>>> metrics.neighbourhood, metrics.n_facts                 # an edit that changed nothing keeps every fact
(1.0, 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import torch
from torch import Tensor

from .prompts import TokensLike, as_tokens

__all__ = ["EditMetrics", "Fact", "edit_metrics"]


class Fact(NamedTuple):
    """A prompt and the answer a model should give (``("The Eiffel Tower is in", " Paris")`` or token ids)."""

    prompt: TokensLike
    target: TokensLike


@dataclass
class EditMetrics:
    """How an edit went. Fractions are in ``[0, 1]``; ``p_*`` are probabilities of the whole target."""

    efficacy: float  # P(new) > P(old) on the edited prompt, after the edit
    efficacy_top1: float  # the new target is the greedy answer to the edited prompt
    p_new_before: float
    p_new_after: float
    p_old_after: float
    paraphrase: float  # fraction of paraphrases with P(new) > P(old)
    paraphrase_top1: float  # fraction of paraphrases answered with the new target
    neighbourhood: float  # fraction of the other facts whose target is still the greedy answer
    neighbourhood_unchanged: float  # fraction of the other facts whose greedy answer did not change
    neighbourhood_score: float  # fraction of the other facts with P(their target) > P(new) (CounterFact's NS;
    # facts whose target is the new one are left out)
    n_paraphrases: int
    n_facts: int


@torch.no_grad()
def _score(model, prompt: Tensor, target: Tensor) -> tuple[float, bool, list[int]]:
    """``log P(target | prompt)`` (teacher-forced), whether each target token is the argmax, the argmaxes."""
    tokens = torch.cat([prompt, target[:-1]])
    log_probs = model(tokens[None])[0, len(prompt) - 1:].float().log_softmax(-1)  # [n_target d_vocab]
    greedy = log_probs.argmax(-1)
    return log_probs.gather(-1, target[:, None]).sum().item(), bool((greedy == target).all()), greedy.tolist()


@torch.no_grad()
def edit_metrics(original, edited, facts: Sequence[Fact | tuple], *, prompt: TokensLike, new_target: TokensLike,
                 old_target: TokensLike | None = None, paraphrases: Sequence[TokensLike] = ()) -> EditMetrics:
    """Efficacy, paraphrase generalisation and neighbourhood specificity of an edit (CounterFact's measures).

    ``facts``: ``(prompt, target)`` pairs about *other* subjects, which the edit should leave
    alone. ``prompt``/``new_target``: the edit; ``old_target`` defaults to the original
    model's greedy answer to ``prompt``. ``paraphrases``: other prompts for the edited fact.
    """
    tokens, new = as_tokens(original, prompt), as_tokens(original, new_target, prepend_bos=False)
    if old_target is None:
        old = original(tokens[None])[0, -1].argmax()[None]
    else:
        old = as_tokens(original, old_target, prepend_bos=False)

    def new_beats_old(prompt_tokens: Tensor) -> tuple[bool, bool]:
        lp_new, top1, _ = _score(edited, prompt_tokens, new)
        lp_old, _, _ = _score(edited, prompt_tokens, old)
        return lp_new > lp_old, top1

    lp_new_before = _score(original, tokens, new)[0]
    lp_new, efficacy_top1, _ = _score(edited, tokens, new)
    lp_old = _score(edited, tokens, old)[0]
    para = [new_beats_old(as_tokens(original, p)) for p in paraphrases]
    kept, unchanged, beats_new = [], [], []
    for fact_prompt, fact_target in facts:
        fact_tokens, target = as_tokens(original, fact_prompt), as_tokens(original, fact_target, prepend_bos=False)
        lp_target, top1, greedy = _score(edited, fact_tokens, target)
        kept.append(top1)
        unchanged.append(greedy == _score(original, fact_tokens, target)[2])
        if not torch.equal(target, new):  # a fact whose answer is the new target cannot prefer its own
            beats_new.append(lp_target > _score(edited, fact_tokens, new)[0])

    def mean(xs) -> float:
        return sum(map(float, xs)) / len(xs) if xs else float("nan")

    return EditMetrics(
        efficacy=float(lp_new > lp_old), efficacy_top1=float(efficacy_top1), p_new_before=math.exp(lp_new_before),
        p_new_after=math.exp(lp_new), p_old_after=math.exp(lp_old), paraphrase=mean([a for a, _ in para]),
        paraphrase_top1=mean([b for _, b in para]), neighbourhood=mean(kept), neighbourhood_unchanged=mean(unchanged),
        neighbourhood_score=mean(beats_new), n_paraphrases=len(para), n_facts=len(kept))
