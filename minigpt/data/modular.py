"""Modular arithmetic: the data set on which a small transformer groks.

Every pair ``(a, b)`` with ``0 <= a, b < p`` becomes the three tokens
``a b =`` (the ``=`` token is ``p``, so the vocabulary has ``p + 1`` ids) and
the label ``a ∘ b mod p``. A seeded permutation of the ``p**2`` pairs puts the
first ``train_frac`` of them in the training set and the rest in the test set
(Power et al., 2022; Nanda et al., 2023: ``p = 113``, 30 % for training).

>>> data = modular_data(5, "add", train_frac=0.4, seed=0)
>>> data.train_tokens.shape, data.test_tokens.shape   # [batch, 3] each: a b =
(torch.Size([10, 3]), torch.Size([15, 3]))
>>> a, b, eq = data.train_tokens[0].tolist()
>>> eq, data.train_labels[0].item() == (a + b) % 5
(5, True)

:func:`all_pairs` lists the pairs in the order the analysis tools use: row
``a * p + b`` is ``(a, b)``, so a ``[p*p, ...]`` tensor reshapes to ``[p, p, ...]``
indexed by ``a`` then ``b``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["OPERATIONS", "ModularData", "all_pairs", "modular_data", "modular_labels"]

# Each operation maps ``a, b`` (LongTensors) to ``a ∘ b mod p``.
OPERATIONS = {
    "add": lambda a, b, p: (a + b) % p,
    "sub": lambda a, b, p: (a - b) % p,
    "mul": lambda a, b, p: (a * b) % p,
    "x2+y2": lambda a, b, p: (a * a + b * b) % p,
}


def all_pairs(p: int) -> Tensor:
    """All ``p**2`` inputs as tokens ``[p*p, 3]``: row ``a * p + b`` is ``[a, b, p]``.

    >>> all_pairs(3)[:4].tolist()
    [[0, 0, 3], [0, 1, 3], [0, 2, 3], [1, 0, 3]]
    """
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    return torch.stack([a, b, torch.full_like(a, p)], dim=1)


def modular_labels(tokens: Tensor, p: int, operation: str = "add") -> Tensor:
    """``a ∘ b mod p`` for tokens ``[batch, 3]`` (``a b =``) → ``[batch]``."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; choose one of {sorted(OPERATIONS)}")
    return OPERATIONS[operation](tokens[:, 0], tokens[:, 1], p)


@dataclass
class ModularData:
    """A train/test split of ``a ∘ b mod p``; tokens ``[n, 3]``, labels ``[n]``, indices into :func:`all_pairs`."""

    p: int
    operation: str
    train_frac: float
    seed: int
    train_tokens: Tensor
    train_labels: Tensor
    test_tokens: Tensor
    test_labels: Tensor
    train_idx: Tensor
    test_idx: Tensor

    @property
    def d_vocab(self) -> int:
        """Token ids ``0 .. p``: the ``p`` residues and ``=``."""
        return self.p + 1

    def all_tokens(self) -> Tensor:
        return all_pairs(self.p)

    def all_labels(self) -> Tensor:
        return modular_labels(all_pairs(self.p), self.p, self.operation)

    def train_mask(self) -> Tensor:
        """``[p, p]`` booleans: is ``(a, b)`` in the training set?"""
        mask = torch.zeros(self.p * self.p, dtype=torch.bool)
        mask[self.train_idx] = True
        return mask.view(self.p, self.p)

    def to(self, device) -> "ModularData":
        moved = {k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in vars(self).items()}
        return ModularData(**moved)


def modular_data(p: int = 113, operation: str = "add", train_frac: float = 0.3, seed: int = 0) -> ModularData:
    """The pairs ``(a, b)`` of ``Z_p``, shuffled with ``seed`` and split ``train_frac : 1 - train_frac``."""
    if p < 2:
        raise ValueError(f"p must be at least 2, got {p}")
    if not 0.0 < train_frac < 1.0:
        raise ValueError(f"train_frac must be strictly between 0 and 1, got {train_frac}")
    tokens = all_pairs(p)
    labels = modular_labels(tokens, p, operation)
    perm = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n_train = int(round(train_frac * p * p))
    train_idx, test_idx = perm[:n_train], perm[n_train:]
    return ModularData(p, operation, train_frac, seed, tokens[train_idx], labels[train_idx],
                       tokens[test_idx], labels[test_idx], train_idx, test_idx)
