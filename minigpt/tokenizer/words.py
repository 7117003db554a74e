"""A word-level tokenizer: one token per word or punctuation mark, from a fixed list.

The chapter-5 models (indirect-object identification, factual recall) are trained on
template sentences with a few hundred words, so a token is a word: ``" Mary"`` and
``"Mary"`` are the same token, and a name is one token, as in the IOI paper's GPT-2
prompts. The vocabulary is a list of words; token ``i`` is ``words[i]``.

>>> tok = WordTokenizer(["<bos>", "When", "Mary", "and", "John", "went", "to", "the", "store", ",", "gave"])
>>> tok.encode("When Mary and John went to the store, John gave")
[1, 2, 3, 4, 5, 6, 7, 8, 9, 4, 10]
>>> tok.decode([1, 2, 3, 4, 9, 10])
'When Mary and John, gave'
>>> tok.str_tokens([2, 9])
[' Mary', ',']

A checkpoint stores its list as ``vocab.json`` (``get_tokenizer("words", path=...)``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence

__all__ = ["WordTokenizer", "split_words"]

_WORD = re.compile(r"<[a-z]+>|\w+|[^\w\s]")  # special tokens like <bos>, words, single punctuation marks


def split_words(text: str) -> list[str]:
    """``"John gave, then"`` → ``['John', 'gave', ',', 'then']``; ``<bos>``-style specials stay whole."""
    return _WORD.findall(text)


def _is_word(token: str) -> bool:
    return bool(token) and (token[0].isalnum() or token[0] == "_")


class WordTokenizer:
    """Token ``i`` is ``words[i]``. Words are joined by spaces, punctuation attaches to the word before it.

    ``bos`` (default ``"<bos>"`` when the list has it) is the beginning/end-of-text token,
    what ``model.to_tokens`` prepends and pads with.
    """

    name = "words"
    special_tokens_set: frozenset[str] = frozenset()

    def __init__(self, words: Sequence[str], bos: str | None = "<bos>"):
        words = list(words)
        self.words = words
        self._ids = {w: i for i, w in enumerate(words)}
        if len(self._ids) != len(words):
            dup = next(w for w in words if words.count(w) > 1)
            raise ValueError(f"the vocabulary lists {dup!r} twice; each word must have one id")
        bad = [w for w in words if split_words(w) != [w]]
        if bad:
            raise ValueError(f"vocabulary entries must be one word or one punctuation mark; got {bad[:3]}")
        self.eot_token = self._ids.get(bos) if bos is not None else None
        self.special_tokens_set = frozenset(w for w in words if w.startswith("<") and len(w) > 1)

    @property
    def n_vocab(self) -> int:
        return len(self.words)

    vocab_size = n_vocab

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "WordTokenizer":
        """Read a ``vocab.json`` written by :meth:`save`: ``{"words": [...], "bos": ...}``."""
        data = json.loads(open(path, encoding="utf-8").read())
        return cls(data["words"], bos=data.get("bos"))

    def save(self, path: str | os.PathLike) -> None:
        bos = self.words[self.eot_token] if self.eot_token is not None else None
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"words": self.words, "bos": bos}, f, indent=0)

    def encode(self, text: str, **_special_token_options: object) -> list[int]:
        """The ids of ``text``'s words; a word outside the vocabulary is an error that names it."""
        out = []
        for word in split_words(text):
            if word not in self._ids:
                raise ValueError(f"{word!r} is not in this model's vocabulary of {self.n_vocab} words "
                                 f"(e.g. {', '.join(self.words[1:6])}, ...)")
            out.append(self._ids[word])
        return out

    encode_ordinary = encode

    def _word(self, i: int) -> str:
        if not 0 <= int(i) < self.n_vocab:
            raise ValueError(f"token id {int(i)} is outside this vocabulary (0..{self.n_vocab - 1})")
        return self.words[int(i)]

    def str_tokens(self, ids: Sequence[int]) -> list[str]:
        """Each token as it reads in a sentence: words with a leading space, punctuation without."""
        return [(" " + w if _is_word(w) else w) for w in map(self._word, ids)]

    def decode(self, ids: Sequence[int], errors: str = "replace") -> str:
        return "".join(self.str_tokens(ids)).lstrip(" ")

    def __repr__(self) -> str:
        return f"WordTokenizer(n_vocab={self.n_vocab})"
