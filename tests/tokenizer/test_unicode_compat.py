"""The Unicode compat layer: tiktoken's character classes, for every code point.

tiktoken's regex engine knows an older Unicode than the ``regex`` package, so
without :mod:`minigpt.tokenizer.unicode_compat` ~17,500 recent letters and
numbers pre-tokenize differently. These tests check all 1,112,064 code points
(surrogates excluded), in blocks of text so that they stay fast; a block that
disagrees is retried one code point at a time to name the culprits. When
tiktoken or ``regex`` moves to another Unicode version, the failure message of
``test_every_code_point_is_in_tiktokens_class`` lists the ranges to change.
"""

from __future__ import annotations

import pytest
import regex

from minigpt.tokenizer import GPT2Tokenizer, unicode_compat
from minigpt.tokenizer.bpe import pretokenize
from minigpt.tokenizer.unicode_compat import FORCE_LETTER, FORCE_NUMBER, FORCE_OTHER, exact_pattern, has_listed_char

tiktoken = pytest.importorskip("tiktoken")

CODE_POINTS = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
BLOCK = 1 << 13


def blocks():
    for start in range(0, len(CODE_POINTS), BLOCK):
        yield CODE_POINTS[start : start + BLOCK]


def as_ranges(cps: list[int]) -> list[tuple[int, int]]:
    """Sorted code points -> ``(first, last)`` ranges, to print a failure compactly."""
    ranges: list[tuple[int, int]] = []
    for cp in cps:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return ranges


def describe(bad: dict[int, object]) -> str:
    shown = ", ".join(f"(0x{a:04X}, 0x{b:04X})" for a, b in as_ranges(sorted(bad))[:20])
    first = sorted(bad)[:5]
    return f"{len(bad)} code points disagree, in ranges {shown} ...; e.g. {[(hex(cp), bad[cp]) for cp in first]}"


# -- every character's class, read straight from tiktoken's regex engine ---------------

#: GPT-2's four classes, each behind a two-letter tag. tiktoken's encoders keep
#: only the text the pattern matches, so on "ab{c}cd{c}ef{c}gh{c}" exactly one
#: probe per character survives, and its tag names the character's class (no
#: other "ab", "cd", "ef", "gh" can form: a tag never follows a character).
PROBE = r"ab\p{L}|cd\p{N}|ef\s|gh[^\s\p{L}\p{N}]"
CLASS_OF_TAG = {"ab": "letter", "cd": "number", "ef": "space", "gh": "other"}


def probe_text(cps: list[int]) -> str:
    return "".join(f"ab{c}cd{c}ef{c}gh{c}" for c in map(chr, cps))


def classes(matched: str) -> list[str]:
    return [CLASS_OF_TAG[matched[i : i + 2]] for i in range(0, len(matched), 3)]


@pytest.fixture(scope="module")
def tiktoken_classes() -> dict[int, str]:
    """Every code point's class for tiktoken's regex engine."""
    probe = tiktoken.Encoding(
        name="class_probe", pat_str=PROBE, mergeable_ranks={bytes([b]): b for b in range(256)}, special_tokens={}
    )
    found: dict[int, str] = {}
    for cps in blocks():
        matched = probe.decode(probe.encode_ordinary(probe_text(cps)))
        assert len(matched) == 3 * len(cps)  # one class per character
        found.update(zip(cps, classes(matched)))
    return found


def regex_classes(pattern: str) -> dict[int, str]:
    compiled = regex.compile(pattern)
    found: dict[int, str] = {}
    for cps in blocks():
        matched = "".join(compiled.findall(probe_text(cps)))
        assert len(matched) == 3 * len(cps)
        found.update(zip(cps, classes(matched)))
    return found


def test_every_code_point_is_in_tiktokens_class(tiktoken_classes):
    """The exact pattern's letter/number/space/other classes are tiktoken's, for all of Unicode."""
    ours = regex_classes(exact_pattern(PROBE))
    bad = {cp: (ours[cp], theirs) for cp, theirs in tiktoken_classes.items() if ours[cp] != theirs}
    assert not bad, "(ours, tiktoken's): " + describe(bad)


def test_plain_pattern_disagrees_only_on_listed_chars(tiktoken_classes):
    """Text without a listed character may use the plain (faster) pattern: same classes."""
    plain = regex_classes(PROBE)
    bad = {cp: (plain[cp], theirs) for cp, theirs in tiktoken_classes.items() if plain[cp] != theirs}
    assert not [cp for cp in bad if not has_listed_char(chr(cp))], describe(bad)


# -- every character, in context, through the real GPT-2 encoding -----------------------

