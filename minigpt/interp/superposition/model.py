"""The toy models of Elhage et al. (2022), "Toy Models of Superposition", batched over instances.

:class:`ToyModel` squeezes ``n_features`` sparse features through ``d_hidden < n_features``
dimensions and back:

    h  = W x                     [... n_instances d_hidden]
    x' = ReLU(Wᵀ h + b_final)    [... n_instances n_features]

Column ``W[:, i]`` is feature ``i``'s direction in the hidden space. Without the ReLU the best
such model keeps the ``d_hidden`` most important features and drops the rest (PCA); with it, and
sparse enough features, the model stores *more* features than dimensions, in superposition.

Many models train at once: ``W [n_instances d_hidden n_features]``, one per instance, each with
its own feature probability (and optionally importance), so one training run sweeps sparsity.

>>> model = ToyModel(n_features=5, d_hidden=2, n_instances=3, feature_probability=[1.0, 0.1, 0.01])
>>> model.W.shape, model.b_final.shape
(torch.Size([3, 2, 5]), torch.Size([3, 5]))
>>> x = model.generate_batch(8)                        # [batch n_instances n_features]
>>> model(x).shape
torch.Size([8, 3, 5])

:class:`ToyModelNeurons` is the paper's privileged-basis model: the hidden layer has a ReLU too,
``x' = ReLU(Wᵀ ReLU(W x) + b_final)``, so each hidden dimension is a *neuron*, and one can ask
whether a neuron stands for one feature (monosemantic) or several (polysemantic).
"""

from __future__ import annotations

import math
from typing import Sequence

import einops
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .batches import check_layout, toy_batch

__all__ = ["ToyModel", "ToyModelNeurons", "importance_weighted_mse"]


def importance_weighted_mse(out: Tensor, batch: Tensor, importance: Tensor) -> Tensor:
    """The toy models' loss per instance: ``mean over batch and features of I_i (x_i - x'_i)²``.

    ``out, batch: [batch n_instances n_features]``, ``importance`` broadcasts to
    ``[n_instances n_features]``. Returns ``[n_instances]``. Training minimises the *sum* over
    instances, so that instances do not interact (each gets its own gradient, unscaled).
    This is ARENA's reduction (``reduce(error, "batch inst feats -> inst", "mean").sum()``);
    the paper writes ``Σ_x Σ_i I_i (x_i - x'_i)²``, the sum over features: ours is that divided
    by ``n_features`` (a constant factor, which Adam all but ignores).

    >>> batch = torch.tensor([[[1.0, 1.0]]])                     # [batch=1 n_instances=1 n_features=2]
    >>> importance_weighted_mse(torch.zeros(1, 1, 2), batch, torch.tensor([1.0, 0.5]))
    tensor([0.7500])
    """
    if out.shape != batch.shape or out.ndim != 3:
        raise ValueError(f"importance_weighted_mse: expected out and batch [batch n_instances n_features] of one "
                         f"shape, got {list(out.shape)} and {list(batch.shape)}")
    error = importance * (batch - out).pow(2)  # [batch n_instances n_features]
    return einops.reduce(error, "batch n_instances n_features -> n_instances", "mean")


def _per_instance(value, n_instances: int, n_features: int, what: str, axis: str) -> Tensor:
    """``value`` as ``[n_instances n_features]``: a number, one per ``axis`` (1-D), or the full table."""
    t = torch.as_tensor(value, dtype=torch.float32)
    if t.ndim == 1 and axis == "n_instances":
        t = t[:, None]  # [n_instances 1]; a 1-D importance [n_features] broadcasts as it is
    if t.ndim <= 2 and all(a in (1, b) for a, b in zip(t.shape[::-1], (n_features, n_instances))):
        return t.expand(n_instances, n_features).clone()
    n = n_instances if axis == "n_instances" else n_features
    raise ValueError(f"{what}: expected a number, [{axis}={n}] or [n_instances={n_instances} "
                     f"n_features={n_features}], got shape {list(torch.as_tensor(value).shape)}")


