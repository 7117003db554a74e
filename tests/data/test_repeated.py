"""Repeated random tokens: the layout the detectors rely on, and the training sampler's randomness."""

from __future__ import annotations

import pytest
import torch

from minigpt.data import induction_batch, random_tokens, repeated_tokens


@pytest.mark.parametrize("bos", [None, 0, 5])
def test_repeated_tokens_layout(bos):
    toks = repeated_tokens(3, 6, d_vocab=11, seed=0, bos=bos)
    first = int(bos is not None)
    assert toks.shape == (3, first + 12) and toks.dtype == torch.long
    assert torch.equal(toks[:, first:first + 6], toks[:, first + 6:])
    if bos is not None:
        assert (toks[:, 0] == bos).all() and (toks[:, 1:] != bos).all()
    assert toks.min() >= 0 and toks.max() < 11


def test_seed_and_generator_agree_and_differ_across_seeds():
    a = repeated_tokens(4, 10, 50, seed=3)
    b = repeated_tokens(4, 10, 50, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert not torch.equal(a, repeated_tokens(4, 10, 50, seed=4))
    gen = torch.Generator().manual_seed(0)
    assert not torch.equal(induction_batch(2, 20, 50, generator=gen), induction_batch(2, 20, 50, generator=gen))
    with pytest.raises(ValueError, match="either seed= or generator="):
        repeated_tokens(1, 2, 5, seed=0, generator=gen)


def test_random_tokens_skip_bos_and_cover_the_rest():
    toks = random_tokens((20000,), d_vocab=6, bos=2, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(toks, minlength=6)
    assert counts[2] == 0 and (counts[[0, 1, 3, 4, 5]] > 3500).all()


@pytest.mark.parametrize("bos", [None, 0])
def test_induction_batch_has_one_repeat_at_random_places(bos):
    toks, mask = induction_batch(256, 40, d_vocab=1000, seed=1, bos=bos, min_len=3, return_mask=True)
    first = int(bos is not None)
    assert toks.shape == mask.shape == (256, 40)
    if bos is not None:
        assert (toks[:, 0] == bos).all() and not mask[:, 0].any()
    starts, lengths = [], []
    for row, m in zip(toks, mask):
        idx = m.nonzero().flatten()
        assert len(idx) >= 2  # a chunk of >= 3 tokens: >= 2 predictable positions
        assert torch.equal(idx, torch.arange(idx[0], idx[-1] + 1))  # one contiguous run
        dst, length = int(idx[0]) - 1, len(idx) + 1
        # the copy equals some earlier, non-overlapping chunk
        chunk = row[dst:dst + length]
        assert any(torch.equal(row[s:s + length], chunk) for s in range(first, dst - length + 1))
        starts.append(dst)
        lengths.append(length)
    assert len(set(starts)) > 10 and len(set(lengths)) > 5  # positions and lengths vary
    assert max(lengths) <= (40 - first) // 2


def test_no_distance_between_the_copies_pays_off_much_more_than_another():
    """A head that looks a fixed distance back must not win much loss: the distance is spread evenly."""
    n_ctx, min_len = 48, 4
    toks, mask = induction_batch(3000, n_ctx, d_vocab=5000, seed=2, bos=0, min_len=min_len, return_mask=True)
    room = n_ctx - 1
    payoff = torch.zeros(n_ctx)  # predictable tokens a head looking `distance` back would get right
    for row, m in zip(toks, mask):
        idx = m.nonzero().flatten()
        dst, length = int(idx[0]) - 1, len(idx) + 1
        chunk = row[dst:dst + length]
        src = next(s for s in range(1, dst - length + 1) if torch.equal(row[s:s + length], chunk))
        payoff[dst - src] += length - 1
    share = payoff / payoff.sum()
    n_distances = room - 2 * min_len + 1
    assert share[:min_len].sum() == 0 and share[room - min_len + 1:].sum() == 0
    assert share.max() < 2.5 / n_distances, share  # a uniform spread would give 1 / n_distances each


def test_several_repeats_and_their_mask():
    toks, mask = induction_batch(200, 40, d_vocab=100_000, seed=3, bos=0, n_repeats=3, return_mask=True)
    assert mask.float().mean() > 1.5 * induction_batch(200, 40, 100_000, seed=3, bos=0, return_mask=True)[1].float().mean()
    for row, m in zip(toks.tolist(), mask):  # the mask is exactly "this bigram occurred before" (no chance repeats)
        seen, want = set(), []
        for p in range(len(row)):
            want.append(p >= 2 and (row[p - 1], row[p]) in seen)
            if p >= 1:
                seen.add((row[p - 1], row[p]))
        assert m.tolist() == want


def test_induction_batch_validates_lengths():
    with pytest.raises(ValueError, match="min_len"):
        induction_batch(1, 10, 20, min_len=8)
    assert induction_batch(2, 10, 20, min_len=5, max_len=5, seed=0).shape == (2, 10)
