"""Chapter 1 checks: byte-pair encoding of one word."""

from __future__ import annotations

from ...registry import Case, Mutant
from ._common import register_exercise

# GPT-2's own merges for " grokking" (copied from vocab.bpe, in rank order), among
# merges of other words: the cases need no vocabulary files.
_GPT2_MERGES = [("Ġ", "t"), ("i", "n"), ("o", "n"), ("e", "r"), ("a", "t"), ("e", "n"), ("i", "s"), ("in", "g"),
                ("Ġt", "o"), ("i", "on"), ("r", "o"), ("Ġ", "g"), ("at", "ion"), ("i", "z"), ("iz", "ation"),
                ("k", "ing"), ("k", "en"), ("Ġg", "ro"), ("Ġto", "ken")]


def bpe_cases() -> list[Case]:
    return [
        dict(word="Ġgrokking", merges=_GPT2_MERGES),  # GPT-2's split: ['Ġgro', 'k', 'king']
        # the pair ("o", "w") also spells the start of "low" once "lo" is a symbol: only real pairs merge
        dict(word="lowow", merges=[("l", "o"), ("o", "w")]),
        # "abc" is a known token, but BPE never builds it here: ("b", "c") ranks first
        dict(word="abcab", merges=[("b", "c"), ("a", "b"), ("ab", "c")]),
        dict(word="abc", merges=[("a", "b"), ("b", "c"), ("a", "bc")]),
    ]


def _ranks(merges):
    return {tuple(p): r for r, p in enumerate(merges)}


def _merge_all(symbols, pair):
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def _bpe(word, merges, choose, rounds=None):
    ranks, symbols = _ranks(merges), list(word)
    while len(symbols) > 1 and rounds != 0:
        pairs = [p for p in zip(symbols, symbols[1:]) if p in ranks]
        if not pairs:
            break
        symbols = _merge_all(symbols, choose(pairs, ranks))
        rounds = None if rounds is None else rounds - 1
    return symbols


def _bpe_highest_rank(word, merges):
    return _bpe(word, merges, lambda pairs, ranks: max(pairs, key=ranks.__getitem__))


def _bpe_leftmost(word, merges):
    return _bpe(word, merges, lambda pairs, ranks: pairs[0])


def _bpe_one_round(word, merges):
    return _bpe(word, merges, lambda pairs, ranks: min(pairs, key=ranks.__getitem__), rounds=1)


def _bpe_string_replace(word, merges):
    ranks, text = _ranks(merges), " ".join(word)
    while True:
        symbols = text.split(" ")
        pairs = [p for p in zip(symbols, symbols[1:]) if p in ranks]
        if not pairs:
            return symbols
        a, b = min(pairs, key=ranks.__getitem__)
        text = text.replace(f"{a} {b}", a + b)


def _bpe_longest_match(word, merges):
    vocab = set(word) | {a + b for a, b in merges}
    out, i = [], 0
    while i < len(word):
        j = max(j for j in range(i + 1, len(word) + 1) if word[i:j] in vocab or j == i + 1)
        out.append(word[i:j])
        i = j
    return out


register_exercise(
    id="ch01.bpe_merge_word", name="bpe_merge_word", title="Byte-pair encoding of a word", points=2, difficulty=2,
    hints=["Each round: ranks.get(pair, math.inf) for every adjacent pair; stop when the best is not in merges.",
           "Merge every occurrence of the best pair, scanning left to right and skipping past each merge."],
    make_cases=bpe_cases,
    mutants=[
        Mutant("highest-rank", "you merged the pair with the *highest* rank; a lower rank means learned "
               "earlier and merged first: min(..., key=rank).", _bpe_highest_rank),
        Mutant("leftmost-pair", "you merged the leftmost pair that is in merges, whatever its rank; each round "
               "merges the pair with the lowest rank among all adjacent pairs.", _bpe_leftmost),
        Mutant("one-round", "only one merge was applied; keep merging until no adjacent pair is in merges "
               "(a while loop).", _bpe_one_round),
        Mutant("string-replace", "you merged with a string replace on the space-joined symbols, which also glues "
               "the end of one symbol to the start of the next; compare whole symbols: "
               "(symbols[i], symbols[i + 1]) == best.", _bpe_string_replace),
        Mutant("longest-match", "you took the longest known token at each position (greedy longest match); "
               "BPE replays the merges in rank order instead, which can end elsewhere.", _bpe_longest_match),
    ],
)
