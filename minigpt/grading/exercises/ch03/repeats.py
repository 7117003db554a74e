"""Chapter 3 checks: repeated tokens and the loss on the repeat."""

from __future__ import annotations

import torch
from torch import Tensor

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import register_exercise

# ---------------------------------------------------------------------------
# repeated_tokens
# ---------------------------------------------------------------------------


def repeated_cases() -> list[Case]:
    g = torch.Generator().manual_seed(301)
    return [dict(half=torch.randint(1, 50, (3, 4), generator=g), bos=0),
            dict(half=torch.randint(0, 50, (2, 5), generator=g), bos=None),
            dict(half=torch.randint(0, 20, (1, 3), generator=g), bos=49)]


def _bos(half: Tensor, bos: int) -> Tensor:
    return torch.full((half.shape[0], 1), bos, dtype=half.dtype)


def _no_bos(half, bos=None):
    return torch.cat([half, half], dim=1)


def _bos_twice(half, bos=None):
    if bos is None:
        return torch.cat([half, half], dim=1)
    return torch.cat([_bos(half, bos), half, _bos(half, bos), half], dim=1)


def _interleaved(half, bos=None):
    body = half.repeat_interleave(2, dim=1)
    return body if bos is None else torch.cat([_bos(half, bos), body], dim=1)


def _bos_last(half, bos=None):
    body = torch.cat([half, half], dim=1)
    return body if bos is None else torch.cat([body, _bos(half, bos)], dim=1)


def _batch_axis(half, bos=None):
    body = torch.cat([half, half], dim=0)
    return body if bos is None else torch.cat([_bos(body, bos), body], dim=1)


register_exercise(
    id="ch03.repeated_tokens", name="repeated_tokens", title="Repeated random tokens", points=1, difficulty=1,
    hints=["Concatenate along the positions (dim=1): [BOS column, half, half].",
           "torch.full((batch, 1), bos, dtype=half.dtype) is the BOS column; leave it out when bos is None."],
    make_cases=repeated_cases,
    mutants=[
        Mutant("bos-ignored", "the BOS token is missing: when bos is given, put a column of it in front, "
               "[bos, x_1..x_n, x_1..x_n].", _no_bos),
        Mutant("bos-before-each-copy", "there is a BOS token before each copy; there is one BOS, at the very "
               "start, and the copy follows the first chunk directly.", _bos_twice),
        Mutant("interleaved", "each token is repeated in place (x1 x1 x2 x2 ...: repeat_interleave); the whole "
               "chunk must be repeated (x1 x2 ... x1 x2 ...): torch.cat([half, half], dim=1).", _interleaved),
        Mutant("bos-at-end", "the BOS token is at the end; it goes first: torch.cat([bos_column, half, half], "
               "dim=1).", _bos_last),
        Mutant("batch-axis", "the copy was stacked along the batch axis (dim=0); repeat along the positions, "
               "dim=1.", _batch_axis),
    ],
)


# ---------------------------------------------------------------------------
# repeat_loss
# ---------------------------------------------------------------------------


def repeat_loss_cases() -> list[Case]:
    g = torch.Generator().manual_seed(302)
    # [BOS] + 4 + 4 tokens; 5 + 5 with no BOS; 3 unrelated tokens, then 3 + 3
    return [dict(losses=_randn(g, 3, 8).abs() * 3, seq_len=4),
            dict(losses=_randn(g, 2, 9).abs() * 3, seq_len=5),
            dict(losses=_randn(g, 2, 8).abs() * 3, seq_len=3)]


def _loss_slice(losses, start, stop=None):
    return losses[:, start:stop].mean()


def _with_first_of_copy(losses, seq_len):
    pos = losses.shape[1] + 1
    return _loss_slice(losses, pos - seq_len - 1, pos - 1)


def _one_late(losses, seq_len):
    pos = losses.shape[1] + 1
    return _loss_slice(losses, pos - seq_len + 1)


def _all(losses, seq_len):
    return losses.mean()


def _from_middle(losses, seq_len):
    pos = losses.shape[1] + 1
    return _loss_slice(losses, pos // 2, pos - 1)


def _per_sequence(losses, seq_len):
    pos = losses.shape[1] + 1
    return losses[:, pos - seq_len : pos - 1].mean(dim=1)


register_exercise(
    id="ch03.repeat_loss", name="repeat_loss", title="The loss on the repeat", points=1, difficulty=1,
    hints=["The copy is the last seq_len tokens; losses[:, i] predicts token i + 1.",
           "Predicting the copy's tokens 2..seq_len means entries pos - seq_len .. pos - 2 "
           "(pos = losses.shape[1] + 1)."],
    make_cases=repeat_loss_cases,
    mutants=[
        Mutant("includes-first-of-copy", "the loss of predicting the copy's *first* token is included; that "
               "token follows the random chunk and cannot be predicted. Start one entry later: "
               "losses[:, pos - seq_len : pos - 1].", _with_first_of_copy),
        Mutant("one-late", "the first predictable token of the copy is left out: losses[:, i] predicts "
               "token i + 1, so the copy's second token (at pos - seq_len + 1) is entry pos - seq_len.",
               _one_late),
        Mutant("all-positions", "every position is averaged; average only the predictable part of the copy.",
               _all),
        Mutant("copy-at-middle", "the copy is assumed to start at pos // 2; there may be tokens before the first "
               "chunk (a BOS, a prefix): count from the end, the copy is the last seq_len tokens.", _from_middle),
        Mutant("per-sequence", "the result has one value per sequence; average over the batch too (a 0-d "
               "tensor).", _per_sequence),
    ],
)
