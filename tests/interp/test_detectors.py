"""Head detectors: planted heads score 1, and the scores equal a direct loop over positions."""

from __future__ import annotations

import pytest
import torch

from minigpt import GPT, GPTConfig
from minigpt.data import repeated_tokens
from minigpt.interp import (attention_patterns, duplicate_token_score, first_token_score, head_scores,
                            induction_score, previous_token_score)
from tests.interp.planted_heads import SEQ_LEN, planted_model, planted_tokens  # noqa: F401, F811  (fixtures)


def test_planted_heads_are_found(planted_model, planted_tokens):
    expected = {"previous_token": (0, 0), "duplicate_token": (0, 1), "induction": (1, 0)}
    for kind, (layer, head) in expected.items():
        scores = head_scores(planted_model, kind, planted_tokens)
        assert scores.shape == (2, 2)
        assert scores[layer, head] > 0.999, (kind, scores)
        others = scores.clone()
        others[layer, head] = 0
        assert others.max() < 0.2, (kind, scores)


def _direct(pattern, pairs):
    """Mean of pattern[b, h, q, k] over the batch and the (q, k) pairs, per head, with plain loops."""
    batch, n_heads = pattern.shape[:2]
    out = torch.zeros(n_heads)
    for h in range(n_heads):
        out[h] = sum(pattern[b, h, q, k] for b in range(batch) for q, k in pairs) / (batch * len(pairs))
    return out


@pytest.mark.parametrize("bos", [None, 0])
def test_scores_equal_a_direct_computation(bos):
    model = GPT(GPTConfig(n_layers=2, d_model=32, n_heads=4, d_vocab=30, n_ctx=24, seed=1)).eval()
    seq_len = 9
    toks = repeated_tokens(3, seq_len, 30, seed=2, bos=bos)
    pos = toks.shape[1]
    patterns = attention_patterns(model, toks)
    assert patterns.shape == (2, 3, 4, pos, pos)
    torch.testing.assert_close(patterns.sum(-1), torch.ones(2, 3, 4, pos))
    second = range(pos - seq_len, pos)
    for layer in range(2):
        p = patterns[layer]
        torch.testing.assert_close(previous_token_score(p), _direct(p, [(q, q - 1) for q in range(1, pos)]))
        torch.testing.assert_close(first_token_score(p), _direct(p, [(q, 0) for q in range(pos)]))
        torch.testing.assert_close(duplicate_token_score(p, seq_len), _direct(p, [(q, q - seq_len) for q in second]))
        torch.testing.assert_close(induction_score(p), _direct(p, [(q, q - seq_len + 1) for q in second]))
    torch.testing.assert_close(head_scores(model, "induction_head", toks), induction_score(patterns))


def test_head_scores_builds_repeated_tokens_itself(planted_model):
    # with no tokens: random repeated sequences; tokens may repeat within a chunk, so the planted
    # heads score a little below 1 but still stand out
    scores = head_scores(planted_model, "prev", seq_len=SEQ_LEN, bos=0, batch=8)
    assert scores[0, 0] > 0.99 and scores[0, 1] < 0.5


def test_errors_say_what_was_expected():
    with pytest.raises(ValueError, match=r"\[..., batch, n_heads, query_pos, key_pos\]"):
        induction_score(torch.ones(3, 5, 5))
    with pytest.raises(ValueError, match="seq_len"):
        induction_score(torch.ones(1, 1, 6, 6), seq_len=4)
    with pytest.raises(ValueError, match="unknown head kind"):
        head_scores(None, "inductive")
