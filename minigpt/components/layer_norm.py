"""LayerNorm with TransformerLens's hook points (``hook_scale``, ``hook_normalized``).

Two flavours, as in TransformerLens:

- :class:`LayerNorm` (``normalization_type="LN"``): ``(x - mean) / scale * w + b``;
- :class:`LayerNormPre` (``"LNPre"``): ``(x - mean) / scale``, no weights. What
  ``minigpt.weights.processing.fold_ln`` leaves behind once ``w`` and ``b`` are folded
  into the weights that read the output.

``scale = sqrt(var + eps)`` (biased variance) is computed in fp32 for half inputs.
The maths is :func:`minigpt.functional.layer_norm` (and, when a hook reads or
replaces the scale, :func:`~minigpt.functional.mean_and_scale` then
:func:`~minigpt.functional.normalize`); these modules add the weights, the
hook points and the half-precision handling.

>>> LayerNorm(3)(torch.tensor([1.0, 2.0, 3.0])).detach()  # mean 2, variance 2/3, w = 1, b = 0
tensor([-1.2247,  0.0000,  1.2247])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..functional import layer_norm, mean_and_scale, normalize
from ..hooks import HookPoint

_HALF = (torch.float16, torch.bfloat16)


def _hooked_layer_norm(module: nn.Module, x: Tensor, w: Tensor | None, b: Tensor | None) -> Tensor:
    """The shared forward of both flavours; ``w``/``b`` are ``None`` for LNPre.

    With no hook on ``hook_scale``/``hook_normalized`` it calls torch's fused
    kernel; with one it computes the same maths step by step so the scale can
    be read (or frozen, as in direct logit attribution).
    """
    dtype = x.dtype
    if dtype in _HALF:
        x = x.float()
    if w is not None:
        w, b = w.to(x.dtype), b.to(x.dtype)
    if not (module.hook_scale.has_hooks or module.hook_normalized.has_hooks):
        return layer_norm(x, w, b, module.eps).to(dtype)
    mean, scale = mean_and_scale(x, module.eps)  # [batch pos 1] each
    before = scale.clone()  # [batch pos 1]: cheap, and tells whether a hook changed it in place
    hooked = module.hook_scale(scale)
    if hooked is scale and torch.equal(scale, before):
        out = layer_norm(x, w, b, module.eps)  # the hook only read the scale: the fused kernel, same numbers
    else:  # the hook replaced the scale (e.g. froze it): normalise by the new one
        out = normalize(x, mean, hooked, w, b)
    return module.hook_normalized(out.to(dtype))


class LayerNorm(nn.Module):
    """``(x - mean) / sqrt(var + eps) * w + b``, statistics in fp32 for half inputs.

    ``hook_normalized`` sees the output, after ``w`` and ``b`` (as in TransformerLens).
    """

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.w = nn.Parameter(torch.ones(d_model))
        self.b = nn.Parameter(torch.zeros(d_model))
        self.hook_scale = HookPoint()  # [batch pos 1]
        self.hook_normalized = HookPoint()  # [batch pos d_model]

    def forward(self, x: Tensor) -> Tensor:  # [batch pos d_model] -> same
        return _hooked_layer_norm(self, x, self.w, self.b)


class LayerNormPre(nn.Module):
    """``(x - mean) / sqrt(var + eps)``: LayerNorm without weights (centre and normalise only).

    Its output has zero mean and unit variance over ``d_model`` at every
    position. Same hook points, fast path and half-precision handling as
    :class:`LayerNorm`.

    >>> LayerNormPre(2, eps=0.0)(torch.tensor([[[1.0, 3.0]]]))
    tensor([[[-1.,  1.]]])
    """

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.d_model = d_model
        self.eps = eps
        self.hook_scale = HookPoint()  # [batch pos 1]
        self.hook_normalized = HookPoint()  # [batch pos d_model]

    def forward(self, x: Tensor) -> Tensor:  # [batch pos d_model] -> same
        return _hooked_layer_norm(self, x, None, None)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, eps={self.eps}"
