"""Chapter 6's registrar, and what its checks share: sparse feature batches, SAE weights, small models.

The model cases reuse chapter 5's seeded random GPT weights (:func:`..ch05._common.random_state`):
weights large enough that every component moves the logits.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...registry import exercise_registrar
from .._shared import _randn
from ..ch05._common import build, random_state  # noqa: F401  (re-exported for this chapter's model cases)

register_exercise = exercise_registrar(chapter=6, file="ch06_superposition.py")


def sparse_batch(g: torch.Generator, batch: int, probability: Tensor) -> Tensor:
    """Toy features ``[batch n_instances n_features]``: ``U[0, 1)`` where present (with ``probability``), else 0."""
    shape = (batch, *probability.shape)
    values = torch.rand(shape, generator=g)
    return torch.where(torch.rand(shape, generator=g) < probability, values, 0.0)


def per_instance(probs: list[float], n_features: int) -> Tensor:
    """One probability per instance as the table ``[n_instances n_features]``."""
    return torch.tensor(probs)[:, None].expand(len(probs), n_features).clone()


def unit_rows(W: Tensor) -> Tensor:
    return W / W.norm(dim=-1, keepdim=True)


def sae_weights(g: torch.Generator, d_in: int, d_sae: int) -> dict[str, Tensor]:
    """A ReLU SAE ``W_enc [d_in d_sae]``, ``b_enc [d_sae]``, ``W_dec [d_sae d_in]`` (unit rows), ``b_dec [d_in]``.

    The encoder is the decoder's transpose plus noise (as SAEs start), ``b_dec`` is far from 0 so
    that forgetting to subtract it shows, and about half the pre-activations are negative.
    """
    W_dec = unit_rows(_randn(g, d_sae, d_in))
    return dict(W_enc=W_dec.T + _randn(g, d_in, d_sae, scale=0.3), b_enc=_randn(g, d_sae, scale=0.3),
                W_dec=W_dec, b_dec=_randn(g, d_in, scale=0.5, shift=0.8))


def sae_inputs(g: torch.Generator, *shape: int, b_dec: Tensor) -> Tensor:
    """Activations ``[*shape d_in]`` centred near ``b_dec``, as an SAE's data are once ``b_dec`` has been learned."""
    return _randn(g, *shape, b_dec.shape[0]) + b_dec


def encode(x: Tensor, W_enc: Tensor, b_enc: Tensor, b_dec: Tensor) -> Tensor:
    """The reference ``sae_encode``: ``ReLU((x - b_dec) W_enc + b_enc)``."""
    return torch.relu((x - b_dec) @ W_enc + b_enc)
