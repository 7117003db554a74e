"""The tiled kernel builds its masks per tile, and they are the tiles of the full mask."""

from __future__ import annotations

import pytest
import torch

import minigpt.attention.masks as masks
from minigpt.attention import naive_attention
from minigpt.attention.masks import causal_mask, combined_mask
from minigpt.attention.online import online_softmax_attention


@pytest.mark.parametrize("query_pos,key_pos", [(7, 7), (3, 10), (1, 5)])
def test_a_tile_of_the_causal_mask_is_that_slice_of_the_whole(query_pos, key_pos):
    whole = causal_mask(query_pos, key_pos)
    for q0 in range(query_pos):
        for k0 in range(key_pos):
            for q1, k1 in ((q0 + 1, k0 + 1), (query_pos, key_pos), (min(q0 + 2, query_pos), min(k0 + 3, key_pos))):
                tile = causal_mask(query_pos, key_pos, queries=slice(q0, q1), keys=slice(k0, k1))
                assert torch.equal(tile, whole[q0:q1, k0:k1])


@pytest.mark.parametrize("shape", [(9,), (1, 9), (4, 9), (2, 1, 1, 9), (2, 3, 4, 9), (4, 1)], ids=str)
def test_a_tile_of_a_broadcastable_user_mask(shape):
    user = torch.rand(shape, generator=torch.Generator().manual_seed(0)) > 0.4
    whole = combined_mask(4, 9, True, user)
    tile = combined_mask(4, 9, True, user, queries=slice(1, 3), keys=slice(2, 7))
    torch.testing.assert_close(tile.expand(whole[..., 1:3, 2:7].shape), whole[..., 1:3, 2:7])


def qkv(query_pos, key_pos, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(2, 3, query_pos, 8, generator=g)
    k, v = (torch.randn(2, 3, key_pos, 8, generator=g) for _ in range(2))
    return q, k, v


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
@pytest.mark.parametrize("shape", [None, (11,), (2, 1, 1, 11), (5, 11), (2, 3, 5, 11), (5, 1)], ids=str)
def test_small_tiles_and_broadcast_masks_equal_naive(causal, shape):
    """Tiles of 2 queries x 3 keys, 5 queries after 6 cached keys: every tile case at once."""
    q, k, v = qkv(5, 11)
    mask = None
    if shape is not None:
        mask = torch.rand(shape, generator=torch.Generator().manual_seed(1)) > 0.3
        mask[..., 0] = True  # each query keeps a key
    out = online_softmax_attention(q, k, v, causal=causal, attn_mask=mask, block_q=2, block_k=3)
    torch.testing.assert_close(out, naive_attention(q, k, v, causal=causal, attn_mask=mask), atol=2e-5, rtol=1e-4)


def test_no_mask_larger_than_a_tile_is_ever_built(monkeypatch):
    built = []
    whole = masks.causal_mask

    def recording(*args, **kwargs):
        mask = whole(*args, **kwargs)
        built.append(tuple(mask.shape))
        return mask

    monkeypatch.setattr(masks, "causal_mask", recording)
    q, k, v = qkv(40, 50)
    user = torch.ones(40, 50, dtype=torch.bool)
    online_softmax_attention(q, k, v, causal=True, attn_mask=user, block_q=8, block_k=16)
    assert built, "the causal tiles on the diagonal need a mask"
    assert max(shape[0] for shape in built) <= 8 and max(shape[1] for shape in built) <= 16
    # tiles wholly below the diagonal build none: 5 query blocks, at most 2 key blocks straddle each
    assert len(built) <= 2 * 5


def test_causal_needs_as_many_keys_as_queries():
    q, k, v = qkv(4, 2)
    with pytest.raises(ValueError, match="exceeds"):
        online_softmax_attention(q, k, v, causal=True)
