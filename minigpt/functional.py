"""The maths of GPT-2's pieces as pure functions; the modules are thin wrappers.

Each has a hand-checkable example, e.g. LayerNorm of ``[1, 3]`` (mean 2,
variance 1) is ``[-1, 1]`` up to epsilon:

>>> import torch
>>> layer_norm(torch.tensor([1.0, 3.0]), torch.ones(2), torch.zeros(2), eps=0.0)
tensor([-1.,  1.])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def layer_norm_scale(x: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Centre ``x`` on its last axis and return ``(x_centred, scale)``.

    ``scale = sqrt(mean(x_centred**2) + eps)``: the *biased* variance, with eps
    inside the square root, exactly as ``torch.nn.LayerNorm`` and GPT-2.
    """
    x = x - x.mean(dim=-1, keepdim=True)
    scale = (x.pow(2).mean(dim=-1, keepdim=True) + eps).sqrt()
    return x, scale


def layer_norm(x: Tensor, w: Tensor, b: Tensor, eps: float = 1e-5) -> Tensor:
    """``(x - mean) / sqrt(var + eps) * w + b`` over the last axis (``d_model``)."""
    x, scale = layer_norm_scale(x, eps)
    return x / scale * w + b


def gelu_new(x: Tensor) -> Tensor:
    """GPT-2's GELU: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

    Written out for reading; :func:`activation` uses torch's fused equivalent.
    """
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def activation(name: str):
    """The elementwise non-linearity named in ``GPTConfig.act_fn`` (fused kernels)."""
    return {
        "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
        "gelu": F.gelu,
        "relu": F.relu,
        "silu": F.silu,
    }[name]


def linear(x: Tensor, W: Tensor, b: Tensor | None) -> Tensor:
    """``x @ W + b`` for ``W: [d_in, d_out]`` as one fused GEMM over all leading axes."""
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    out = torch.addmm(b, x2, W) if b is not None else x2 @ W
    return out.view(*lead, W.shape[-1])
