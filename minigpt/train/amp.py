"""One training step in mixed precision: the forward under autocast, a scaled backward, clip, step.

>>> from minigpt import GPT, GPTConfig
>>> from minigpt.device import grad_scaler
>>> model = GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2, d_vocab=11, n_ctx=8, seed=0))
>>> optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
>>> tokens = torch.randint(0, 11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> scaler = grad_scaler("cpu", torch.bfloat16)   # disabled: only fp16 scales the loss
>>> first, _ = amp_step(model, optimizer, tokens, scaler, device="cpu", dtype=torch.bfloat16)
>>> later = [amp_step(model, optimizer, tokens, scaler, device="cpu", dtype=torch.bfloat16)[0] for _ in range(10)]
>>> bool(later[-1] < first)
True

Weights and their gradients stay fp32; only the forward's matmuls run in ``dtype``. fp16 needs
the loss scaled (:func:`minigpt.device.grad_scaler`), or small gradients flush to zero; the
gradients are unscaled before clipping, so ``grad_clip`` is in the units of the true gradient.
With fp32 and a disabled scaler, each call below is the plain step.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ..device import autocast

__all__ = ["amp_step", "next_token_loss"]


def next_token_loss(model, batch) -> Tensor:
    """The model's own next-token loss on a token batch ``[batch pos]``."""
    return model(batch, return_type="loss")


def amp_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch, scaler: torch.amp.GradScaler, *,
             device: torch.device | str, dtype: torch.dtype | str | None, loss_fn: Callable = next_token_loss,
             grad_clip: float | None = None) -> tuple[Tensor, Tensor | None]:
    """One optimizer step on ``batch``; returns ``(loss, grad_norm)`` (``grad_norm`` is ``None`` without clipping).

    ``loss_fn(model, batch)`` runs under autocast in ``dtype`` on ``device`` (fp32: no autocast).
    ``scaler`` is a ``GradScaler`` (:func:`minigpt.device.grad_scaler`; enabled for fp16 only).
    The gradients are zeroed after the step. The loss is returned detached.
    """
    with autocast(device, dtype):
        loss = loss_fn(model, batch)
    scaler.scale(loss).backward()
    grad_norm = None
    if grad_clip is not None:
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach(), grad_norm
