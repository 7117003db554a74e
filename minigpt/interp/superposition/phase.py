"""The sparsity × importance phase diagram (Elhage et al. §"Superposition as a phase change").

Take ``n_features = 2`` features in ``d_hidden = 1`` dimension: feature 0 has importance 1, the
*extra* feature (the last) importance ``r``, both the same density ``p``. Trained to its best,
the model does one of three things with the extra feature:

- **not represented** (``||W_extra|| ≈ 0``): it keeps the dimension for feature 0;
- **superposition** (``W = (1, -1)``, an antipodal pair): both features share the dimension,
  and the ReLU cleans up the interference when only one is present;
- **dedicated dimension** (``W ≈ (0, 1)``): the extra feature takes the dimension alone.

Dense features (``p = 1``) never share: the extra feature wins the dimension if ``r > 1`` and is
dropped if ``r < 1``. As features get sparser, sharing (which costs only when both are
present, probability ``p²``) wins over a wider and wider band of ``r``.

Each cell of the grid trains ``restarts`` models from different starting points, all in one
batched :class:`ToyModel`, on the exact expected loss (:mod:`.quadrature`: sampled batches of
rare features are too noisy), and keeps the one with the lowest loss. Restarts come in pairs,
the second starting with the extra feature's column negated: where superposition wins, a model
that starts with the two columns on the same side often gets stuck there (measured: 18-31 % of
such starts reached the antipodal pair, against 91 % of starts on opposite sides), so each cell
tries both. With 4 restarts, 1 to 6 cells of 256 still came out wrong; with 8, none.

>>> diagram = phase_diagram(n_density=2, n_importance=2, restarts=2, steps=300)    # a 2 x 2 corner
>>> diagram.phase.shape, diagram.W.shape          # [n_importance n_density], [... d_hidden n_features]
(torch.Size([2, 2]), torch.Size([2, 2, 1, 2]))
"""

from __future__ import annotations

from dataclasses import dataclass

import einops
import torch
from torch import Tensor

from .geometry import feature_dimensionality
from .model import ToyModel
from .quadrature import expected_loss, feature_quadrature
from .training import optimize

__all__ = ["PHASES", "PhaseDiagram", "classify_phase", "phase_diagram"]

PHASES = ("not represented", "superposition", "dedicated dimension")


def classify_phase(W: Tensor, min_norm: float = 0.5, dedicated: float = 0.9) -> Tensor:
    """What ``W [... d_hidden n_features]`` does with its last (extra) feature: an index into :data:`PHASES`.

    0 if ``||W_extra|| < min_norm``; else 2 if its :func:`feature_dimensionality` is at least
    ``dedicated`` (no other feature along its direction); else 1 (it shares: superposition).
    Returns ``[...]`` integers.
    """
    if W.ndim < 2:
        raise ValueError(f"classify_phase: expected W [... d_hidden n_features], got shape {list(W.shape)}")
    flat = W.detach().reshape(-1, *W.shape[-2:])  # [cell d_hidden n_features]
    norm = flat[..., -1].norm(dim=-1)  # [cell]
    dim = feature_dimensionality(flat)[:, -1]  # [cell]
    phase = torch.where(norm < min_norm, 0, torch.where(dim >= dedicated, 2, 1))
    return phase.reshape(W.shape[:-2])


@dataclass
class PhaseDiagram:
    """A trained grid: rows are relative importances (y), columns densities (x)."""

    density: Tensor               # [n_density]: each feature's probability of being present
    relative_importance: Tensor   # [n_importance]: the extra feature's importance (the others: 1)
    W: Tensor                     # [n_importance n_density d_hidden n_features]: the best restart per cell
    b_final: Tensor               # [n_importance n_density n_features]
    loss: Tensor                  # [n_importance n_density]: its expected loss
    phase: Tensor                 # [n_importance n_density]: an index into PHASES

    @property
    def extra_norm(self) -> Tensor:
        """``||W_extra||`` per cell: ``[n_importance n_density]``."""
        return self.W[..., -1].norm(dim=-1)

    @property
    def extra_dimensionality(self) -> Tensor:
        """The extra feature's dimensionality per cell (0, 1/2 or 1 for 2 features in 1 dimension)."""
        flat = self.W.reshape(-1, *self.W.shape[-2:])
        return feature_dimensionality(flat)[:, -1].reshape(self.W.shape[:2])


