"""The three activation functions of a sparse autoencoder, as pure functions of the pre-activations.

``pre = (x - b_dec) W_enc + b_enc`` is ``[... d_sae]``; each function keeps some latents and zeroes the rest.

- **ReLU** (Towards Monosemanticity, 2023): ``relu(pre)``; an L1 penalty makes it sparse.
- **TopK** (Gao et al. 2024): the ``k`` largest pre-activations *over the latent axis*, ReLU'd; every other
  latent is 0, so at most ``k`` fire on each token, by construction:

  >>> topk_relu(torch.tensor([[3.0, -1.0, 2.0, 0.5]]), k=2)
  tensor([[3., 0., 2., 0.]])

- **JumpReLU** (Rajamanoharan et al. 2024): ``pre * H(pre - threshold)`` with a threshold per latent, so a
  latent is either off or on at a value of at least its threshold; ``H`` is the Heaviside step:

  >>> jumprelu(torch.tensor([0.5, 1.5, -2.0]), threshold=torch.tensor([1.0, 1.0, 1.0]))
  tensor([0.0000, 1.5000, -0.0000])

The step has no useful gradient with respect to the threshold (it is 0 almost everywhere), so the paper
trains the threshold with a *pseudo-derivative* (straight-through estimator) through a rectangle kernel of
width ``bandwidth`` (``epsilon``): only pre-activations within ``bandwidth / 2`` of the threshold pass
a gradient to it::

    d/d threshold  H(pre - threshold)          := -(1 / bandwidth)         * rect((pre - threshold) / bandwidth)
    d/d threshold  pre * H(pre - threshold)    := -(threshold / bandwidth) * rect((pre - threshold) / bandwidth)
    d/d pre        pre * H(pre - threshold)     = H(pre - threshold)       (the true derivative)
    d/d pre        H(pre - threshold)           = 0                        (the true derivative)

``rect(u) = 1`` where ``-1/2 < u < 1/2``, else 0. The L0 penalty ``sum H(pre - threshold)`` therefore
moves the thresholds only; the reconstruction loss moves the encoder.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["jumprelu", "rectangle", "step", "topk_relu"]


def topk_relu(pre: Tensor, k: int) -> Tensor:
    """Keep the ``k`` largest entries of the last axis (``d_sae``), ReLU'd; zero elsewhere. ``[... d_sae]``."""
    if not 1 <= k <= pre.shape[-1]:
        raise ValueError(f"k must be between 1 and d_sae={pre.shape[-1]}, got k={k}")
    values, indices = pre.topk(k, dim=-1)  # [... k]
    return torch.zeros_like(pre).scatter(-1, indices, values.relu())


def rectangle(u: Tensor) -> Tensor:
    """The kernel of the pseudo-derivatives: 1 on ``(-1/2, 1/2)``, else 0.

    >>> rectangle(torch.tensor([-0.6, -0.4, 0.0, 0.5]))
    tensor([0., 1., 1., 0.])
    """
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


class _JumpReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return pre * (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        pre, threshold = ctx.saved_tensors
        grad_pre = grad_out * (pre > threshold).to(pre.dtype)
        pseudo = -(threshold / ctx.bandwidth) * rectangle((pre - threshold) / ctx.bandwidth)
        grad_threshold = _sum_to(grad_out * pseudo, threshold.shape)
        return grad_pre, grad_threshold, None


class _Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        pre, threshold = ctx.saved_tensors
        pseudo = -(1.0 / ctx.bandwidth) * rectangle((pre - threshold) / ctx.bandwidth)
        return torch.zeros_like(pre), _sum_to(grad_out * pseudo, threshold.shape), None


def _sum_to(grad: Tensor, shape: torch.Size) -> Tensor:
    """Sum a broadcast gradient ``[... d_sae]`` back to the threshold's ``[d_sae]``."""
    return grad.reshape(-1, *shape).sum(0) if grad.shape != shape else grad


def jumprelu(pre: Tensor, threshold: Tensor, bandwidth: float = 1e-3) -> Tensor:
    """``pre * H(pre - threshold)``: ``pre [... d_sae]``, ``threshold [d_sae]`` (> 0); gradients as above."""
    return _JumpReLU.apply(pre, threshold, bandwidth)


def step(pre: Tensor, threshold: Tensor, bandwidth: float = 1e-3) -> Tensor:
    """``H(pre - threshold)``, 1 where a latent fires: summed over ``d_sae`` it is the L0 the paper penalises.

    >>> step(torch.tensor([0.5, 1.5]), threshold=torch.tensor([1.0, 1.0]))
    tensor([0., 1.])
    """
    return _Step.apply(pre, threshold, bandwidth)
