"""The byte tokenizer of the chapters' toy models, and the bytes <-> unicode table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigpt.tokenizer import ByteTokenizer, get_tokenizer
from minigpt.tokenizer.bytes_unicode import bytes_to_unicode, unicode_to_bytes


def test_byte_tokenizer_hand_checked():
    tok = get_tokenizer("bytes")
    assert isinstance(tok, ByteTokenizer) and tok.n_vocab == tok.vocab_size == 256
    assert tok.encode("hé!") == [104, 0xC3, 0xA9, 33]
    assert tok.str_tokens([104, 0xC3, 0xA9, 33]) == ["h", "\ufffd", "\ufffd", "!"]
    assert tok.decode([0xC3]) == "\ufffd"
    assert tok.encode("\ud83d\ude00 \udc80") == list("😀 \ufffd".encode())  # like GPT2Tokenizer
    with pytest.raises(ValueError, match="0..255"):
        tok.decode([256])
    with pytest.raises(ValueError, match="no vocabulary files"):
        get_tokenizer("bytes", path="somewhere")


@settings(max_examples=300, deadline=None, database=None)
@given(st.text())
def test_byte_tokenizer_round_trip(text):
    tok = ByteTokenizer()
    ids = tok.encode(text)
    assert all(0 <= i < 256 for i in ids)
    assert tok.decode(ids) == text


def test_bytes_unicode_table(byte_table):
    table = bytes_to_unicode()
    assert (table[ord("A")], table[32], table[10], table[0], table[173]) == ("A", "Ġ", "Ċ", "Ā", "Ń")
    assert {c: b for b, c in table.items()} == unicode_to_bytes() == byte_table
    assert all(c.isprintable() and not c.isspace() for c in table.values())
