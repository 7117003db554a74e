"""AdamW with weight decay on the weight matrices only, and the warm-up + cosine schedule.

Which parameters decay follows nanoGPT's rule, "matrices decay, vectors don't", applied by role
rather than by ``ndim`` because minigpt stores per-head biases as matrices (``b_Q: [n_heads d_head]``):
every ``W_*`` (``W_Q W_K W_V W_O W_in W_out W_E W_pos W_U``, embeddings included, as in nanoGPT)
decays; biases ``b_*`` and LayerNorm's ``w``/``b`` do not. Parameters of other modules decay
when they have 2 or more dimensions and are not named ``bias``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import TrainConfig


def decays(name: str, param: torch.Tensor) -> bool:
    """Whether weight decay applies to the parameter called ``name``.

    >>> decays("blocks.0.attn.W_Q", torch.zeros(4, 64, 16)), decays("blocks.0.attn.b_Q", torch.zeros(4, 16))
    (True, False)
    >>> decays("ln_final.w", torch.zeros(64)), decays("head.weight", torch.zeros(3, 3))
    (False, True)
    """
    last = name.rsplit(".", 1)[-1]
    if last.startswith("W_"):
        return True
    if last.startswith("b_") or last.startswith("bias") or last == "b":
        return False
    return param.ndim >= 2


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: ``{"params", "names", "weight_decay"}`` with and without decay."""
    groups = {True: ([], []), False: ([], [])}
    for name, p in model.named_parameters():
        if p.requires_grad:
            params, names = groups[decays(name, p)]
            params.append(p)
            names.append(name)
    return [
        {"params": groups[True][0], "names": groups[True][1], "weight_decay": weight_decay},
        {"params": groups[False][0], "names": groups[False][1], "weight_decay": 0.0},
    ]


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    groups = [g for g in param_groups(model, cfg.weight_decay) if g["params"]]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)


def lr_factor(step: int, *, steps: int, warmup_steps: int = 0, schedule: str = "cosine",
              min_lr_ratio: float = 0.1) -> float:
    """The learning rate at ``step`` (0-based update index) as a fraction of the peak.

    Linear warm-up from ``1 / warmup_steps`` to 1 over the first ``warmup_steps`` updates, then
    a cosine from 1 down to ``min_lr_ratio`` at the last update (or flat, ``schedule="constant"``).

    >>> [round(lr_factor(s, steps=11, warmup_steps=2, min_lr_ratio=0.0), 3) for s in (0, 1, 2, 6, 10)]
    [0.5, 1.0, 1.0, 0.5, 0.0]
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    decay_steps = steps - 1 - warmup_steps
    progress = min(1.0, (step - warmup_steps) / decay_steps) if decay_steps > 0 else 1.0
    return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """``LambdaLR`` over :func:`lr_factor`; call ``.step()`` after each optimizer step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(
        step, steps=cfg.steps, warmup_steps=cfg.warmup_steps, schedule=cfg.schedule, min_lr_ratio=cfg.min_lr_ratio))
