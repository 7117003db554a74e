"""GPT-2's table between the 256 byte values and 256 printable characters.

GPT-2's BPE works on *bytes*: any text, in any script, is first turned into its
UTF-8 bytes, so no character is ever "unknown". But the vocabulary files
(``encoder.json``, ``vocab.bpe``) are text files, and a token such as the
bytes ``b" Paris"`` or ``b"\\n\\n"`` has to be written in them somehow. A raw
space or newline inside a token would break the one-merge-per-line,
space-separated ``vocab.bpe`` format, and control bytes are unreadable.

So OpenAI gave every byte a stand-in character that is printable and is not
whitespace:

* the 188 bytes that are already printable Latin-1 characters (``!`` to ``~``,
  ``¡`` to ``¬``, ``®`` to ``ÿ``) stand for themselves;
* the other 68 bytes (0-32, 127-160 and 173) are given, in order, the
  characters ``chr(256)``, ``chr(257)``, ... ``chr(323)``.

That is why GPT-2's vocabulary is full of ``Ġ``: ``Ġ`` is ``chr(256 + 32)``,
the 33rd byte that needed a stand-in, byte 32, the space. ``" Paris"`` is
stored as ``"ĠParis"`` and ``"\\n"`` (byte 10) as ``"Ċ"`` (``chr(256 + 10)``).

The table is only a spelling convention for the files: the tokenizer could
equally work on ``bytes`` directly (tiktoken does).
"""

from __future__ import annotations

__all__ = ["bytes_to_unicode", "unicode_to_bytes", "PRINTABLE_BYTES"]

#: The byte values that stand for themselves: the printable, non-space
#: characters of Latin-1.
PRINTABLE_BYTES: tuple[int, ...] = (
    *range(ord("!"), ord("~") + 1),  # 33..126
    *range(ord("¡"), ord("¬") + 1),  # 161..172
    *range(ord("®"), ord("ÿ") + 1),  # 174..255
)


def bytes_to_unicode() -> dict[int, str]:
    """Return GPT-2's map from each byte value (0..255) to one printable character.

    Printable Latin-1 bytes map to themselves; the remaining 68 bytes map, in
    increasing byte order, to ``chr(256)``, ``chr(257)``, ...

    Hand-checkable example (bytes 0..32 are the first 33 that need a stand-in,
    so byte ``b`` there maps to ``chr(256 + b)``):

    >>> table = bytes_to_unicode()
    >>> table[ord("A")], table[32], table[10], table[0]
    ('A', 'Ġ', 'Ċ', 'Ā')
    >>> "".join(table[b] for b in " Paris".encode("utf-8"))
    'ĠParis'
    >>> "".join(table[b] for b in "é".encode("utf-8"))  # é is 2 UTF-8 bytes: c3 a9
    'Ã©'
    >>> len(table), len(set(table.values()))
    (256, 256)
    """
    printable = set(PRINTABLE_BYTES)
    table: dict[int, str] = {}
    n_shifted = 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + n_shifted)
            n_shifted += 1
    return table


def unicode_to_bytes() -> dict[str, int]:
    """The inverse of :func:`bytes_to_unicode`: stand-in character -> byte value.

    >>> inverse = unicode_to_bytes()
    >>> bytes(inverse[ch] for ch in "ĠParis")
    b' Paris'
    """
    return {char: byte for byte, char in bytes_to_unicode().items()}
