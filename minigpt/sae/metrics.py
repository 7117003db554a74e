"""How good an SAE is: sparsity (L0, dead latents), reconstruction (variance explained), and the loss it costs.

- :func:`l0`: latents firing per token, on average. Hand-checked:

  >>> l0(torch.tensor([[0.0, 2.0, 1.0], [0.0, 0.0, 3.0]]))           # 2 and 1 latents fire
  1.5

- :func:`fraction_variance_explained`: ``1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2`` over all tokens
  (pooled; SAELens's ``explained_variance`` averages the per-token ratio instead, which weighs
  low-variance tokens more):

  >>> x = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])                      # mean 0, total variance 2
  >>> fraction_variance_explained(x, torch.tensor([[0.5, 0.0], [-0.5, 0.0]]))   # residual 0.25 + 0.25
  0.75

- :func:`dead_fraction`: latents that fire on none of the tokens of a sample;
- :func:`loss_recovered`: ``(L_zero_ablated - L_spliced) / (L_zero_ablated - L_clean)``, SAELens's
  ``ce_loss_score``, whose ablation replaces the activation at the hook by zeros (zero-ablation, as here).
  1 means splicing the SAE in costs nothing; 0 means it is as bad as deleting the activation.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .splice import spliced

__all__ = ["dead_fraction", "fraction_variance_explained", "l0", "loss_recovered", "recovered_share", "sae_metrics",
           "spliced_losses"]


def l0(acts: Tensor) -> float:
    """The mean number of non-zero latents per token: ``acts [... d_sae]``."""
    return (acts > 0).float().sum(-1).mean().item()


def fraction_variance_explained(x: Tensor, x_hat: Tensor) -> float:
    """``1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2``, over every token of ``x [... d_in]``."""
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have one shape, got {tuple(x.shape)} and {tuple(x_hat.shape)}")
    x, x_hat = x.reshape(-1, x.shape[-1]).double(), x_hat.reshape(-1, x.shape[-1]).double()
    residual = (x - x_hat).pow(2).sum()
    total = (x - x.mean(0)).pow(2).sum()
    return (1 - residual / total).item()


def dead_fraction(acts: Tensor) -> float:
    """The share of latents that are 0 on every token of ``acts [... d_sae]``.

    >>> dead_fraction(torch.tensor([[0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 3.0, 0.0]]))   # latents 0 and 3
    0.5
    """
    return (~(acts.reshape(-1, acts.shape[-1]) > 0).any(0)).float().mean().item()


@torch.no_grad()
def sae_metrics(sae, x: Tensor, batch_size: int = 8192) -> dict:
    """``{"l0", "fve", "dead", "mse"}`` of ``sae`` on ``x [... d_in]`` (a token sample; held-out for a fair score)."""
    x = x.reshape(-1, x.shape[-1])
    fired = torch.zeros(sae.cfg.d_sae, dtype=torch.bool, device=x.device)
    n_active, residual, total = 0.0, 0.0, 0.0
    mean = x.double().mean(0)
    for chunk in x.split(batch_size):
        acts = sae.encode(chunk)
        x_hat = sae.decode(acts)
        fired |= (acts > 0).any(0)
        n_active += (acts > 0).sum().item()
        residual += (chunk - x_hat).double().pow(2).sum().item()
        total += (chunk.double() - mean).pow(2).sum().item()
    return {"l0": n_active / len(x), "fve": 1 - residual / total, "dead": 1 - fired.float().mean().item(),
            "mse": residual / len(x)}


@torch.no_grad()
def spliced_losses(model, tokens: Tensor, sae, hook_name: str | None = None, batch_size: int = 32) -> dict:
    """Mean next-token losses of ``model`` on ``tokens [batch pos]``: clean, with ``sae`` spliced in at
    ``hook_name`` (default: the one the SAE was trained on), and with that activation zero-ablated."""
    hook_name = hook_name or sae.cfg.hook_name
    zero = [(hook_name, lambda act, hook: torch.zeros_like(act))]
    totals = {"clean": 0.0, "spliced": 0.0, "zero_ablated": 0.0}
    for chunk in tokens.split(batch_size):
        weight = len(chunk) / len(tokens)  # every chunk has the same pos: a mean of means
        totals["clean"] += weight * model(chunk, return_type="loss").item()
        with spliced(model, sae, hook_name):
            totals["spliced"] += weight * model(chunk, return_type="loss").item()
        totals["zero_ablated"] += weight * model.run_with_hooks(chunk, return_type="loss", fwd_hooks=zero).item()
    return totals


def loss_recovered(model, tokens: Tensor, sae, hook_name: str | None = None, batch_size: int = 32) -> float:
    """``(L_zero_ablated - L_spliced) / (L_zero_ablated - L_clean)`` on ``tokens [batch pos]`` (see the module doc)."""
    return recovered_share(spliced_losses(model, tokens, sae, hook_name, batch_size))


def recovered_share(losses: dict) -> float:
    """The loss recovered from the three losses of :func:`spliced_losses`.

    >>> recovered_share({"clean": 1.0, "spliced": 1.5, "zero_ablated": 3.0})   # 1.5 of the 2 nats
    0.75
    """
    gap = losses["zero_ablated"] - losses["clean"]
    if gap <= 0:
        raise ValueError(f"zero-ablating the activation does not raise the loss ({losses}): nothing to recover")
    return (losses["zero_ablated"] - losses["spliced"]) / gap
