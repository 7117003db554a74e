"""``Slice``: TransformerLens's way to pick positions, batch rows or neurons along one axis.

The cache's analysis methods take ``pos_slice``, ``batch_slice`` and ``neuron_slice``
arguments in any of these forms (TransformerLens 3.9's ``utils.Slice``):

- ``None``: everything (identity);
- an ``int`` ``k``: index ``k``, and the axis disappears;
- a tuple: ``slice(*s)``, so ``(stop,)`` is ``:stop``, ``(1, 5)`` is ``1:5``, ``(1, 8, 3)`` is ``1:8:3``;
  a ``slice`` is taken as given;
- a list, tensor or NumPy array: those indices, in that order (the axis stays).

>>> x = torch.arange(10) * 10
>>> Slice(-1).apply(x), Slice((3,)).apply(x), Slice((2, 8, 3)).apply(x), Slice([4, 0]).apply(x)
(tensor(90), tensor([ 0, 10, 20]), tensor([20, 50]), tensor([40,  0]))
>>> Slice(1).apply(torch.zeros(2, 5, 3), dim=-2).shape   # position 1 of [batch pos d_model]
torch.Size([2, 3])
"""

from __future__ import annotations

import torch
from torch import Tensor


class Slice:
    """One way of indexing one axis; ``apply(x, dim)`` indexes ``x`` along ``dim``."""

    def __init__(self, input_slice=None) -> None:
        if isinstance(input_slice, Slice):
            input_slice = input_slice.slice
        if input_slice is None:
            self.slice, self.mode = slice(None), "identity"
        elif isinstance(input_slice, slice):
            self.slice, self.mode = input_slice, "slice"
        elif isinstance(input_slice, tuple):
            self.slice, self.mode = slice(*input_slice), "slice"
        elif isinstance(input_slice, int):
            self.slice, self.mode = input_slice, "int"
        elif isinstance(input_slice, (list, Tensor)) or type(input_slice).__name__ == "ndarray":
            index = torch.as_tensor(input_slice)
            self.slice = index.long() if index.is_floating_point() else index  # [] comes as float
            self.mode = "array"
        else:
            raise ValueError(
                f"invalid slice {input_slice!r}: use None, an int, a tuple (start, stop[, step]), "
                "a slice, or a list/tensor of indices"
            )

    @classmethod
    def of(cls, input_slice, keep_dim: bool = False) -> Slice:
        """``input_slice`` as a :class:`Slice`; with ``keep_dim``, an int ``k`` becomes ``[k]``."""
        if keep_dim and isinstance(input_slice, int) and not isinstance(input_slice, bool):
            input_slice = [input_slice]
        return input_slice if isinstance(input_slice, Slice) else cls(input_slice)

    def apply(self, tensor: Tensor, dim: int = 0) -> Tensor:
        """``tensor`` indexed along ``dim`` (negative dims count from the end)."""
        index = [slice(None)] * tensor.ndim
        index[dim] = self.slice
        return tensor[tuple(index)]

    def __repr__(self) -> str:
        return f"Slice({self.slice!r}, mode={self.mode!r})"
