"""LayerNorm with TransformerLens's hook points (``hook_scale``, ``hook_normalized``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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
        var, mean = torch.var_mean(x, dim=-1, keepdim=True, correction=0)
        scale = (var + self.eps).sqrt()  # [batch pos 1]
        before = scale.clone()  # [batch pos 1]: cheap, and tells whether a hook changed it in place
        hooked = self.hook_scale(scale)
        if hooked is scale and torch.equal(scale, before):
            # the hook only read the scale: torch's fused kernel computes the same numbers
            out = F.layer_norm(x, x.shape[-1:], self.w.to(x.dtype), self.b.to(x.dtype), self.eps)
        else:  # the hook replaced the scale (e.g. froze it): normalise by the new one
            out = (x - mean) / hooked * self.w + self.b
        return self.hook_normalized(out.to(dtype))
