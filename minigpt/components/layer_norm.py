"""LayerNorm with TransformerLens's hook points (``hook_scale``, ``hook_normalized``).

Two flavours, as in TransformerLens:

- :class:`LayerNorm` (``normalization_type="LN"``): ``(x - mean) / scale * w + b``;
- :class:`LayerNormPre` (``"LNPre"``): ``(x - mean) / scale``, no weights. What
  ``minigpt.weights.processing.fold_ln`` leaves behind once ``w`` and ``b`` are folded
  into the weights that read the output.

``scale = sqrt(var + eps)`` (biased variance) is computed in fp32 for half inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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
        return F.layer_norm(x, x.shape[-1:], w, b, module.eps).to(dtype)
    var, mean = torch.var_mean(x, dim=-1, keepdim=True, correction=0)
    scale = (var + module.eps).sqrt()  # [batch pos 1]
    before = scale.clone()  # [batch pos 1]: cheap, and tells whether a hook changed it in place
    hooked = module.hook_scale(scale)
    if hooked is scale and torch.equal(scale, before):
        # the hook only read the scale: torch's fused kernel computes the same numbers
        out = F.layer_norm(x, x.shape[-1:], w, b, module.eps)
    else:  # the hook replaced the scale (e.g. froze it): normalise by the new one
        out = (x - mean) / hooked
        if w is not None:
            out = out * w + b
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
