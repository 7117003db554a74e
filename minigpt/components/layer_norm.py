"""LayerNorm with TransformerLens's hook points (``hook_scale``, ``hook_normalized``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..functional import layer_norm_scale
from ..hooks import HookPoint

_HALF = (torch.float16, torch.bfloat16)


class LayerNorm(nn.Module):
    """``(x - mean) / sqrt(var + eps) * w + b``, statistics in fp32 for half inputs.

    With no hook on ``hook_scale``/``hook_normalized`` it calls torch's fused
    kernel; with one it computes the same maths step by step so the scale can
    be read (or frozen, as in direct logit attribution).
    """

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.w = nn.Parameter(torch.ones(d_model))
        self.b = nn.Parameter(torch.zeros(d_model))
        self.hook_scale = HookPoint()  # [batch pos 1]
        self.hook_normalized = HookPoint()  # [batch pos d_model]

    def forward(self, x: Tensor) -> Tensor:  # [batch pos d_model] -> same
        dtype = x.dtype
        if dtype in _HALF:
            x = x.float()
        if not (self.hook_scale.has_hooks or self.hook_normalized.has_hooks):
            out = F.layer_norm(x, x.shape[-1:], self.w.to(x.dtype), self.b.to(x.dtype), self.eps)
            return out.to(dtype)
        x, scale = layer_norm_scale(x, self.eps)
        scale = self.hook_scale(scale)
        return self.hook_normalized((x / scale * self.w + self.b).to(dtype))
