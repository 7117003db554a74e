"""Repeated random tokens: the data on which induction heads are found, and trained.

A sequence of uniformly random tokens cannot be predicted. Repeat a chunk of it
and the second copy can be: "the token after the last time I saw the current
token comes next". A model that does this has induction heads.

Two samplers, for two jobs:

- :func:`repeated_tokens` (evaluation): ``seq_len`` random tokens, then the same
  ``seq_len`` tokens again, with an optional BOS token in front. Position
  ``i`` of the second half repeats position ``i - seq_len``; the analysis tools
  (``minigpt.interp``) rely on this fixed layout.

  >>> toks = repeated_tokens(2, 4, d_vocab=10, seed=0, bos=0)
  >>> toks.shape                                   # [batch, 1 + 2 * seq_len]
  torch.Size([2, 9])
  >>> bool((toks[:, 1:5] == toks[:, 5:]).all()), bool((toks[:, 1:] != 0).all())
  (True, True)

- :func:`induction_batch` (training): random tokens with one repeated chunk of
  random length at random positions. Why not fixed halves? A 2-layer model
  trained on them learns "attend ``seq_len`` positions back" from the
  positional embeddings and never forms an induction head (DESIGN.md, "Induction
  data"). With random distances between the copies, only content-based copying works.

  >>> toks, mask = induction_batch(3, 32, d_vocab=50, seed=0, bos=0, return_mask=True)
  >>> toks.shape, mask.shape                       # [batch, n_ctx] each
  (torch.Size([3, 32]), torch.Size([3, 32]))

Both take ``seed=`` (an int) or ``generator=`` (a ``torch.Generator``); with
neither they draw from torch's global generator. Random tokens never equal the
BOS token: they are drawn from the other ``d_vocab - 1`` ids.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["induction_batch", "random_tokens", "repeated_tokens"]


def _generator(seed: int | None, generator: torch.Generator | None) -> torch.Generator | None:
    if seed is not None and generator is not None:
        raise ValueError("pass either seed= or generator=, not both")
    if isinstance(seed, torch.Generator):  # a generator passed positionally as the seed
        return seed
    if seed is not None:
        return torch.Generator().manual_seed(int(seed))
    return generator


def _check(d_vocab: int, bos: int | None) -> None:
    if bos is not None and not 0 <= bos < d_vocab:
        raise ValueError(f"bos={bos} is not a token id in [0, d_vocab={d_vocab})")
    if d_vocab - (bos is not None) < 2:
        raise ValueError(f"d_vocab={d_vocab} leaves fewer than 2 tokens to draw from")


def random_tokens(
    shape: tuple[int, ...], d_vocab: int, *, bos: int | None = None, generator: torch.Generator | None = None,
) -> Tensor:
    """Uniform token ids in ``[0, d_vocab)``, skipping ``bos`` when given (a LongTensor of ``shape``)."""
    _check(d_vocab, bos)
    if bos is None:
        return torch.randint(0, d_vocab, shape, generator=generator)
    toks = torch.randint(0, d_vocab - 1, shape, generator=generator)
    return toks + (toks >= bos).long()  # shift the ids at and above bos up by one: bos is never drawn


def _prepend(toks: Tensor, bos: int | None) -> Tensor:
    if bos is None:
        return toks
    return torch.cat([torch.full((toks.shape[0], 1), bos, dtype=toks.dtype), toks], dim=1)


def repeated_tokens(
    batch: int,
    seq_len: int,
    d_vocab: int,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    bos: int | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """``batch`` sequences of ``seq_len`` random tokens followed by the same tokens again.

    Returns a LongTensor ``[batch, 2 * seq_len]``, or ``[batch, 1 + 2 * seq_len]``
    with ``bos`` (a token id) prepended. Position ``p`` of the second copy
    equals position ``p - seq_len``.
    """
    if batch < 1 or seq_len < 1:
        raise ValueError(f"batch and seq_len must be positive, got batch={batch}, seq_len={seq_len}")
    gen = _generator(seed, generator)
    half = random_tokens((batch, seq_len), d_vocab, bos=bos, generator=gen)
    return _prepend(torch.cat([half, half], dim=1), bos).to(device)


def induction_batch(
    batch: int,
    n_ctx: int,
    d_vocab: int,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    bos: int | None = None,
    min_len: int = 4,
    max_len: int | None = None,
    n_repeats: int = 1,
    return_mask: bool = False,
    device: torch.device | str | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """Training data: random tokens with chunks repeated, at random length, distance and place.

    Each row: ``n_ctx`` tokens (the first is ``bos`` when given), uniformly
    random except that a chunk ``[s, s + L)`` reappears at ``[s + D, s + D + L)``.
    The distance ``D`` between the copies is drawn first, uniformly in
    ``[min_len, room - min_len]`` (``room = n_ctx - [bos]``); then the length
    ``L`` uniformly in ``[min_len, min(max_len, D, room - D)]`` (so the copies
    never overlap; ``max_len`` defaults to ``room // 4``, at least ``min_len``); then the place ``s``
    uniformly among those that fit. A head that attends a *fixed* distance back
    is right for one ``D`` in ~``room`` only, so positional shortcuts do not pay
    and the model must copy by content (DESIGN.md, "Induction data": when the
    distance concentrates, e.g. near ``n_ctx / 2``, a 2-layer model learns to
    look that far back by position and no induction head forms).

    ``n_repeats`` copies are made this way, one after the other, each reading
    the sequence as the previous ones left it (a later copy may overwrite part
    of an earlier one, or copy a copy); more copies mean more predictable
    tokens per sequence, a stronger training signal.

    Returns tokens ``[batch, n_ctx]`` (LongTensor); with ``return_mask=True``
    also a bool mask ``[batch, n_ctx]`` that is True at the second copy's
    positions after its first (the tokens an induction head can predict:
    ``mask[b, p]`` is True when the pair ``tokens[b, p - 1], tokens[b, p]``
    occurred earlier as a copy, so ``tokens[b, p]`` follows from the earlier
    occurrence of ``tokens[b, p - 1]``; chance repeats of random tokens do not count).
    """
    first = int(bos is not None)
    room = n_ctx - first
    max_len = max(min_len, room // 4) if max_len is None else max_len
    if not 2 <= min_len <= max_len <= room // 2:
        raise ValueError(
            f"need 2 <= min_len <= max_len <= (n_ctx - [bos]) // 2 = {room // 2}; "
            f"got min_len={min_len}, max_len={max_len}, n_ctx={n_ctx}")
    gen = _generator(seed, generator)
    toks = random_tokens((batch, room), d_vocab, bos=bos, generator=gen)

    def uniform_int(low: Tensor, high: Tensor) -> Tensor:  # uniform in [low, high], per row
        return low + (torch.rand(batch, generator=gen) * (high - low + 1)).long().clamp(max=high - low)

    zeros = torch.zeros(batch, dtype=torch.long)
    pos = torch.arange(room)[None]  # [1 room]
    index = pos.expand(batch, room)  # [batch room]: which random draw each position shows
    for _ in range(n_repeats):
        dist = uniform_int(zeros + min_len, zeros + room - min_len)  # [batch]: D, uniform
        longest = torch.minimum(dist, room - dist).clamp(max=max_len)  # the copies must not overlap nor overflow
        length = uniform_int(zeros + min_len, longest)  # L
        src = uniform_int(zeros, room - dist - length)  # the first copy starts here
        dst = src + dist  # the second copy starts here
        in_copy = (pos >= dst[:, None]) & (pos < (dst + length)[:, None])  # [batch room]
        index = torch.where(in_copy, index.gather(1, (pos - dist[:, None]).clamp(min=0)), index)
    toks = _prepend(toks.gather(1, index), bos).to(device)
    if not return_mask:
        return toks
    same = index[:, :, None] == index[:, None, :]  # [batch p k]: the same random draw
    earlier = torch.ones(room, room, dtype=torch.bool).tril(-1)  # k < p
    pair = same[:, 1:, 1:] & same[:, :-1, :-1] & earlier[1:, 1:]  # (p-1, p) drawn as (k-1, k) before
    predictable = torch.cat([torch.zeros(batch, 1, dtype=torch.bool), pair.any(dim=-1)], dim=1)
    mask = torch.cat([torch.zeros(batch, first, dtype=torch.bool), predictable], dim=1).to(device)
    return toks, mask