def phase_diagram(n_density: int = 16, n_importance: int = 16, *, n_features: int = 2, d_hidden: int = 1,
                  density_range: tuple[float, float] = (1.0, 0.01),
                  importance_range: tuple[float, float] = (0.1, 10.0), restarts: int = 8, steps: int = 2_000,
                  lr: float = 0.03, n_points: int = 8, seed: int = 0, threads: int | None = 1,
                  progress: bool = False) -> PhaseDiagram:
    """Train the grid (log-spaced densities and importances, both ends included) and classify each cell.

    All ``n_importance * n_density * restarts`` models train as the instances of one
    :class:`ToyModel`: Adam with a cosine decay, ``steps`` full steps on the expected loss
    (``n_points`` midpoints per present feature). The default grid, 16 × 16 × 8 restarts, is
    2,048 instances: about 20 s of CPU time (one thread). Deterministic in ``seed``.
    """
    if n_density < 1 or n_importance < 1 or restarts < 1:
        raise ValueError(f"phase_diagram: n_density, n_importance and restarts must be >= 1, got {n_density}, "
                         f"{n_importance}, {restarts}")
    if n_features < 2 or d_hidden >= n_features:
        raise ValueError(f"phase_diagram: needs fewer dimensions than features (at least 2), got "
                         f"n_features={n_features}, d_hidden={d_hidden}")
    density = torch.logspace(*torch.tensor(density_range).log10().tolist(), n_density)
    relative_importance = torch.logspace(*torch.tensor(importance_range).log10().tolist(), n_importance)
    cells = dict(n_importance=n_importance, n_density=n_density, restarts=restarts)
    p = einops.repeat(density, "n_density -> (n_importance n_density restarts)", **cells)
    r = einops.repeat(relative_importance, "n_importance -> (n_importance n_density restarts)", **cells)
    importance = torch.ones(len(r), n_features)
    importance[:, -1] = r  # [n_instances n_features]
    generator = torch.Generator().manual_seed(seed)
    model = ToyModel(n_features, d_hidden, len(r), p, importance, generator=generator)
    with torch.no_grad():  # restarts in pairs: the second starts with the extra feature's column negated
        W = model.W.view(-1, restarts, d_hidden, n_features)  # [cell restarts d_hidden n_features], a view
        n_pairs = restarts // 2
        W[:, 1:2 * n_pairs:2, :, -1] = -W[:, 0:2 * n_pairs:2, :, -1]
    quadrature = feature_quadrature(model.feature_probability, n_points)
    optimize(model, steps=steps, lr=lr, lr_schedule="cosine", threads=threads, progress=progress,
             objective=lambda m: expected_loss(m, quadrature=quadrature))
    with torch.no_grad():
        loss = expected_loss(model, quadrature=quadrature)  # [n_instances]
    best = einops.rearrange(loss, "(n_importance n_density restarts) -> n_importance n_density restarts",
                            **cells).argmin(-1)  # [n_importance n_density]
    rows, cols = torch.meshgrid(torch.arange(n_importance), torch.arange(n_density), indexing="ij")

    def best_restart(x: Tensor, axes: str) -> Tensor:
        """``x [(n_importance n_density restarts) *axes]`` -> ``[n_importance n_density *axes]``, the best restart."""
        per_cell = einops.rearrange(x.detach(), f"(n_importance n_density restarts) {axes} -> "
                                                f"n_importance n_density restarts {axes}", **cells)
        return per_cell[rows, cols, best]

    W = best_restart(model.W, "d_hidden n_features")
    return PhaseDiagram(density=density, relative_importance=relative_importance, W=W,
                        b_final=best_restart(model.b_final, "n_features"), loss=best_restart(loss, ""),
                        phase=classify_phase(W))
