r"""Make GPT-2's pre-tokenizer see Unicode as tiktoken does, whatever ``regex`` is installed.

GPT-2's pattern (:data:`~minigpt.tokenizer.bpe.GPT2_PATTERN`) sorts every
character into one of four classes: letter ``\p{L}``, number ``\p{N}``,
whitespace ``\s`` or other ``[^\s\p{L}\p{N}]``. Which characters are letters
depends on the Unicode version of the regular-expression engine's tables, and
new versions keep assigning new letters (whole scripts, CJK extensions):

* tiktoken matches the pattern with Rust's ``regex`` crate (through
  ``fancy-regex``), whose tables are **Unicode 16.0** (tiktoken 0.14);
* the ``regex`` package from PyPI follows Unicode closely: 2026 releases know
  Unicode 18.0, releases before September 2024 know 15.x or older.

A letter that is new in Unicode 17.0 (``"\U000323b0"``, CJK extension J, or
``"\u0c5c"``, Telugu) is unassigned, so "other", for tiktoken, and
``"a\U000323b0'll"`` pre-tokenizes as ``a | \U000323b0' | ll`` there but as
``a\U000323b0 | 'll`` with a plain ``\p{L}``: different tokens. With an
old ``regex`` the reverse happens for the letters and digits of Unicode
15.0-16.0.

The tables below fix the classes on both sides. Each is a sorted tuple of
inclusive ``(first, last)`` code-point ranges:

* :data:`FORCE_OTHER`: the 17,480 letters and numbers that are "other" for
  tiktoken (all assigned after Unicode 16.0), in 34 ranges;
* :data:`FORCE_LETTER` / :data:`FORCE_NUMBER`: tiktoken's letters and numbers
  that are new since Unicode 14.0, for a ``regex`` that does not know them yet.

A range may span characters that are "other" everywhere (marks, unassigned
gaps): subtracting those from the letters changes nothing, and it keeps the
tables short. With a ``regex`` that agrees with tiktoken already, a table is a
no-op. :func:`exact_pattern` rewrites a pattern's classes with ``regex``'s set
operations (``(?V1)``, ``[A--B]``)::

    \p{L}              ->  [\p{L}<FORCE_LETTER>--<FORCE_OTHER>]
    \p{N}              ->  [\p{N}<FORCE_NUMBER>--<FORCE_OTHER>]
    [^\s\p{L}\p{N}]    ->  [^\s<the letters above><the numbers above>]

The tables were measured, not copied from the Unicode data files: for every
code point, tiktoken encoded probes with the pattern
``ab\p{L}|cd\p{N}|ef\s|gh[^\s\p{L}\p{N}]|[\s\S]`` and a vocabulary of the
256 bytes plus ``ab``, ``cd``, ``ef``, ``gh``, so the token ``ab`` appears iff
the character is a letter for tiktoken, and so on (whitespace agreed
everywhere). ``tests/tokenizer/test_unicode_compat.py`` repeats that
measurement for every code point and names the ranges to change if a new
tiktoken or ``regex`` disagrees.
"""

from __future__ import annotations

import re

import regex

__all__ = [
    "TIKTOKEN_UNICODE_VERSION",
    "FORCE_OTHER",
    "FORCE_LETTER",
    "FORCE_NUMBER",
    "char_set",
    "exact_pattern",
    "has_listed_char",
]

#: The Unicode version of the tables of tiktoken's regular-expression engine.
TIKTOKEN_UNICODE_VERSION = "16.0"

Ranges = tuple[tuple[int, int], ...]

# fmt: off
#: Letters and numbers of Unicode 17.0 and 18.0: "other" for tiktoken.
FORCE_OTHER: Ranges = (
    (0x0558, 0x0558), (0x058B, 0x058C), (0x088F, 0x088F), (0x0C5C, 0x0C5C), (0x0CDC, 0x0CDC),
    (0x208F, 0x208F), (0x209D, 0x209F), (0xA7CE, 0xA7CF), (0xA7D2, 0xA7D2), (0xA7D4, 0xA7D4),
    (0xA7DD, 0xA7F1), (0xAB6C, 0xAB6D), (0x107BB, 0x107BF), (0x10940, 0x10959), (0x10EC5, 0x10EEE),
    (0x11B0A, 0x11B0A), (0x11DB0, 0x11DF1), (0x1246F, 0x1247F), (0x12550, 0x12686), (0x16EA0, 0x16ED3),
    (0x16FF2, 0x16FF6), (0x187F8, 0x187FF), (0x18CD6, 0x18CDA), (0x18D09, 0x191D2), (0x1B123, 0x1B128),
    (0x1B168, 0x1B168), (0x1D6A6, 0x1D6A6), (0x1DF1F, 0x1DF24), (0x1DF2B, 0x1DFFF), (0x1E6C0, 0x1E6FF),
    (0x2B73A, 0x2B73F), (0x2B81E, 0x2B81E), (0x2CEA2, 0x2CEAD), (0x323B0, 0x3FC3F),
)