LISTED = frozenset(cp for first, last in FORCE_OTHER + FORCE_LETTER + FORCE_NUMBER for cp in range(first, last + 1))


def mismatches(tok, reference, make, cps: list[int]) -> dict[int, tuple[list[int], list[int]]]:
    """Code points whose context ``make(c)`` encodes differently, checked a block of text at a time."""
    bad = {}
    for start in range(0, len(cps), BLOCK):
        block = cps[start : start + BLOCK]
        text = "".join(make(c) for c in map(chr, block))
        if tok.encode_ordinary(text) != reference.encode_ordinary(text):
            for cp in block:
                ours, theirs = tok.encode_ordinary(make(chr(cp))), reference.encode_ordinary(make(chr(cp)))
                if ours != theirs:
                    bad[cp] = (ours, theirs)
    return bad


@pytest.fixture(scope="module")
def uncached_tok(vocab) -> GPT2Tokenizer:
    """Without a cache: faster here (every piece is new), and the shared tokenizer's stays warm."""
    return GPT2Tokenizer(*vocab, cache_size=0)


def test_every_code_point_encodes_like_tiktoken(uncached_tok, reference):
    # a letter or number takes the space and leaves "'ll" whole; an "other" character takes
    # the space and the quote, leaving "ll"; whitespace joins the space
    bad = mismatches(uncached_tok, reference, lambda c: f" {c}'ll", CODE_POINTS)
    assert not bad, describe(bad)


def test_letters_and_numbers_encode_like_tiktoken(uncached_tok, reference, tiktoken_classes):
    """The context of the original report, for the ~160,000 code points that are not "other"
    on one side or the other (the rest are "other" for both, as the class test shows)."""
    cps = [cp for cp in CODE_POINTS if tiktoken_classes[cp] != "other" or cp in LISTED]
    bad = mismatches(uncached_tok, reference, lambda c: f"a{c}'ll 1{c}2", cps)
    assert not bad, describe(bad)


# -- regressions ------------------------------------------------------------------------

REGRESSIONS = {
    "U+323B0 CJK ext. J, before 'll (found by hypothesis)": "\U000323b0'll",
    "U+323B0 after a letter": "a\U000323b0'll 1\U000323b02",
    "U+0558 Armenian (Unicode 17)": "a\u0558'll 1\u05582",
    "U+0C5C Telugu (Unicode 17)": "a\u0c5c'll 1\u0c5c2",
    "U+A7CE, U+107BB Latin (Unicode 17)": "x\ua7ce'd \U000107bb's",
    "U+12550 cuneiform number (Unicode 18)": "1\U00012550'll",
    "Unicode 16 letters and digits stay letters and digits": "a\U00010d4a'll 1\U0001ccf0'd \U00016100x",
    "mixed with common text": "Hello \u0c5c world, 日本語 \U000323b0'll 🦙 2024!",
}


@pytest.mark.parametrize("name", REGRESSIONS)
def test_regressions(name, tok, reference):
    text = REGRESSIONS[name]
    assert tok.encode(text, disallowed_special=()) == reference.encode(text, disallowed_special=())


def test_pretokenize_puts_new_letters_in_other():
    assert pretokenize("\U000323b0'll") == ["\U000323b0'", "ll"]
    assert pretokenize("a\u0558'll") == ["a", "\u0558'", "ll"]
    assert pretokenize("x\U00010d4a'll") == ["x\U00010d4a", "'ll"]  # Unicode 16: a letter


# -- the tables themselves --------------------------------------------------------------


@pytest.mark.parametrize("name", ["FORCE_OTHER", "FORCE_LETTER", "FORCE_NUMBER"])
def test_table_is_sorted_and_non_overlapping(name):
    table = getattr(unicode_compat, name)
    assert isinstance(table, tuple) and table
    for first, last in table:
        assert 0 <= first <= last <= 0x10FFFF
        assert not (first <= 0xDFFF and last >= 0xD800), "surrogates"
    for (_, last), (first, _) in zip(table, table[1:]):
        assert last + 1 < first, "ranges overlap, touch or are out of order"


def test_tables_are_disjoint():
    ranges = sorted(FORCE_OTHER + FORCE_LETTER + FORCE_NUMBER)
    for (_, last), (first, _) in zip(ranges, ranges[1:]):
        assert last < first


def test_has_listed_char():
    assert not has_listed_char("plain ASCII") and not has_listed_char("日本語 🦙 café, Ⅻ ١٢٣")
    for first, last in FORCE_OTHER + FORCE_LETTER + FORCE_NUMBER:
        for cp in (first - 1, first, last, last + 1):
            assert has_listed_char(f"x {chr(cp)}.") == (cp in LISTED), hex(cp)
