"""Fixtures for the tokenizer tests: our GPT-2 tokenizer and tiktoken's, built offline.

``tiktoken.get_encoding("gpt2")`` would download OpenAI's files, so the oracle
is built here from the very files our tokenizer reads, with tiktoken's own
pre-tokenizer pattern and a byte table written independently of ours.
"""

from __future__ import annotations

import pytest

from minigpt.tokenizer import GPT2Tokenizer, find_vocab_files, get_tokenizer
from minigpt.tokenizer.vocab_files import VocabFiles, load_vocab

ENDOFTEXT = "<|endoftext|>"


def independent_byte_table() -> dict[str, int]:
    """Stand-in character -> byte, written the way tiktoken's loader writes it."""
    printable = [b for b in range(256) if chr(b).isprintable() and chr(b) != " "]
    table = {chr(b): b for b in printable}
    others = [b for b in range(256) if b not in printable]
    table.update({chr(256 + n): b for n, b in enumerate(others)})
    return table


@pytest.fixture(scope="session")
def byte_table() -> dict[str, int]:
    return independent_byte_table()


@pytest.fixture(scope="session")
def vocab_files() -> VocabFiles:
    return find_vocab_files()


@pytest.fixture(scope="session")
def vocab(vocab_files) -> tuple[dict[str, int], list[tuple[str, str]]]:
    return load_vocab(vocab_files)


@pytest.fixture(scope="session")
def tok() -> GPT2Tokenizer:
    return get_tokenizer("gpt2")


@pytest.fixture(scope="session")
def reference(vocab):
    """tiktoken's ``gpt2`` encoding, from the same files, no network."""
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken_ext.openai_public import r50k_pat_str  # the pattern tiktoken's gpt2 uses

    encoder, _ = vocab
    to_byte = independent_byte_table()
    ranks = {bytes(to_byte[c] for c in token): i for token, i in encoder.items() if token != ENDOFTEXT}
    return tiktoken.Encoding(
        name="gpt2_local", pat_str=r50k_pat_str, mergeable_ranks=ranks, special_tokens={ENDOFTEXT: 50256}
    )
