"""Text as UTF-8 bytes, and the smallest possible tokenizer: one token per byte.

:class:`ByteTokenizer` is the tokenizer of the chapters' small models: its
vocabulary is the 256 byte values, so ``d_vocab = 256`` and nothing needs to be
learned or downloaded.

>>> tok = ByteTokenizer()
>>> tok.encode("hé!")            # 'é' is two UTF-8 bytes, 0xc3 0xa9
[104, 195, 169, 33]
>>> tok.decode([104, 195, 169, 33])
'hé!'
>>> tok.str_tokens([104, 195, 169, 33])  # half a character is not text
['h', '�', '�', '!']

Python strings may hold *lone surrogates* (``"\\ud800"``), which have no UTF-8
form. Like tiktoken, :func:`replace_surrogates` first joins valid surrogate
pairs into the character they encode and turns lone ones into U+FFFD '�'.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ByteTokenizer", "replace_surrogates", "to_utf8"]


def replace_surrogates(text: str) -> str:
    """Join surrogate pairs and replace lone surrogates with U+FFFD (tiktoken's fix-up).

    >>> replace_surrogates("\\ud83d\\ude00 and \\udc80")
    '😀 and �'
    """
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def to_utf8(text: str) -> bytes:
    """UTF-8 bytes of ``text``; surrogates are handled by :func:`replace_surrogates`."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return replace_surrogates(text).encode("utf-8")


class ByteTokenizer:
    """A toy tokenizer: token ``i`` is the byte with value ``i`` (vocabulary of 256).

    It has the same method names as :class:`~minigpt.tokenizer.GPT2Tokenizer`,
    so the chapters can swap one for the other.
    """

    name = "bytes"
    n_vocab = 256
    vocab_size = 256
    special_tokens_set: frozenset[str] = frozenset()

    def encode(self, text: str, **_special_token_options: object) -> list[int]:
        """The UTF-8 bytes of ``text`` as ints. Special-token options are accepted and ignored."""
        return list(to_utf8(text))

    encode_ordinary = encode

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """The bytes the ids stand for; an id outside 0..255 is an error."""
        try:
            return bytes(ids)
        except ValueError:
            bad = next(i for i in ids if not 0 <= int(i) < 256)
            raise ValueError(f"token id {bad} is not a byte: ByteTokenizer ids are 0..255") from None

    def decode(self, ids: Sequence[int], errors: str = "replace") -> str:
        """Bytes back to text; invalid UTF-8 becomes '�' (``errors="replace"``)."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def str_tokens(self, ids: Sequence[int]) -> list[str]:
        """Each token's own text (non-ASCII bytes alone are not valid UTF-8: '�')."""
        return [self.decode([i]) for i in ids]

    def __repr__(self) -> str:
        return "ByteTokenizer(n_vocab=256)"
