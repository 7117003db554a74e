"""Training the toy models: Adam on fresh synthetic batches, every instance at once.

Each step draws a new batch from the model's own feature probabilities
(:meth:`ToyModel.generate_batch`), so there is no data set and no overfitting: the loss
measures how well the model compresses the feature *distribution*.

>>> model = train_toy_model(n_features=2, d_hidden=2, n_instances=1, steps=300, batch_size=256)
>>> round(evaluate_loss(model, batch_size=4096).item(), 3)      # two features, two dimensions: lossless
0.0

Deterministic in ``seed`` (initial ``W`` and every batch come from one ``torch.Generator``).
The tensors are tiny, so training runs on one thread unless asked otherwise (``threads``).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import Tensor

from .model import ToyModel, importance_weighted_mse

__all__ = ["LR_SCHEDULES", "evaluate_loss", "optimize", "sampled_loss", "train_toy_model"]

# lr multiplier at step s of n (ARENA's three): constant, linear decay to 0, a quarter cosine to 0.
LR_SCHEDULES: dict[str, Callable[[int, int], float]] = {
    "constant": lambda s, n: 1.0,
    "linear": lambda s, n: 1 - s / n,
    "cosine": lambda s, n: math.cos(0.5 * math.pi * s / max(n - 1, 1)),
}


def sampled_loss(model: ToyModel, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
    """:func:`importance_weighted_mse` of ``model`` on a fresh batch: ``[n_instances]``."""
    batch = model.generate_batch(batch_size, generator)  # [batch n_instances n_features]
    return importance_weighted_mse(model(batch), batch, model.importance)


def optimize(model: ToyModel, *, steps: int = 5_000, batch_size: int = 1024, lr: float = 1e-3,
             lr_schedule: str = "constant", generator: torch.Generator | None = None,
             objective: Callable[[ToyModel], Tensor] | None = None, threads: int | None = 1,
             progress: bool = False) -> Tensor:
    """Train ``model`` in place with Adam; returns the loss of every step per instance ``[steps n_instances]``.

    ``objective(model) -> [n_instances]``: the loss to minimise (summed over instances); by
    default :func:`sampled_loss` on a fresh batch of ``batch_size`` drawn from ``generator``.
    ``threads``: torch's intra-op threads while training (restored after; ``None`` leaves them).
    The tensors are small, so one thread is as fast as two, and two on a busy 2-core machine
    were 20 times slower (300 steps: 4.7 s of CPU instead of 0.2 s).
    """
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr_schedule {lr_schedule!r}; one of {sorted(LR_SCHEDULES)}")
    schedule = LR_SCHEDULES[lr_schedule]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = torch.empty(steps, model.n_instances)
    bar, previous_threads = None, torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc=f"toy model ×{model.n_instances}", unit="step", mininterval=0.5)
    try:
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = lr * schedule(step, steps)
            per_instance = (objective(model) if objective is not None
                            else sampled_loss(model, batch_size, generator))  # [n_instances]
            opt.zero_grad(set_to_none=True)
            per_instance.sum().backward()
            opt.step()
            losses[step] = per_instance.detach()
            if bar is not None:
                bar.update(1)
                if step % 100 == 0:
                    bar.set_postfix(loss=f"{per_instance.mean().item():.3g}", refresh=False)
    finally:
        torch.set_num_threads(previous_threads)
        if bar is not None:
            bar.close()
    return losses


def train_toy_model(n_features: int, d_hidden: int, feature_probability: float | Sequence[float] | Tensor = 1.0,
                    importance: float | Sequence[float] | Tensor | None = None, n_instances: int = 1, *,
                    steps: int = 2_000, batch_size: int = 1024, lr: float = 3e-2, lr_schedule: str = "cosine",
                    seed: int = 0, n_correlated_pairs: int = 0, n_anticorrelated_pairs: int = 0,
                    model_cls: type[ToyModel] = ToyModel, threads: int | None = 1,
                    progress: bool = False) -> ToyModel:
    """A trained ``model_cls`` (:class:`ToyModel` or :class:`ToyModelNeurons`), in eval mode.

    ``feature_probability``: a number or one per instance ``[n_instances]`` (or
    ``[n_instances n_features]``); ``importance``: a number or one per feature ``[n_features]``
    (or ``[n_instances n_features]``); the pair counts: see :class:`ToyModel`.
    Adam, ``steps`` steps of fresh batches of ``batch_size``, learning rate ``lr`` times
    ``LR_SCHEDULES[lr_schedule]``. The defaults are faster than ARENA's (10,000 steps at a
    constant 1e-3): on 5 features in 2 dimensions, 2,000 steps at 3e-2 with a cosine decay
    reached the pentagon in 16 sparse instances of 16 and dropped the 3 weakest dense features
    (norm < 0.1) in 7 of 8 (1e-2: 15 of 16 and 4 of 8).
    """
    generator = torch.Generator().manual_seed(seed)
    model = model_cls(n_features, d_hidden, n_instances, feature_probability, importance,
                      n_correlated_pairs=n_correlated_pairs, n_anticorrelated_pairs=n_anticorrelated_pairs,
                      generator=generator)
    optimize(model, steps=steps, batch_size=batch_size, lr=lr, lr_schedule=lr_schedule, generator=generator,
             threads=threads, progress=progress)
    return model.eval()


@torch.no_grad()
def evaluate_loss(model: ToyModel, batch_size: int = 65_536, seed: int = 1) -> Tensor:
    """Each instance's loss :func:`importance_weighted_mse` on one fresh batch: ``[n_instances]``."""
    return sampled_loss(model, batch_size, torch.Generator(device=model.W.device).manual_seed(seed))
