"""GPT-2's byte-level BPE tokenizer, from scratch (equal to tiktoken's ``gpt2``).

Text becomes token ids in three steps:

1. **Pre-tokenize.** A regular expression cuts the text into *pre-tokens*:
   words with the space before them, runs of digits, runs of punctuation,
   runs of whitespace, and the English endings ``'s 't 're 've 'm 'll 'd``.
   Merges never cross a pre-token boundary, and the leading space belongs to
   the word, so ``" Paris"`` and ``"Paris"`` are different words to BPE, with
   different ids (6342 and 40313) that the model learns separately:

   >>> pretokenize("Hello world, it's 2024!")
   ['Hello', ' world', ',', ' it', "'s", ' 2024', '!']

2. **Bytes.** Each pre-token is turned into its UTF-8 bytes, written with the
   stand-in characters of :mod:`~minigpt.tokenizer.bytes_unicode` (a space is
   ``Ġ``): ``" grokking"`` -> ``['Ġ', 'g', 'r', 'o', 'k', 'k', 'i', 'n', 'g']``.

3. **Merge.** ``vocab.bpe`` ranks 50,000 pairs, most frequent first. Repeatedly
   find the adjacent pair with the best (lowest) rank and glue it together,
   until no adjacent pair is in the list. Each final piece is a token of
   ``encoder.json``, which gives its id. :meth:`GPT2Tokenizer.bpe` shows every
   step (:mod:`~minigpt.tokenizer.merges` holds the algorithm); for ``" grokking"``::

       ['Ġ', 'g', 'r', 'o', 'k', 'k', 'i', 'n', 'g']
       ['Ġ', 'g', 'r', 'o', 'k', 'k', 'in', 'g']    merge ('i', 'n')     rank 3
       ['Ġ', 'g', 'r', 'o', 'k', 'k', 'ing']        merge ('in', 'g')    rank 22
       ['Ġ', 'g', 'ro', 'k', 'k', 'ing']            merge ('r', 'o')     rank 49
       ['Ġg', 'ro', 'k', 'k', 'ing']                merge ('Ġ', 'g')     rank 52
       ['Ġg', 'ro', 'k', 'king']                    merge ('k', 'ing')   rank 3108
       ['Ġgro', 'k', 'king']                        merge ('Ġg', 'ro')   rank 6872
       -> no adjacent pair left in vocab.bpe: [7128, 74, 3364]

   A word common in GPT-2's training data ends as one token (``" Paris"``
   after 5 merges); a rare one stays in pieces (``' gro' 'k' 'king'``).

Most pre-tokens repeat (``" the"``, ``","``), so the result of steps 2-3 is
cached per pre-token: after warm-up, encoding is mostly a regex scan and dict
look-ups.

The special token ``<|endoftext|>`` (id 50256) follows tiktoken: by default
finding it in the text is an error (user text must not smuggle in control
tokens); ``allowed_special`` turns it into id 50256, ``disallowed_special=()``
encodes it as the ordinary characters it is made of.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from typing import Literal

import regex

from .byte_level import replace_surrogates
from .bytes_unicode import bytes_to_unicode, unicode_to_bytes
from .merges import MergeStep, bpe_merges, merge_fast
from .unicode_compat import exact_pattern, has_listed_char
from .vocab_files import PathLike, find_vocab_files, load_vocab

__all__ = ["GPT2Tokenizer", "GPT2_PATTERN", "ENDOFTEXT", "pretokenize"]

#: GPT-2's pre-tokenizer, as released by OpenAI. ``\p{L}`` is any letter and
#: ``\p{N}`` any number character (digits of every script, ``½``, ``Ⅻ``);
#: ``\s+(?!\S)`` takes a run of whitespace but leaves its last character to
#: start the next word (``"  x"`` -> ``[' ', ' x']``). The ``regex`` package is
#: needed for ``\p{...}``; tiktoken uses an equivalent, faster-to-match form.
#:
#: Which characters are letters depends on the Unicode version the regex engine
#: knows: 16.0 for tiktoken's, 18.0 for ``regex`` 2026, so ``"a\U000323b0'll"``
#: (a CJK letter of Unicode 17) would split differently. The pattern compiled
#: below is therefore :func:`.unicode_compat.exact_pattern`'s, which puts the
#: characters of its tables in tiktoken's class; on text without any of them,
#: this plain pattern gives the same pre-tokens, a little faster.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
ENDOFTEXT = "<|endoftext|>"

_PRETOKENIZER = regex.compile(exact_pattern(GPT2_PATTERN))
_PLAIN_PRETOKENIZER = regex.compile(GPT2_PATTERN)


def _pretokenizer(text: str) -> regex.Pattern[str]:
    return _PRETOKENIZER if has_listed_char(text) else _PLAIN_PRETOKENIZER


def pretokenize(text: str) -> list[str]:
    """Cut ``text`` into GPT-2's pre-tokens (see the module docstring)."""
    return _pretokenizer(text).findall(text)


