"""The claims chapter 1's prose makes that no cell beside them prints, asserted on the same computation.

Each test repeats the chapter's own calls (GPT-2's tokenizer from the files minigpt finds offline,
``GPTConfig.from_name("gpt2")``, the grader's registered cases) and is marked
``pytest.mark.claim(ID)`` for the ``<!-- claim: ID -->`` tag after the sentence it checks
(tests/chapters/test_chapter_form.py holds tags and tests together).
"""

from __future__ import annotations

import pytest

from minigpt import GPTConfig, get_tokenizer
from minigpt.data.corpus import stdlib_corpus
from minigpt.grading import get_exercise
from minigpt.tokenizer import find_vocab_files
from minigpt.tokenizer.vocab_files import load_vocab
from minigpt.train.stdlib import BOS, DATA

# the chapter's texts: the sentence of section 1, and the words of its bpe_merge_word cell
TEXTS = ["The Eiffel Tower is in Paris. def tokenize(text): return text.split()  # 1234567", " Paris", "Paris",
         " grokking", " transformer", " tokenization", " 2024", "        return x",
         "    def __init__(self, name):\n        self.name = name\n"]


@pytest.fixture(scope="module")
def tok():
    return get_tokenizer("gpt2")


@pytest.mark.claim("ch01.tokenizer_matches_openai")
def test_tokenizer_gives_openais_ids(tok):
    """The oracle: Hugging Face's GPT-2 tokenizer, built from the very files minigpt reads (no network).
    tests/tokenizer/ holds the full comparison with tiktoken, OpenAI's own, where it is installed."""
    transformers = pytest.importorskip("transformers")
    encoder, merges = load_vocab(find_vocab_files())
    oracle = transformers.GPT2Tokenizer(vocab=encoder, merges=[tuple(pair) for pair in merges])
    for text in TEXTS:
        assert tok.encode(text) == oracle.encode(text), text


@pytest.mark.claim("ch01.ids_follow_merge_order")
def test_merged_tokens_ids_are_256_plus_their_merge_rank(tok):
    assert len(tok.ranks) == 50_000 and tok.n_vocab == 50_257
    for (left, right), rank in tok.ranks.items():
        assert tok.token_to_id(left + right) == 256 + rank, (left, right, rank)
    assert max(tok.token_to_id(c) for c in map(chr, range(33, 127))) < 256  # single bytes come first


@pytest.mark.claim("ch01.no_merge_of_two_spaces")
def test_gpt2_has_no_merge_of_two_spaces(tok):
    assert ("Ġ", "Ġ") not in tok.ranks
    assert [tok.id_to_token(i) for i in tok.encode("        return x")] == ["Ġ"] * 7 + ["Ġreturn", "Ġx"]


@pytest.mark.claim("ch01.gpt2_small_shape")
def test_gpt2_small_shape():
    cfg = GPTConfig.from_name("gpt2")
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_mlp, cfg.d_vocab, cfg.n_ctx) == (
        12, 768, 12, 64, 3072, 50_257, 1024)


@pytest.mark.claim("ch01.gpt2_small_context")
def test_gpt2_small_reads_1024_tokens():
    assert GPTConfig.from_name("gpt2").n_ctx == 1024


@pytest.mark.claim("ch01.bos_byte_absent_from_corpus")
def test_the_bos_byte_never_occurs_in_the_training_text():
    """The chapter's corpus (the recipe's: 2 MB of the stdlib, 5% held out, seed 0) holds no byte 0."""
    corpus = stdlib_corpus(**DATA, seed=0)
    assert BOS == 0 and len(corpus.train) + len(corpus.val) >= 2_000_000 * 0.99
    assert not (corpus.train == BOS).any() and not (corpus.val == BOS).any()


@pytest.mark.claim("ch01.sampler_check_draws_thousands")
def test_sample_next_token_check_draws_thousands_of_samples():
    cases = get_exercise("ch01.sample_next_token").make_cases()
    draws = [case["logits"].shape[0] for case in cases]
    assert min(draws) >= 4000, draws
