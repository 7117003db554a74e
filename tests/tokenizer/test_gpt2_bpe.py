"""GPT-2 BPE: exact parity with tiktoken's ``gpt2`` encoding, plus hand-checked cases."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigpt.tokenizer import GPT2Tokenizer, get_tokenizer
from minigpt.tokenizer.bpe import pretokenize
from minigpt.tokenizer.merges import bpe_merges, merge_fast

ENDOFTEXT = "<|endoftext|>"

CORPUS: dict[str, str] = {
    "empty": "",
    "prose": "The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of times.",
    "code": (
        'def f(x: int) -> int:\n    """Doc."""\n    return x ** 2  # square\n\n'
        'if __name__ == "__main__":\n\tprint(f(3))\n'
    ),
    "numbers": "1 12 123 1234 12345 3.14159 1,234,567.89 -42 1e-5 0x1F 2024-01-01 ½ ² Ⅻ ١٢٣ १२३ １２３",
    "contractions": "I'm you're we've they'll she'd it's don't can't y'all ''s 'tis rock'n'roll",
    "upper contractions": "IT'S I'M YOU'RE WE'VE THEY'LL SHE'D DON'T JOHN'S 'S 'T 'RE 'VE 'M 'LL 'D",
    "spaces": "a  b   c    d\n\n\ne \n f\t\tg \t h   ",
    "trailing space": "trailing spaces   ",
    "only whitespace": " \n \t\r\n\x0b\x0c  ",
    "crlf": "line one\r\nline two\r\n\r\n",
    "unicode spaces": "a\u00a0b\u2003c\u3000d\u2028e\u2029f\u0085g\u1680h\u202fi\u205fj",
    "accents": "café naïve résumé Zürich Ærøskøbing crème brûlée e\u0301 (combining)",
    "cjk": "日本語のテキストと中文文本，还有한국어 텍스트。",
    "emoji": "I ❤️ 🦙s 👍🏽 🏳️‍🌈 👨‍👩‍👧‍👦 🇫🇷 ☕",
    "arabic": "مرحبا بالعالم! هذا نص عربي.",
    "hebrew": "שלום עולם, זה טקסט בעברית.",
    "indic and thai": "नमस्ते दुनिया สวัสดีชาวโลก",
    "control characters": "a\x00b\x01c\x1b[31mred\x1b[0m\x07\x7f\x1c\x1d\x1e\x1f end",
    "invisible": "zero\u200bwidth\u200djoiner\ufeffbom\u00adsoft\u2060",
    "edges of unicode": "\ufffd\uffff\ufffe\U0010ffff\U000e0001\ue000 \U0001d400\U0001d7ce",
    "punctuation": "!!! ??? ... --- ((())) [[x]] {'a': 1} <tag/> @#$%^&* ~`|\\ «»„“”",
    "special as text": "Before <|endoftext|> after <|endoftext|><|endoftext|> <|endoftext and |>",
    "long word": "Pneumonoultramicroscopicsilicovolcanoconiosis" * 20,
    "long run": "a" * 3000 + " " * 500 + "\n" * 200 + "🙂" * 100,
}


@pytest.mark.parametrize("text", CORPUS.values(), ids=CORPUS.keys())
def test_encode_matches_tiktoken(tok, reference, text):
    expected = reference.encode_ordinary(text)
    assert tok.encode_ordinary(text) == expected
    assert tok.encode(text, disallowed_special=()) == expected
    assert tok.encode(text, allowed_special="all") == reference.encode(text, allowed_special="all")
    assert tok.decode(expected) == reference.decode(expected)


@pytest.mark.parametrize("text", [t for t in CORPUS.values() if ENDOFTEXT not in t])
def test_round_trip(tok, text):
    assert tok.decode(tok.encode(text)) == text


def test_hand_checked(tok):
    assert tok.encode("Hello world") == [15496, 995]
    assert tok.str_tokens([15496, 995]) == ["Hello", " world"]
    assert tok.encode(" Paris") == [6342] and tok.encode("Paris") == [40313]
    assert tok.id_to_token(6342) == "ĠParis" and tok.token_to_id("ĠParis") == 6342
    assert tok.encode(" grokking") == [7128, 74, 3364]
    assert tok.n_vocab == tok.vocab_size == 50257
    assert tok.eot_token == 50256 and tok.token_to_id(ENDOFTEXT) == 50256


def test_bpe_steps_teach_the_merges(tok):
    steps = tok.bpe(" grokking")
    assert [step.pair for step in steps] == [
        ("i", "n"),
        ("in", "g"),
        ("r", "o"),
        ("Ġ", "g"),
        ("k", "ing"),
        ("Ġg", "ro"),
    ]
    assert [step.rank for step in steps] == sorted(step.rank for step in steps)
    assert steps[-1].symbols == ["Ġgro", "k", "king"]
    with pytest.raises(ValueError, match="pre-tokenizes to"):
        tok.bpe("Hello world")


def test_pretokenize():
    assert pretokenize("Hello world, it's 2024!") == ["Hello", " world", ",", " it", "'s", " 2024", "!"]
    assert pretokenize("a   b\n") == ["a", "  ", " b", "\n"]  # the last space joins the word


def test_merge_ids_follow_merge_order(vocab):
    """The id of a merged token is 256 + its merge's rank: why tiktoken can rank by id."""
    encoder, merges = vocab
    assert all(encoder[a + b] == 256 + rank for rank, (a, b) in enumerate(merges))


