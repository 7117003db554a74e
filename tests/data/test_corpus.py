"""The standard library's source as a corpus: offline, seeded, split, sampled in windows."""

from __future__ import annotations

import pytest
import torch

from minigpt.data import fixed_windows, random_windows, stdlib_corpus, stdlib_text


@pytest.fixture(scope="module")
def corpus():
    return stdlib_corpus(n_bytes=200_000, seed=0)


def test_stdlib_text_is_seeded_python_source():
    a, b, c = stdlib_text(50_000, seed=0), stdlib_text(50_000, seed=0), stdlib_text(50_000, seed=1)
    assert a == b and a != c
    assert len(a) >= 50_000 and "def " in a and "import " in a


def test_the_demo_uses_the_same_function():
    import minigpt.demo

    assert minigpt.demo.stdlib_text is stdlib_text


def test_bytes_corpus_splits_without_overlap(corpus):
    text = stdlib_text(200_000, seed=0)
    ids = torch.cat([corpus.train, corpus.val])
    assert ids.tolist() == list(text.encode("utf-8"))  # the split loses and repeats nothing
    assert corpus.d_vocab == 256 and int(ids.max()) < 256
    assert len(corpus.val) == int(len(ids) * 0.1)


def test_sampler_draws_seeded_windows_of_the_training_split(corpus):
    sample = corpus.sampler(n_ctx=40)
    a = sample(torch.Generator().manual_seed(3), 6)
    b = sample(torch.Generator().manual_seed(3), 6)
    assert a.shape == (6, 40) and a.dtype == torch.long and torch.equal(a, b)
    train = corpus.train.tolist()
    for row in a.tolist():  # each row is a contiguous slice of the training tokens
        start = next(i for i in range(len(train)) if train[i:i + 40] == row)
        assert start <= len(train) - 40


def test_windows_by_hand():
    data = torch.arange(10)
    assert fixed_windows(data, 4, 3).tolist() == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    w = random_windows(data, 4, torch.Generator().manual_seed(0), 100)
    assert torch.equal(w - w[:, :1], torch.arange(4).expand(100, 4)) and int(w.max()) <= 9
    assert set(w[:, 0].tolist()) == set(range(7))  # every start that fits, and only those
    with pytest.raises(ValueError, match="fewer than one window"):
        random_windows(data, 11, torch.Generator(), 1)


def test_eval_batch_is_fixed_and_from_validation(corpus):
    assert torch.equal(corpus.eval_batch(32, n=4), corpus.eval_batch(32, n=4))
    assert corpus.eval_batch(32, n=4)[0].tolist() == corpus.val[:32].tolist()
    with pytest.raises(ValueError, match="split"):
        corpus.sampler(8, split="test")


def test_gpt2_tokens():
    corpus = stdlib_corpus(n_bytes=20_000, tokenizer="gpt2")
    assert corpus.d_vocab == 50257 and corpus.tokenizer.decode(corpus.train[:50].tolist()) in stdlib_text(20_000)