class ToyModel(nn.Module):
    """``x' = ReLU(Wᵀ W x + b_final)`` for ``n_instances`` independent models trained together.

    ``feature_probability``: a number, one per instance ``[n_instances]``, or
    ``[n_instances n_features]``. ``importance``: a number, one per feature ``[n_features]``, or
    ``[n_instances n_features]`` (default 1). ``n_correlated_pairs`` / ``n_anticorrelated_pairs``:
    the first features come in pairs (see :func:`~minigpt.interp.superposition.batches.toy_batch`).
    ``W`` starts Xavier-normal per instance (std ``sqrt(2 / (d_hidden + n_features))``), drawn
    from ``generator`` (or the global seed); ``b_final`` starts at 0.
    """

    def __init__(self, n_features: int, d_hidden: int, n_instances: int = 1,
                 feature_probability: float | Sequence[float] | Tensor = 1.0,
                 importance: float | Sequence[float] | Tensor | None = None, *, n_correlated_pairs: int = 0,
                 n_anticorrelated_pairs: int = 0, generator: torch.Generator | None = None):
        super().__init__()
        if min(n_features, d_hidden, n_instances) < 1:
            raise ValueError(f"ToyModel needs n_features, d_hidden, n_instances >= 1, got {n_features}, {d_hidden}, "
                             f"{n_instances}")
        self.n_features, self.d_hidden, self.n_instances = n_features, d_hidden, n_instances
        self.n_correlated_pairs, self.n_anticorrelated_pairs = n_correlated_pairs, n_anticorrelated_pairs
        std = math.sqrt(2 / (d_hidden + n_features))
        self.W = nn.Parameter(torch.randn(n_instances, d_hidden, n_features, generator=generator) * std)
        self.b_final = nn.Parameter(torch.zeros(n_instances, n_features))
        shape = (n_instances, n_features)
        self.register_buffer("feature_probability", _per_instance(
            feature_probability, *shape, "feature_probability", "n_instances"))
        self.register_buffer("importance", _per_instance(
            1.0 if importance is None else importance, *shape, "importance", "n_features"))
        check_layout(self.feature_probability, n_correlated_pairs, n_anticorrelated_pairs)  # [n_instances n_features]

    def hidden(self, x: Tensor) -> Tensor:
        """``h = W x``: ``[... n_instances n_features] -> [... n_instances d_hidden]``."""
        if x.shape[-2:] != (self.n_instances, self.n_features):
            raise ValueError(f"expected features [... n_instances={self.n_instances} n_features={self.n_features}], "
                             f"got shape {list(x.shape)}")
        return einops.einsum(x, self.W, "... n_instances n_features, n_instances d_hidden n_features "
                                        "-> ... n_instances d_hidden")

    def forward(self, x: Tensor) -> Tensor:
        """``ReLU(Wᵀ h + b_final)``: ``[... n_instances n_features]`` in and out."""
        out = einops.einsum(self.hidden(x), self.W, "... n_instances d_hidden, n_instances d_hidden n_features "
                                                    "-> ... n_instances n_features")
        return F.relu(out + self.b_final)

    def generate_batch(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        """A batch ``[batch n_instances n_features]`` drawn with each instance's probabilities."""
        return toy_batch(batch_size, self.feature_probability, self.n_correlated_pairs,
                         self.n_anticorrelated_pairs, generator)

    def calculate_loss(self, out: Tensor, batch: Tensor) -> Tensor:
        """The training loss, a scalar: :func:`importance_weighted_mse` summed over instances."""
        return importance_weighted_mse(out, batch, self.importance).sum()


class ToyModelNeurons(ToyModel):
    """The privileged-basis toy: ``x' = ReLU(Wᵀ ReLU(W x) + b_final)``; ``W`` rows are neurons.

    >>> model = ToyModelNeurons(n_features=10, d_hidden=5, n_instances=2)
    >>> bool((model.hidden(model.generate_batch(3)) >= 0).all())     # the neurons fire or not
    True
    """

    def hidden(self, x: Tensor) -> Tensor:
        """``ReLU(W x)``: ``[... n_instances n_features] -> [... n_instances d_hidden]``."""
        return F.relu(super().hidden(x))
