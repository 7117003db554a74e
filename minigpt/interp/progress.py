"""Progress measures for grokking (Nanda et al., 2023): watching the circuit form before the test loss drops.

Given the final model's key frequencies, two losses split the logits ``[p*p, p]``
(one row per pair ``a, b``; one column per answer ``c``) in two:

- **restricted loss**: keep only the parts of the logits that vary with
  ``cos(w(a+b))`` and ``sin(w(a+b))`` at the key frequencies (plus each
  answer's mean logit), drop the rest, and take the loss over **all** pairs.
  It falls when the Fourier circuit works, whatever else the model still does.
- **excluded loss**: *remove* those key-frequency parts and take the loss on
  the **training** pairs. It rises when the model relies on the circuit to fit
  its training data (memorisation alone would not care).

And a third, of the weights: the **sum of squared weights**, which weight decay
shrinks once the circuit makes the memorising weights unnecessary (cleanup).

>>> logits = torch.randn(9, 3)            # p = 3: 9 pairs, 3 answers
>>> labels = torch.tensor([(a + b) % 3 for a in range(3) for b in range(3)])
>>> restricted_loss(logits, labels, [1]) > 0, excluded_loss(logits, labels, [1], torch.arange(9)) > 0
(tensor(True), tensor(True))
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor

from .fourier import component_xpy, explained_variance_1d, explained_variance_2d, key_frequencies

__all__ = ["cross_entropy", "excluded_loss", "progress_measures", "restricted_logits", "restricted_loss",
           "sum_sq_weights"]


def cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy of ``logits [n, p]`` against ``labels [n]``, in float64 (tiny losses stay exact)."""
    log_probs = logits.double().log_softmax(dim=-1)
    return -log_probs.gather(-1, labels[:, None]).mean()


def restricted_logits(logits: Tensor, freqs: Iterable[int]) -> Tensor:
    """``logits [p*p, p]`` restricted to ``cos/sin(w(a+b))`` at ``freqs``, plus each answer's mean over pairs."""
    freqs = list(freqs)
    return component_xpy(logits, freqs) + logits.mean(dim=0, keepdim=True)


def restricted_loss(logits: Tensor, labels: Tensor, freqs: Iterable[int]) -> Tensor:
    """The loss over every pair of the logits restricted to the key frequencies (see the module docstring)."""
    return cross_entropy(restricted_logits(logits.double(), freqs), labels)


def excluded_loss(logits: Tensor, labels: Tensor, freqs: Iterable[int], train_idx: Tensor) -> Tensor:
    """The loss on the training pairs ``train_idx`` once the key frequencies' ``a + b`` parts are removed."""
    logits = logits.double()
    excluded = logits - component_xpy(logits, list(freqs))
    return cross_entropy(excluded[train_idx], labels[train_idx])


def sum_sq_weights(model) -> float:
    """``Σ w²`` over every parameter: what weight decay pulls down."""
    return float(sum(p.detach().double().pow(2).sum() for p in model.parameters()))


@torch.no_grad()
def progress_measures(model, data, freqs: Iterable[int] | None = None) -> dict[str, float]:
    """The progress measures of one model on a :class:`~minigpt.data.ModularData` split.

    ``freqs``: the key frequencies to measure against (default: the model's own,
    from its embedding). Returns the train/test/all losses, restricted and
    excluded losses, the sum of squared weights, and the fraction of the
    embedding's and of the neurons' variance the frequencies explain.
    """
    from .grok import grok_grids

    p = data.p
    grids = grok_grids(model)
    logits = grids["logits"].reshape(p * p, p).double()
    labels = data.all_labels().to(logits.device)
    if freqs is None:
        freqs = key_frequencies(model.W_E[:p].detach())
    freqs = list(freqs)
    train_idx, test_idx = data.train_idx.to(logits.device), data.test_idx.to(logits.device)
    return {
        "train_loss": float(cross_entropy(logits[train_idx], labels[train_idx])),
        "test_loss": float(cross_entropy(logits[test_idx], labels[test_idx])),
        "all_loss": float(cross_entropy(logits, labels)),
        "restricted_loss": float(restricted_loss(logits, labels, freqs)),
        "excluded_loss": float(excluded_loss(logits, labels, freqs, train_idx)),
        "sum_sq_weights": sum_sq_weights(model),
        "embed_explained": explained_variance_1d(model.W_E[:p].detach(), freqs),
        "neuron_explained": explained_variance_2d(grids["neurons"], freqs),
    }
