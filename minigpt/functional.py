"""The maths of GPT-2's pieces as pure functions; the modules are thin wrappers.

Each has a hand-checkable example, e.g. LayerNorm of ``[1, 3]`` (mean 2,
variance 1) is ``[-1, 1]`` up to epsilon:

>>> import torch
>>> layer_norm(torch.tensor([1.0, 3.0]), torch.ones(2), torch.zeros(2), eps=0.0)
tensor([-1.,  1.])
"""

from __future__ import annotations

import math
import os

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


def activation_(name: str):
    """The in-place version of :func:`activation` (saves an allocation when no gradient is needed)."""
    return {
        "gelu_new": lambda x: torch._C._nn.gelu_(x, approximate="tanh"),
        "gelu": lambda x: torch._C._nn.gelu_(x),
        "relu": torch.relu_,
        "silu": lambda x: F.silu(x, inplace=True),
    }[name]


def stored_parameter(storage_shape: tuple[int, ...], permutation: tuple[int, ...]) -> torch.nn.Parameter:
    """A parameter shown as ``storage.permute(permutation)`` but stored as ``storage_shape``.

    The model exposes weights in TransformerLens's shapes (``W_in: [d_model, d_mlp]``)
    while storing each as ``nn.Linear`` does, ``[d_out, d_in]``, so the GEMM reads it
    without a copy. Loading, ``.to()``, optimisers and ``deepcopy`` keep the layout;
    a parameter replaced by a contiguous one still gives the same numbers, just slower.
    """
    return torch.nn.Parameter(torch.empty(storage_shape).permute(permutation))


USE_ONEDNN = os.environ.get("MINIGPT_ONEDNN", "1") != "0"
_onednn_broken = False


def _onednn_ok(x: Tensor, weight: Tensor) -> bool:
    return (
        USE_ONEDNN and not _onednn_broken and not torch.compiler.is_compiling()  # compiled: inductor picks
        and x.device.type == "cpu" and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))
        and not torch.is_autocast_enabled("cpu")  # CPU autocast: let F.linear run in its lower precision
        and torch.backends.mkldnn.is_available()
    )


def linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``x @ weight.T + bias`` with ``weight: [d_out, d_in]`` (``nn.Linear``'s convention).

    On the CPU, in fp32 and when no gradient is needed, it calls oneDNN's GEMM
    (the kernel ``torch.compile`` picks on CPU): the same fp32 maths, measured
    about twice as fast as the default BLAS here. Everywhere else it is
    ``F.linear``. ``MINIGPT_ONEDNN=0`` (or ``functional.USE_ONEDNN = False``) turns
    the fast path off.
    """
    global _onednn_broken
    if _onednn_ok(x, weight):
        try:
            x2 = x.reshape(-1, x.shape[-1])
            out = torch.ops.mkldnn._linear_pointwise(x2, weight.contiguous(), bias, "none", [], "")
            return out.view(*x.shape[:-1], weight.shape[0])
        except (RuntimeError, AttributeError, NotImplementedError):  # an older or odd torch build
            _onednn_broken = True
    return F.linear(x, weight, bias)
