"""The word-level tokenizer of the chapter-5 models: round trips, errors, and loading with a checkpoint."""

import pytest

from minigpt import GPT, GPTConfig
from minigpt.checkpoints import load_checkpoint, save_checkpoint
from minigpt.tokenizer import WordTokenizer, get_tokenizer

WORDS = ["<bos>", "When", "Mary", "and", "John", "went", "to", "the", "store", ",", "gave", "a", "drink", "."]


def test_round_trip_and_punctuation():
    tok = WordTokenizer(WORDS)
    text = "When Mary and John went to the store, John gave a drink to Mary."
    ids = tok.encode(text)
    assert len(ids) == 16 and tok.decode(ids) == text
    assert tok.eot_token == 0 and tok.n_vocab == len(WORDS)


def test_unknown_word_and_bad_vocabulary_are_clear_errors():
    tok = WordTokenizer(WORDS)
    with pytest.raises(ValueError, match="'Alice' is not in this model's vocabulary"):
        tok.encode("Mary and Alice")
    with pytest.raises(ValueError, match="twice"):
        WordTokenizer(["a", "b", "a"])
    with pytest.raises(ValueError, match="one word"):
        WordTokenizer(["two words"])
    with pytest.raises(ValueError, match="outside this vocabulary"):
        tok.decode([99])


def test_checkpoint_carries_its_word_list(tmp_path):
    tok = WordTokenizer(WORDS)
    model = GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2, d_vocab=len(WORDS), n_ctx=16, tokenizer="words",
                          bos_token_id=0, seed=0))
    with pytest.raises(ValueError, match="needs its word list"):
        model.to_tokens("Mary")
    save_checkpoint(tmp_path, model)
    tok.save(tmp_path / "vocab.json")
    loaded = load_checkpoint(tmp_path)
    assert loaded.to_str_tokens("John gave Mary a drink.") == ["<bos>", "John", "gave", "Mary", "a", "drink", "."]
    assert get_tokenizer("words", path=tmp_path).words == WORDS
