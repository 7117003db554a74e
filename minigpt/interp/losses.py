"""Losses on repeated sequences: per position, and on the part an induction head can predict.

On ``[BOS] x_1 .. x_n x_1 .. x_n`` the per-token loss ``[batch, pos - 1]``
(entry ``i`` is the loss of predicting token ``i + 1``) falls into two parts:
the first copy and the first token of the second copy are random (loss about
``log d_vocab``), while tokens 2..n of the second copy follow from the first
copy. :func:`repeat_loss` is the mean loss on those ``n - 1`` predictable
tokens; a model with induction heads brings it near zero.

>>> repeat_positions(pos=9, seq_len=4)       # BOS + 4 + 4: loss entries predicting tokens 6, 7, 8
slice(5, 8, None)
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["per_token_loss", "repeat_loss", "repeat_positions"]


def per_token_loss(model, tokens: Tensor) -> Tensor:
    """Next-token cross-entropy at every position: ``[batch, pos - 1]`` (entry ``i`` predicts ``tokens[:, i + 1]``)."""
    with torch.no_grad():
        return model(tokens, return_type="loss", loss_per_token=True)


def repeat_positions(pos: int, seq_len: int | None = None) -> slice:
    """The entries of a ``[batch, pos - 1]`` per-token loss that predict tokens 2..n of the second copy.

    The last ``2 * seq_len`` of the ``pos`` tokens are a chunk and its copy
    (``seq_len`` defaults to ``pos // 2``, right with or without a BOS token).
    """
    seq_len = pos // 2 if seq_len is None else seq_len
    if not 2 <= seq_len <= pos // 2:
        raise ValueError(f"seq_len={seq_len} does not fit twice in {pos} positions (or is below 2)")
    return slice(pos - seq_len, pos - 1)


def repeat_loss(model_or_losses, tokens: Tensor | None = None, seq_len: int | None = None) -> Tensor:
    """Mean loss on the predictable part of the second copy (a scalar).

    ``repeat_loss(model, tokens)`` runs the model; ``repeat_loss(losses)`` takes
    per-token losses ``[batch, pos - 1]`` already computed.
    """
    if isinstance(model_or_losses, Tensor):
        losses = model_or_losses
    else:
        losses = per_token_loss(model_or_losses, tokens)
    return losses[:, repeat_positions(losses.shape[1] + 1, seq_len)].mean()
