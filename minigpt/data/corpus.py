"""The Python standard library's source as a training corpus: offline, seedable, always present.

Every Python installation carries a few megabytes of real, structured text: its own standard
library. :func:`stdlib_corpus` reads it, tokenizes it (one token per byte by default, or GPT-2's
BPE), splits it into a training and a validation part, and hands out random windows::

    >>> corpus = stdlib_corpus(n_bytes=20_000)
    >>> corpus.d_vocab, corpus.train.dtype
    (256, torch.int64)
    >>> sample = corpus.sampler(n_ctx=32)          # (generator, n) -> tokens [n pos]
    >>> sample(torch.Generator().manual_seed(0), 4).shape
    torch.Size([4, 32])

The split is contiguous: the files are shuffled by ``seed``, concatenated, and the last
``val_fraction`` of the tokens is held out, so validation is (almost entirely) other files.
"""

from __future__ import annotations

import random
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

__all__ = ["Corpus", "stdlib_text", "stdlib_corpus", "random_windows", "fixed_windows"]

Sampler = Callable[[torch.Generator, int], Tensor]


def stdlib_text(n_bytes: int = 2_000_000, seed: int = 0) -> str:
    """About ``n_bytes`` of Python source from the standard library (offline, always present).

    Whole files, in an order shuffled by ``seed``, until at least ``n_bytes`` characters
    (or the whole library) have been read.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py") if p.stat().st_size < 200_000)
    if not files:
        raise FileNotFoundError(f"found no .py files in the standard library at {root}")
    random.Random(seed).shuffle(files)
    parts, total = [], 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        parts.append(text)
        total += len(text)
        if total >= n_bytes:
            break
    return "".join(parts)


def random_windows(data: Tensor, n_ctx: int, generator: torch.Generator, n: int) -> Tensor:
    """``n`` windows of ``n_ctx`` consecutive tokens at random offsets of the 1-D ``data``: ``[n n_ctx]``.

    >>> random_windows(torch.arange(10), 3, torch.Generator().manual_seed(0), 2).tolist()
    [[4, 5, 6], [7, 8, 9]]
    """
    if len(data) < n_ctx:
        raise ValueError(f"the data has {len(data)} tokens, fewer than one window of n_ctx={n_ctx}")
    starts = torch.randint(0, len(data) - n_ctx + 1, (n,), generator=generator)
    return data[starts[:, None] + torch.arange(n_ctx)].long()


def fixed_windows(data: Tensor, n_ctx: int, n: int) -> Tensor:
    """``n`` windows spread evenly over ``data`` (the same every time: for evaluation). ``[n n_ctx]``

    >>> fixed_windows(torch.arange(10), 3, 2).tolist()
    [[0, 1, 2], [7, 8, 9]]
    """
    if len(data) < n_ctx:
        raise ValueError(f"the data has {len(data)} tokens, fewer than one window of n_ctx={n_ctx}")
    starts = torch.linspace(0, len(data) - n_ctx, n).round().long()
    return data[starts[:, None] + torch.arange(n_ctx)].long()


@dataclass
class Corpus:
    """Token ids of a text, split into ``train`` and ``val`` (1-D long tensors)."""

    train: Tensor
    val: Tensor
    tokenizer: object
    d_vocab: int

    def sampler(self, n_ctx: int, split: str = "train") -> Sampler:
        """A batch sampler for :func:`minigpt.train.train`: ``sample(generator, n) -> [n n_ctx]``."""
        data = self._split(split)
        return lambda generator, n: random_windows(data, n_ctx, generator, n)

    def eval_batch(self, n_ctx: int, n: int = 64, split: str = "val") -> Tensor:
        """Fixed windows of ``split`` for a validation loss that is comparable across steps."""
        return fixed_windows(self._split(split), n_ctx, n)

    def _split(self, split: str) -> Tensor:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        return self.train if split == "train" else self.val


def stdlib_corpus(n_bytes: int = 2_000_000, seed: int = 0, tokenizer: str = "bytes",
                  val_fraction: float = 0.1) -> Corpus:
    """The standard library's source as a :class:`Corpus` (``tokenizer``: ``"bytes"`` or ``"gpt2"``)."""
    from ..tokenizer import get_tokenizer

    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    tok = get_tokenizer(tokenizer)
    ids = torch.tensor(tok.encode_ordinary(stdlib_text(n_bytes, seed)), dtype=torch.long)
    n_val = max(1, int(len(ids) * val_fraction))
    return Corpus(train=ids[:-n_val], val=ids[-n_val:], tokenizer=tok, d_vocab=tok.n_vocab)