@functools.lru_cache(maxsize=16)
def _special_splitter(tokens: frozenset[str]) -> regex.Pattern[str]:
    return regex.compile("|".join(regex.escape(t) for t in sorted(tokens, key=len, reverse=True)))


class GPT2Tokenizer:
    """GPT-2's tokenizer: ``encode(str) -> list[int]`` and ``decode(list[int]) -> str``.

    >>> tok = GPT2Tokenizer.from_files()   # finds the vocabulary files, reads them
    >>> tok.encode("Hello world")
    [15496, 995]
    >>> tok.str_tokens(tok.encode(" Paris and Paris"))
    [' Paris', ' and', ' Paris']

    Args:
        encoder: ``{token: id}`` from ``encoder.json``/``vocab.json``.
        merges: the ranked pairs from ``vocab.bpe``/``merges.txt``, best first.
        special_tokens: ``{text: id}``; GPT-2 has only ``{"<|endoftext|>": 50256}``.
        cache_size: how many distinct pre-tokens to remember (``None``: no limit).
    """

    name = "gpt2"

    def __init__(
        self,
        encoder: Mapping[str, int],
        merges: Sequence[tuple[str, str]],
        special_tokens: Mapping[str, int] | None = None,
        cache_size: int | None = 1 << 17,
    ) -> None:
        self.special_tokens: dict[str, int] = dict({ENDOFTEXT: 50256} if special_tokens is None else special_tokens)
        self.encoder = {tok: i for tok, i in encoder.items() if tok not in self.special_tokens}
        self.ranks = {(a, b): rank for rank, (a, b) in enumerate(merges)}
        unknown = [a + b for a, b in merges if a + b not in self.encoder]
        if unknown:
            raise ValueError(f"{len(unknown)} merges make tokens missing from the vocabulary, e.g. {unknown[0]!r}")
        self.special_tokens_set = frozenset(self.special_tokens)
        self._byte_decoder = unicode_to_bytes()
        self._id_to_token = {i: tok for tok, i in self.encoder.items()}
        self._id_to_token.update({i: tok for tok, i in self.special_tokens.items()})
        self._id_to_bytes = {i: bytes(self._byte_decoder[c] for c in tok) for i, tok in self._id_to_token.items()}
        self._id_to_bytes.update({i: tok.encode("utf-8") for tok, i in self.special_tokens.items()})
        # Latin-1 decoding turns each byte into the character with that code; this
        # table then swaps it for its stand-in, so bytes -> stand-ins is C-speed.
        self._standin = str.maketrans({chr(b): c for b, c in bytes_to_unicode().items()})
        self._n_vocab = max(self._id_to_token) + 1
        self._encode_piece = functools.lru_cache(maxsize=cache_size)(self._encode_piece_uncached)

    @classmethod
    def from_files(cls, path: PathLike | tuple[PathLike, PathLike] | None = None, **kwargs) -> GPT2Tokenizer:
        """Build from the vocabulary files found by :func:`find_vocab_files`."""
        return cls(*load_vocab(find_vocab_files(path)), **kwargs)

    # -- sizes and special tokens -------------------------------------------------
    @property
    def n_vocab(self) -> int:
        """Number of token ids, special tokens included (50,257 for GPT-2)."""
        return self._n_vocab

    vocab_size = n_vocab

    @property
    def eot_token(self) -> int:
        """The id of ``<|endoftext|>`` (50256)."""
        return self.special_tokens[ENDOFTEXT]

    # -- encoding -----------------------------------------------------------------
    def to_standins(self, piece: str) -> str:
        """A pre-token's UTF-8 bytes in stand-in characters: ``" Paris"`` -> ``"ĠParis"``."""
        return piece.encode("utf-8").decode("latin-1").translate(self._standin)

    def _encode_piece_uncached(self, piece: str) -> tuple[int, ...]:
        word = self.to_standins(piece)
        if word in self.encoder:  # most pre-tokens are a single token
            return (self.encoder[word],)
        return tuple(self.encoder[s] for s in merge_fast(list(word), self.ranks))

    def bpe(self, word: str) -> list[MergeStep]:
        """Every merge BPE makes on one pre-token, for teaching.

        >>> from minigpt.tokenizer import get_tokenizer
        >>> tok = get_tokenizer("gpt2")
        >>> [(step.pair, step.rank) for step in tok.bpe(" Paris")]
        [(('i', 's'), 15), (('a', 'r'), 27), (('Ġ', 'P'), 94), (('ĠP', 'ar'), 2291), (('ĠPar', 'is'), 6086)]
        >>> tok.bpe(" Paris")[-1].symbols
        ['ĠParis']
        """
        pieces = pretokenize(word)
        if pieces != [word]:
            raise ValueError(f"bpe() takes one pre-token; {word!r} pre-tokenizes to {pieces}: call it on each")
        return list(bpe_merges(list(self.to_standins(word)), self.ranks))

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode ``text``, treating special-token text as ordinary characters."""
        try:
            return self._encode_text(text)
        except UnicodeEncodeError:  # lone surrogates: fix up like tiktoken
            return self._encode_text(replace_surrogates(text))

    def _encode_text(self, text: str) -> list[int]:
        ids: list[int] = []
        extend, encode_piece = ids.extend, self._encode_piece
        for piece in _pretokenizer(text).findall(text):
            extend(encode_piece(piece))
        return ids

    def encode(
        self,
        text: str,
        *,
        allowed_special: Literal["all"] | Collection[str] = frozenset(),
        disallowed_special: Literal["all"] | Collection[str] = "all",
    ) -> list[int]:
        """Encode ``text`` to token ids, with tiktoken's rules for special tokens.

        * ``allowed_special``: special tokens to encode as their id (``"all"``: all).
        * ``disallowed_special``: special tokens whose text is an error
          (``"all"``, the default: every special token not allowed). Pass ``()``
          to encode such text as ordinary characters.

        >>> from minigpt.tokenizer import get_tokenizer
        >>> tok = get_tokenizer("gpt2")
        >>> tok.encode("a<|endoftext|>", allowed_special="all")
        [64, 50256]
        >>> tok.encode("a<|endoftext|>", disallowed_special=())
        [64, 27, 91, 437, 1659, 5239, 91, 29]
        """
        if allowed_special == "all":
            allowed = self.special_tokens_set
        else:
            allowed = self._check_special(allowed_special, "allowed_special")
        if disallowed_special == "all":
            disallowed = self.special_tokens_set - allowed
        else:
            disallowed = self._check_special(disallowed_special, "disallowed_special")
        for special in disallowed:
            if special in text:
                self._refuse(special)
        if not allowed:
            return self.encode_ordinary(text)
        try:
            return self._encode_with_specials(text, frozenset(allowed))
        except UnicodeEncodeError:  # lone surrogates: fix up like tiktoken
            return self._encode_with_specials(replace_surrogates(text), frozenset(allowed))

    def _encode_with_specials(self, text: str, allowed: frozenset[str]) -> list[int]:
        ids: list[int] = []
        start = 0
        for match in _special_splitter(allowed).finditer(text):
            ids += self._encode_text(text[start : match.start()])
            ids.append(self.special_tokens[match.group()])
            start = match.end()
        return ids + self._encode_text(text[start:])

    def _check_special(self, names: Collection[str], argument: str) -> frozenset[str]:
        if isinstance(names, str):
            raise TypeError(f"{argument} takes 'all' or a set of strings, not the string {names!r}")
        unknown = set(names) - self.special_tokens_set
        if unknown:
            raise ValueError(
                f"{argument}: unknown special token(s) {sorted(unknown)}; "
                f"this tokenizer has {sorted(self.special_tokens_set)}"
            )
        return frozenset(names)

    def _refuse(self, special: str) -> None:
        raise ValueError(
            f"The text contains the special token {special!r}, which encode() refuses by default "
            "(text from outside must not be able to inject control tokens). Pass "
            f"allowed_special={{{special!r}}} (or allowed_special='all') to encode it as id "
            f"{self.special_tokens[special]}, or disallowed_special=() to encode it as ordinary text."
        )

    # -- decoding -----------------------------------------------------------------
    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """The raw bytes the ids stand for, joined."""
        ids = ids.tolist() if hasattr(ids, "tolist") else ids  # tensors and arrays
        try:
            return b"".join([self._id_to_bytes[i] for i in ids])
        except KeyError as err:
            raise ValueError(
                f"token id {err.args[0]!r} is not in the vocabulary (ids are 0..{self.n_vocab - 1})"
            ) from None

    def decode(self, ids: Sequence[int], errors: str = "replace") -> str:
        """Token ids back to text. Bytes that are not valid UTF-8 (a token can
        hold part of a character) become '�', as in tiktoken."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def str_tokens(self, ids: Sequence[int]) -> list[str]:
        """Each token's own text: ``[15496, 995]`` -> ``['Hello', ' world']``."""
        ids = ids.tolist() if hasattr(ids, "tolist") else ids
        return [self.decode([i]) for i in ids]

    def id_to_token(self, i: int) -> str:
        """A token as spelled in the vocabulary file: ``6342`` -> ``'ĠParis'``."""
        return self._id_to_token[int(i)]

    def token_to_id(self, token: str) -> int:
        """The inverse of :meth:`id_to_token`: ``'ĠParis'`` -> ``6342``."""
        if token in self.special_tokens:
            return self.special_tokens[token]
        return self.encoder[token]

    def __repr__(self) -> str:
        return f"GPT2Tokenizer(n_vocab={self.n_vocab}, merges={len(self.ranks)})"
