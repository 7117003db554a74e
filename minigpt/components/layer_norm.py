"""LayerNorm with TransformerLens's hook points (``hook_scale``, ``hook_normalized``).

Two flavours, as in TransformerLens:

- :class:`LayerNorm` (``normalization_type="LN"``): ``(x - mean) / scale * w + b``;
- :class:`LayerNormPre` (``"LNPre"``): ``(x - mean) / scale``, no weights. What
  ``minigpt.weights.processing.fold_ln`` leaves behind once ``w`` and ``b`` are folded
  into the weights that read the output.

``scale = sqrt(var + eps)`` (biased variance) is computed in fp32 for half inputs.
The hook points hold what TransformerLens 3.9 records: ``hook_scale`` the scale,
``[... 1]``, and ``hook_normalized`` the normalised input ``(x - mean) / scale``,
*before* ``w`` and ``b`` (so it has mean 0 and mean square ~1 at every position,
whatever the weights). Both see fp32 for half inputs.

The maths is :func:`minigpt.functional.layer_norm` (and, when a hook is attached,
:func:`~minigpt.functional.mean_and_scale` then :func:`~minigpt.functional.normalize`
step by step, so a hook can read or replace each piece); these modules add the
weights, the hook points and the half-precision handling.

>>> LayerNorm(3)(torch.tensor([1.0, 2.0, 3.0])).detach()  # mean 2, variance 2/3, w = 1, b = 0
tensor([-1.2247,  0.0000,  1.2247])

``hook_normalized`` does not see ``w`` and ``b``; the output does:

>>> ln = LayerNorm(2, eps=0.0)
>>> with torch.no_grad():
...     ln.w[:], ln.b[:] = torch.tensor([10.0, 10.0]), torch.tensor([1.0, 1.0])
>>> seen = []
>>> _ = ln.hook_normalized.add_hook(lambda normalized, hook: seen.append(normalized))
>>> ln(torch.tensor([[[1.0, 3.0]]])).tolist(), seen[0].tolist()   # [batch pos d_model]
([[[-9.0, 11.0]]], [[[-1.0, 1.0]]])
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
    kernel. With one it computes the same maths step by step, as TransformerLens
    does: ``scale`` (hooked), ``normalized = (x - mean) / scale`` (hooked), then
    ``normalized * w + b``. A hook may replace either piece, or change it in place
    (freezing the scale, as direct logit attribution does), and the output follows.
    ``x`` may carry a head axis (``[batch pos n_heads d_model]``, split inputs): the
    statistics are over the last axis either way.
    """
    dtype = x.dtype
    if dtype in _HALF:
        x = x.float()
    if w is not None:
        w, b = w.to(x.dtype), b.to(x.dtype)
    if not (module.hook_scale.has_hooks or module.hook_normalized.has_hooks):
        return layer_norm(x, w, b, module.eps).to(dtype)
    mean, scale = mean_and_scale(x, module.eps)  # [... 1] each
    scale = module.hook_scale(scale)
    normalized = module.hook_normalized(normalize(x, mean, scale))  # [... d_model], before w and b
    if w is None:
        return normalized.to(dtype)
    return torch.addcmul(b, normalized, w).to(dtype)  # normalized * w + b in one pass


class LayerNorm(nn.Module):
    """``(x - mean) / sqrt(var + eps) * w + b``, statistics in fp32 for half inputs.

    ``hook_normalized`` sees ``(x - mean) / scale``, before ``w`` and ``b`` (as in
    TransformerLens); the module's output is ``normalized * w + b``.
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