#: Letters of Unicode 15.0-16.0 (letters for tiktoken), for a ``regex`` older than 2024.9.
FORCE_LETTER: Ranges = (
    (0x1C89, 0x1C8A), (0xA7CB, 0xA7CD), (0xA7DA, 0xA7DC), (0x105C0, 0x105F3), (0x10D4A, 0x10D65),
    (0x10D6F, 0x10D85), (0x10EC2, 0x10EC4), (0x1123F, 0x11240), (0x11380, 0x11389), (0x1138B, 0x1138B),
    (0x1138E, 0x1138E), (0x11390, 0x113B5), (0x113B7, 0x113B7), (0x113D1, 0x113D1), (0x113D3, 0x113D3),
    (0x11BC0, 0x11BE0), (0x11F02, 0x11F02), (0x11F04, 0x11F10), (0x11F12, 0x11F33), (0x1342F, 0x1342F),
    (0x13441, 0x13446), (0x13460, 0x143FA), (0x16100, 0x1611D), (0x16D40, 0x16D6C), (0x18CFF, 0x18CFF),
    (0x1B132, 0x1B132), (0x1B155, 0x1B155), (0x1DF25, 0x1DF2A), (0x1E030, 0x1E06D), (0x1E4D0, 0x1E4EB),
    (0x1E5D0, 0x1E5ED), (0x1E5F0, 0x1E5F0), (0x2B739, 0x2B739), (0x2EBF0, 0x2EE5D), (0x31350, 0x323AF),
)

#: Numbers of Unicode 15.0-16.0 (numbers for tiktoken), for a ``regex`` older than 2024.9.
FORCE_NUMBER: Ranges = (
    (0x10D40, 0x10D49), (0x116D0, 0x116E3), (0x11BF0, 0x11BF9), (0x11F50, 0x11F59), (0x16130, 0x16139),
    (0x16D70, 0x16D79), (0x1CCF0, 0x1CCF9), (0x1D2C0, 0x1D2D3), (0x1E4F0, 0x1E4F9), (0x1E5F1, 0x1E5FA),
)
# fmt: on


def _char(cp: int) -> str:
    return f"\\U{cp:08X}" if cp > 0xFFFF else f"\\u{cp:04X}"


def char_set(ranges: Ranges) -> str:
    r"""A ``(?V1)`` set matching the code points in sorted ``ranges``.

    The set is a balanced tree, ``[first-last&&[<left half><right half>]]``,
    so most characters (ASCII in particular) are rejected after one comparison
    instead of one per range:

    >>> char_set(((0x41, 0x5A), (0x61, 0x61)))
    '[\\u0041-\\u0061&&[\\u0041-\\u005A\\u0061]]'
    """
    if len(ranges) <= 4:
        body = "".join(_char(a) if a == b else f"{_char(a)}-{_char(b)}" for a, b in ranges)
    else:
        body = char_set(ranges[: len(ranges) // 2]) + char_set(ranges[len(ranges) // 2 :])
    return f"[{_char(ranges[0][0])}-{_char(ranges[-1][1])}&&[{body}]]"


_LETTER = f"[\\p{{L}}{char_set(FORCE_LETTER)}--{char_set(FORCE_OTHER)}]"
_NUMBER = f"[\\p{{N}}{char_set(FORCE_NUMBER)}--{char_set(FORCE_OTHER)}]"
_CLASSES = {r"[^\s\p{L}\p{N}]": f"[^\\s{_LETTER}{_NUMBER}]", r"\p{L}": _LETTER, r"\p{N}": _NUMBER}
_CLASS_RE = re.compile("|".join(map(re.escape, _CLASSES)))  # the longest, the other class, first


def exact_pattern(pattern: str) -> str:
    r"""``pattern`` with ``\p{L}``, ``\p{N}`` and ``[^\s\p{L}\p{N}]`` rewritten so that
    every character falls in the class tiktoken puts it in (see the module docstring).

    >>> import regex
    >>> regex.findall(exact_pattern(r"\p{L}+"), "a\U000323b0b")  # U+323B0: not a letter for tiktoken
    ['a', 'b']
    """
    return "(?V1)" + _CLASS_RE.sub(lambda m: _CLASSES[m.group()], pattern)


_LISTED = regex.compile("(?V1)" + char_set(tuple(sorted(FORCE_OTHER + FORCE_LETTER + FORCE_NUMBER)))).search


def has_listed_char(text: str) -> bool:
    r"""Whether ``text`` holds a character of one of the tables, that is, one for
    which a plain pattern and :func:`exact_pattern`'s may disagree.

    >>> has_listed_char("Paris, 2024"), has_listed_char("x\u0c5c")
    (False, True)
    """
    return not text.isascii() and _LISTED(text) is not None
