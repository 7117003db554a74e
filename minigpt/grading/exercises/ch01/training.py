"""Chapter 1 checks: one training step (a function of a model and an optimizer: kind="model").

Each case gives a small GPT, an optimizer and two batches; the learner's
``training_step`` runs on them in turn, and the grader compares the two losses
it returned and every parameter afterwards. SGD shows the gradients
themselves in the update, so clipping, summing and accumulating all show.
Adam would not do: its first step is about ``lr * sign(grad)``, blind to the
gradients' scale, and it turns round-off into full steps where the exact
gradient is 0 (``b_K``: the softmax ignores a shift of all of a query's scores).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...registry import Case, Mutant
from ._common import register_exercise
from .assembly import _model_state

_CFG = dict(n_layers=1, d_model=12, n_heads=2, d_mlp=24, d_vocab=11, n_ctx=8, tie_embeddings=False)


def training_cases() -> list[Case]:
    g = torch.Generator().manual_seed(116)
    cases = []
    for optimizer, max_grad_norm in ((dict(type="SGD", lr=0.2), None),
                                     (dict(type="SGD", lr=0.5), 0.2),  # gradient norm ~2, largest entry ~0.4: both clip
                                     (dict(type="SGD", lr=0.3, momentum=0.9, weight_decay=0.01), 1.0)):
        batches = [torch.randint(0, _CFG["d_vocab"], (3, 7), generator=g) for _ in range(2)]
        cases.append(dict(cfg=_CFG, state_dict=_model_state(g, _CFG), optimizer=optimizer,
                          calls=[dict(tokens=t, max_grad_norm=max_grad_norm) for t in batches]))
    return cases


def _loss(model, tokens, mistake):
    logits = model(tokens)
    if mistake == "unshifted-loss":
        return F.cross_entropy(logits.flatten(0, 1), tokens.flatten())
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), tokens[:, 1:], reduction="none")
    return nll.sum() if mistake == "summed-loss" else nll.mean()


def _step(model, optimizer, tokens, max_grad_norm=None, *, mistake=""):
    if mistake != "no-zero-grad":
        optimizer.zero_grad()
    loss = _loss(model, tokens, mistake)
    loss.backward()
    if mistake == "params-unchanged":
        optimizer.zero_grad()  # wipes the gradients just computed (as does a missing step())
    if max_grad_norm is not None:
        if mistake == "clip-by-value":
            torch.nn.utils.clip_grad_value_(model.parameters(), max_grad_norm)
        elif mistake == "clip-per-parameter":
            for p in model.parameters():
                torch.nn.utils.clip_grad_norm_([p], max_grad_norm)
        elif mistake != "no-clipping":
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    if mistake == "loss-after-step":
        with torch.no_grad():
            return _loss(model, tokens, "").item()
    return loss.item()


def _training_mutant(mistake: str):
    def wrong(model, optimizer, tokens, max_grad_norm=None):
        return _step(model, optimizer, tokens, max_grad_norm, mistake=mistake)

    return wrong


register_exercise(
    id="ch01.training_step", name="training_step", title="One training step", points=3, difficulty=2,
    hints=["optimizer.zero_grad(); loss = cross_entropy_per_token(model(tokens), tokens).mean(); loss.backward(); "
           "optimizer.step(); return loss.item().",
           "Clip between backward() and step(), and only when max_grad_norm is not None: "
           "torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)."],
    make_cases=training_cases,
    mutants=[
        Mutant("no-zero-grad", "the gradients are never cleared, so each step adds the new gradients to the old "
               "ones (the second step is wrong); call optimizer.zero_grad() before backward().",
               _training_mutant("no-zero-grad")),
        Mutant("params-unchanged", "the parameters did not change: optimizer.step() is missing, or zero_grad() "
               "runs between backward() and step() and wipes the gradients. Order: zero_grad, backward, step.",
               _training_mutant("params-unchanged")),
        Mutant("no-clipping", "the gradients were not clipped before the update (clip_grad_norm_ missing, or "
               "called after step(), when it is too late); clip between backward() and step().",
               _training_mutant("no-clipping")),
        Mutant("clip-by-value", "each gradient entry was clipped to [-max, max] (clip_grad_value_); scale all the "
               "gradients together to a global norm of at most max_grad_norm: clip_grad_norm_.",
               _training_mutant("clip-by-value")),
        Mutant("clip-per-parameter", "each parameter's gradient was clipped on its own; clip_grad_norm_ takes "
               "all of model.parameters() at once, so the *global* norm is at most max_grad_norm.",
               _training_mutant("clip-per-parameter")),
        Mutant("summed-loss", "the loss is summed over the tokens; take the mean (a sum makes the step size "
               "grow with the batch).", _training_mutant("summed-loss")),
        Mutant("unshifted-loss", "the loss scores each position on its own token; the logits at position i "
               "predict token i + 1: cross_entropy_per_token(model(tokens), tokens).mean().",
               _training_mutant("unshifted-loss")),
        Mutant("loss-after-step", "the returned loss was computed after the update; return the loss of the "
               "batch before step() (the one that was backpropagated).", _training_mutant("loss-after-step")),
    ],
    depends_on=["ch01.cross_entropy_per_token"], kind="model",
)
