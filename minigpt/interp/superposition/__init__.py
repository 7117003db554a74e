"""Toy models of superposition (Elhage et al. 2022, "Toy Models of Superposition"; ARENA 1.3.3).

A model that must squeeze ``n_features`` features through ``d_hidden < n_features`` dimensions
keeps the most important ones when features are dense, and stores *more* features than it has
dimensions, at angles to one another, when they are sparse. One module per concern:

- :mod:`.model`: :class:`ToyModel` ``ReLU(Wᵀ W x + b)`` and :class:`ToyModelNeurons`
  ``ReLU(Wᵀ ReLU(W x) + b)``, many instances at once; :func:`importance_weighted_mse`;
- :mod:`.batches`: sparse, correlated and anticorrelated feature batches;
- :mod:`.training`: :func:`train_toy_model` (Adam on fresh batches), :func:`evaluate_loss`;
- :mod:`.quadrature`: the expected loss, computed instead of sampled, for a few features;
- :mod:`.geometry`: feature norms, :func:`feature_dimensionality`, angles, neuron shares;
- :mod:`.phase`: the sparsity × importance :func:`phase_diagram`.

Five features in two dimensions, importance ``0.9^i``, dense and sparse (2 s of CPU time):

>>> import torch
>>> model = train_toy_model(n_features=5, d_hidden=2, feature_probability=[1.0, 0.02],
...                         importance=0.9 ** torch.arange(5), n_instances=2)
>>> feature_dimensionality(model.W).round(decimals=1)     # dense: 2 features kept; sparse: a pentagon
tensor([[1.0000, 1.0000, 0.0000, 0.0000, 0.0000],
        [0.4000, 0.4000, 0.4000, 0.4000, 0.4000]])
>>> bool(((neighbour_angles(model.W[1]) - 72).abs() < 2).all())   # 72° between neighbours
True
"""

from .batches import anticorrelated_features, correlated_features, sparse_features, toy_batch
from .geometry import (dimensions_per_feature, feature_angles, feature_dimensionality, feature_norms, interference,
                       neighbour_angles, neuron_feature_share)
from .model import ToyModel, ToyModelNeurons, importance_weighted_mse
from .phase import PHASES, PhaseDiagram, classify_phase, phase_diagram
from .quadrature import expected_loss, feature_quadrature
from .training import LR_SCHEDULES, evaluate_loss, optimize, sampled_loss, train_toy_model

__all__ = [
    "LR_SCHEDULES", "PHASES", "PhaseDiagram", "ToyModel", "ToyModelNeurons", "anticorrelated_features",
    "classify_phase", "correlated_features", "dimensions_per_feature", "evaluate_loss", "expected_loss",
    "feature_angles", "feature_dimensionality", "feature_norms", "feature_quadrature", "importance_weighted_mse",
    "interference", "neighbour_angles", "neuron_feature_share", "optimize", "phase_diagram", "sampled_loss",
    "sparse_features", "toy_batch", "train_toy_model",
]