# -- special tokens, with tiktoken's semantics ---------------------------------------
def test_special_token_refused_by_default(tok):
    with pytest.raises(ValueError, match=r"allowed_special=\{'<\|endoftext\|>'\}") as info:
        tok.encode("story one <|endoftext|> story two")
    assert "disallowed_special=()" in str(info.value)


def test_special_token_allowed_or_ordinary(tok, reference):
    text = "a<|endoftext|>b"
    assert tok.encode(text, allowed_special="all") == [64, 50256, 65]
    assert tok.encode(text, allowed_special={ENDOFTEXT}) == reference.encode(text, allowed_special={ENDOFTEXT})
    assert tok.encode(text, disallowed_special=()) == reference.encode(text, disallowed_special=())
    assert 50256 not in tok.encode(text, disallowed_special=())
    assert tok.decode([64, 50256, 65]) == text


def test_special_token_argument_errors(tok):
    with pytest.raises(ValueError, match="unknown special token"):
        tok.encode("x", allowed_special={"<|im_start|>"})  # tiktoken ignores it silently
    with pytest.raises(TypeError, match="set of strings"):
        tok.encode("x", allowed_special=ENDOFTEXT)


# -- lone surrogates: tiktoken joins valid pairs and turns lone ones into U+FFFD -------
@pytest.mark.parametrize(
    "text", ["a\ud800b", "\udc80", "x \ud83d", "\ud83d\ude00", " \ud83d\ude00\ud83d", "<|endoftext|>\udfff"]
)
def test_surrogates_like_tiktoken(tok, reference, text):
    assert tok.encode(text, allowed_special="all") == reference.encode(text, allowed_special="all")
    assert tok.encode_ordinary(text) == reference.encode_ordinary(text)
    fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    assert tok.decode(tok.encode_ordinary(text)) == fixed


def test_decode(tok, reference):
    assert tok.decode([]) == ""
    partial = tok.encode("🦙")[:1]  # a token holding part of a character
    assert tok.decode(partial) == reference.decode(partial) == "\ufffd"
    assert tok.decode_bytes(partial) == reference.decode_bytes(partial)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.decode([50257])
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.decode([-1])


def test_get_tokenizer_caches_and_rejects_unknown_names(tok):
    assert get_tokenizer("gpt2") is tok
    assert isinstance(tok, GPT2Tokenizer)
    with pytest.raises(ValueError, match="'gpt2', 'bytes'"):
        get_tokenizer("gpt4")


# -- property tests -----------------------------------------------------------------
TRICKY = st.sampled_from(list(" \t\n\r\x0b\x85\u00a0\u3000'sdtmlvrSDT1٣aé日🙂\u200d!?.<|>") + [ENDOFTEXT, "'ll", "'re"])
TEXT = st.text() | st.lists(TRICKY | st.text(max_size=3)).map("".join)
# database=None: hypothesis keeps no example folder in the working directory.
PROPERTY = settings(max_examples=1000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(TEXT)
def test_property_parity_and_round_trip(tok, reference, text):
    ids = tok.encode(text, allowed_special="all")
    assert ids == reference.encode(text, allowed_special="all")
    assert tok.encode_ordinary(text) == reference.encode_ordinary(text)
    assert tok.decode(ids) == text


@PROPERTY
@given(st.lists(st.integers(0xD800, 0xDFFF).map(chr) | st.characters()).map("".join))
def test_property_parity_with_surrogates(tok, reference, text):
    assert tok.encode_ordinary(text) == reference.encode_ordinary(text)


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(min_size=1))
def test_property_fast_merge_equals_readable_merge(tok, text):
    for piece in pretokenize(text):
        symbols = list(tok.to_standins(piece))
        readable = symbols
        for step in bpe_merges(symbols, tok.ranks):
            readable = step.symbols
        assert merge_fast(symbols, tok.ranks) == readable
