"""Applying ranked BPE merges to one word: a readable version and a fast one.

Both take a word as a list of symbols (single stand-in characters at first)
and ``ranks``, which maps a pair of adjacent symbols to its position in
``vocab.bpe`` (lower = merged earlier when the vocabulary was learned), and
both repeatedly glue the best-ranked adjacent pair until no adjacent pair is
ranked.

* :func:`bpe_merges` is the algorithm as GPT-2's own ``encoder.py`` states it,
  and yields every intermediate state, for teaching. Each round rescans the
  word, so a word of ``n`` symbols costs O(n²).
* :func:`merge_fast` gives the same result in O(n log n) with a heap and a
  linked list, so a pathological input (a million DNA letters, a long run of
  letters without spaces) does not stall. Encoding uses it.

They agree because a merge never creates a pair that ranks better than the
pair just merged: ``("x", "ab")`` can only be in ``vocab.bpe`` after the merge
that created ``"ab"``. So taking the best pair left to right, one at a time,
visits the merges in the same order as taking all copies of it per round.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from typing import NamedTuple

__all__ = ["MergeStep", "bpe_merges", "merge_fast"]

Ranks = Mapping[tuple[str, str], int]


class MergeStep(NamedTuple):
    """One BPE merge: the pair glued, its rank in ``vocab.bpe``, the symbols after it."""

    pair: tuple[str, str]
    rank: int
    symbols: list[str]


def bpe_merges(symbols: list[str], ranks: Ranks) -> Iterator[MergeStep]:
    """Apply ranked merges to ``symbols``, yielding the state after every merge.

    Each round merges every occurrence (left to right) of the adjacent pair
    with the lowest rank; it stops when no adjacent pair has a rank.

    >>> ranks = {("a", "b"): 0, ("ab", "c"): 1, ("b", "c"): 2}
    >>> [step.symbols for step in bpe_merges(list("abcab"), ranks)]
    [['ab', 'c', 'ab'], ['abc', 'ab']]
    """
    while len(symbols) > 1:
        pair = min(zip(symbols, symbols[1:]), key=lambda p: ranks.get(p, float("inf")))
        if pair not in ranks:
            return
        first, second = pair
        merged: list[str] = []
        i = 0
        while i < len(symbols):
            if i + 1 < len(symbols) and symbols[i] == first and symbols[i + 1] == second:
                merged.append(first + second)
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        symbols = merged
        yield MergeStep(pair, ranks[pair], symbols)


def merge_fast(symbols: list[str], ranks: Ranks) -> list[str]:
    """The final symbols of :func:`bpe_merges`, computed with a heap.

    Symbol ``i`` lives in ``alive[i]`` (``None`` once merged into its left
    neighbour) and links to its neighbours through ``left``/``right``. The heap
    holds ``(rank, i)`` for the pair starting at ``i``; entries that went stale
    (a neighbour changed) are skipped when popped.

    >>> merge_fast(list("abcab"), {("a", "b"): 0, ("ab", "c"): 1, ("b", "c"): 2})
    ['abc', 'ab']
    """
    n = len(symbols)
    alive: list[str | None] = list(symbols)
    left = list(range(-1, n - 1))
    right = list(range(1, n + 1))
    heap = [(ranks[pair], i) for i, pair in enumerate(zip(symbols, symbols[1:])) if pair in ranks]
    heapq.heapify(heap)
    while heap:
        rank, i = heapq.heappop(heap)
        j = right[i]
        if j >= n or alive[i] is None or ranks.get((alive[i], alive[j])) != rank:
            continue  # stale: this pair no longer exists
        merged = alive[i] + alive[j]  # type: ignore[operator]
        alive[i], alive[j] = merged, None
        k = right[j]
        right[i] = k
        if k < n:
            left[k] = i
            if (rank := ranks.get((merged, alive[k]))) is not None:  # type: ignore[arg-type]
                heapq.heappush(heap, (rank, i))
        h = left[i]
        if h >= 0 and (rank := ranks.get((alive[h], merged))) is not None:  # type: ignore[arg-type]
            heapq.heappush(heap, (rank, h))
    return [s for s in alive if s is not None]
