"""What SAE training does besides gradient steps: keep the decoder's rows unit, bring dead latents back.

**Unit decoder rows.** The L1 penalty on ``acts`` could be dodged by shrinking ``acts`` and growing ``W_dec``,
so each row of ``W_dec [d_sae d_in]`` is held at norm 1 (Towards Monosemanticity; ARENA 1.3.2). Two steps per
optimizer step: before it, remove the gradient's component along each row (it could only change the norm);
after it, divide each row by its norm (Adam's step is not exactly tangent).

>>> W_dec = torch.tensor([[3.0, 4.0]])
>>> grad = torch.tensor([[3.0, 1.0]])
>>> remove_parallel_grad_(W_dec, grad)                    # minus (grad . w) w with w = [0.6, 0.8]
tensor([[ 1.4400, -1.0800]])
>>> normalise_decoder_(W_dec)
tensor([[0.6000, 0.8000]])

**Resampling dead latents** (Towards Monosemanticity's "neuron resampling", as ARENA 1.3.2's advanced
variant): a latent that fired on none of the recent tokens is dead. Each dead latent is re-aimed at an input
the SAE reconstructs badly, drawn with probability proportional to the *square* of its loss
``||x - x_hat||^2``: its decoder row becomes the unit residual ``(x - x_hat) / ||x - x_hat||``, its encoder
column that direction times 0.2 times the mean norm of the live latents' encoder columns, its bias 0; the
optimizer forgets its moments for those entries.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["normalise_decoder_", "remove_parallel_grad_", "resample_dead_"]


@torch.no_grad()
def normalise_decoder_(W_dec: Tensor) -> Tensor:
    """Divide each row of ``W_dec [d_sae d_in]`` by its norm, in place; returns it."""
    return W_dec.div_(W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-12))


@torch.no_grad()
def remove_parallel_grad_(W_dec: Tensor, grad: Tensor | None = None) -> Tensor:
    """Subtract from ``grad`` (default ``W_dec.grad``, ``[d_sae d_in]``) its component along each unit row, in place."""
    grad = W_dec.grad if grad is None else grad
    unit = W_dec / W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return grad.sub_((grad * unit).sum(-1, keepdim=True) * unit)


@torch.no_grad()
def resample_dead_(sae, x: Tensor, dead: Tensor, *, generator: torch.Generator | None = None,
                   optimizer: torch.optim.Optimizer | None = None, encoder_scale: float = 0.2) -> int:
    """Re-aim the latents where ``dead [d_sae]`` (bool) is true at badly reconstructed rows of ``x [n d_in]``.

    Returns how many latents were resampled. With ``optimizer`` (Adam's), their moments are zeroed.
    """
    index = dead.nonzero().squeeze(-1)  # [n_dead]
    if len(index) == 0:
        return 0
    residual = x - sae(x)  # [n d_in]
    loss = residual.pow(2).sum(-1)  # [n]
    if loss.sum() <= 0:
        return 0  # nothing reconstructed badly: nothing to aim at
    rows = torch.multinomial(loss.pow(2).cpu(), len(index), replacement=True, generator=generator).to(x.device)
    direction = residual[rows] / residual[rows].norm(dim=-1, keepdim=True).clamp_min(1e-12)  # [n_dead d_in]
    alive = ~dead
    enc_norm = sae.W_enc[:, alive].norm(dim=0).mean() if alive.any() else torch.tensor(1.0, device=x.device)
    sae.W_dec[index] = direction
    sae.W_enc[:, index] = (direction * encoder_scale * enc_norm).T
    sae.b_enc[index] = 0.0
    if optimizer is not None:
        _forget_moments(optimizer, sae, index)
    return len(index)


def _forget_moments(optimizer: torch.optim.Optimizer, sae, index: Tensor) -> None:
    """Zero Adam's running moments of the resampled latents' entries (rows of W_dec, columns of W_enc, ...)."""
    axis_of = {id(sae.W_dec): 0, id(sae.W_enc): 1, id(sae.b_enc): 0}
    if getattr(sae, "threshold", None) is not None:
        axis_of[id(sae.threshold)] = 0
    for group in optimizer.param_groups:
        for param in group["params"]:
            axis = axis_of.get(id(param))
            state = optimizer.state.get(param, {})
            for key in ("exp_avg", "exp_avg_sq"):
                if axis is not None and key in state:
                    state[key].index_fill_(axis, index, 0.0)
