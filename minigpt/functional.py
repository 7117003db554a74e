"""The maths of GPT-2's pieces as pure functions; the modules are thin wrappers.

Each module in :mod:`minigpt.components` holds the parameters and the hook
points and calls these functions for the maths. Where torch has a fused
kernel for the same maths (LayerNorm, GELU), the function calls it for speed
and its docstring writes the maths out; the tests hold the two equal.

Each has a hand-checkable example, e.g. LayerNorm of ``[1, 3]`` (mean 2,
variance 1) is ``[-1, 1]`` up to epsilon:

>>> import torch
>>> layer_norm(torch.tensor([1.0, 3.0]), torch.ones(2), torch.zeros(2), eps=0.0)
tensor([-1.,  1.])
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import Tensor


def mean_and_scale(x: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """The mean of ``x`` over its last axis and ``scale = sqrt(var + eps)``, each ``[..., 1]``.

    The *biased* variance (divided by ``d_model``, not ``d_model - 1``), with
    eps inside the square root, exactly as ``torch.nn.LayerNorm`` and GPT-2.

    >>> mean_and_scale(torch.tensor([1.0, 2.0, 3.0]), eps=0.0)  # var = (1 + 0 + 1) / 3
    (tensor([2.]), tensor([0.8165]))
    """
    var, mean = torch.var_mean(x, dim=-1, keepdim=True, correction=0)
    return mean, (var + eps).sqrt()


def normalize(x: Tensor, mean: Tensor, scale: Tensor, w: Tensor | None = None, b: Tensor | None = None) -> Tensor:
    """``(x - mean) / scale``, then ``* w + b`` when given: LayerNorm from its statistics.

    Apart from :func:`layer_norm` so that another scale can be used, e.g. one a
    hook froze (as direct logit attribution does). Without ``w`` and ``b`` it is
    what a LayerNorm's ``hook_normalized`` records (as in TransformerLens).

    >>> normalize(torch.tensor([1.0, 3.0]), mean=torch.tensor([2.0]), scale=torch.tensor([2.0]))
    tensor([-0.5000,  0.5000])
    """
    out = (x - mean) / scale
    if w is not None:
        out = out * w
    return out if b is None else out + b


def layer_norm(x: Tensor, w: Tensor | None = None, b: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """LayerNorm over the last axis (``d_model``): ``normalize(x, *mean_and_scale(x, eps), w, b)``.

    That is ``(x - mean) / sqrt(var + eps) * w + b``, computed by torch's fused
    kernel in one pass. ``w`` and ``b`` are ``None`` for LNPre (no weights).

    >>> layer_norm(torch.tensor([1.0, 2.0, 3.0]), eps=0.0)  # (x - 2) / sqrt(2/3)
    tensor([-1.2247,  0.0000,  1.2247])
    """
    return F.layer_norm(x, x.shape[-1:], w, b, eps)


def gelu_new(x: Tensor) -> Tensor:
    """GPT-2's GELU: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

    Close to ``relu`` far from 0, smooth near it. Computed by torch's fused
    kernel for that formula, ``F.gelu(x, approximate="tanh")``.

    >>> gelu_new(torch.tensor([-3.0, 0.0, 1.0, 3.0]))
    tensor([-0.0036,  0.0000,  0.8412,  2.9964])
    """
    return F.gelu(x, approximate="tanh")


def gelu_new_(x: Tensor) -> Tensor:
    """:func:`gelu_new` in place (overwrites and returns ``x``)."""
    return torch._C._nn.gelu_(x, approximate="tanh")


def activation(name: str):
    """The elementwise non-linearity named in ``GPTConfig.act_fn``."""
    return {"gelu_new": gelu_new, "gelu": F.gelu, "relu": F.relu, "silu": F.silu}[name]


def activation_(name: str):
    """The in-place version of :func:`activation` (saves an allocation when no gradient is needed)."""
    return {
        "gelu_new": gelu_new_,
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
