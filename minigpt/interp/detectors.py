"""Head detectors: score every attention head by where it looks.

A head's *score* for a kind of behaviour is its mean attention to the key
position that behaviour picks out (as in TransformerLens and ARENA):

========================  =========================================  ======================
kind                      query ``q`` attends to key                 which queries
========================  =========================================  ======================
``"previous_token"``      ``q - 1``                                  all but the first
``"current_token"``       ``q``                                      all
``"first_token"``         ``0`` (the BOS token, an attention sink)   all
``"duplicate_token"``     ``q - seq_len`` (the same token, earlier)  the second copy
``"induction"``           ``q - seq_len + 1`` (the token after it)   the second copy
========================  =========================================  ======================

``duplicate_token`` and ``induction`` need repeated sequences whose last
``2 * seq_len`` positions are a chunk and its copy
(:func:`minigpt.data.repeated_tokens`, with or without a BOS token in front).
A perfect head scores 1; a head that spreads its attention evenly scores about
``1 / pos``.

The score functions take patterns ``[..., batch, n_heads, query_pos, key_pos]``
and return ``[..., n_heads]`` (the mean over the batch and the queries), so
the stacked patterns of a whole model, ``[n_layers, batch, n_heads, q, k]``,
give the usual ``[n_layers, n_heads]`` table:

>>> p = torch.eye(4).roll(-1, dims=1).tril()          # [q k]: q attends to q-1 (q=0 to nothing)
>>> p[0, 0] = 1.0
>>> previous_token_score(p[None, None])               # [batch=1 n_heads=1 q k] -> [n_heads]
tensor([1.])

:func:`head_scores` runs a model and does it all: ``head_scores(model, "induction")``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..data.repeated import repeated_tokens

__all__ = [
    "KINDS", "attention_patterns", "current_token_score", "duplicate_token_score", "first_token_score",
    "head_scores", "induction_score", "previous_token_score", "stripe_score",
]


def _check_pattern(pattern: Tensor, what: str) -> None:
    if pattern.ndim < 4 or pattern.shape[-1] != pattern.shape[-2]:
        raise ValueError(
            f"{what}: expected patterns [..., batch, n_heads, query_pos, key_pos] with query_pos == key_pos, "
            f"got shape {tuple(pattern.shape)}")


def stripe_score(pattern: Tensor, offset: int, first_query: int = 0) -> Tensor:
    """Mean attention from query ``q`` to key ``q - offset``, over queries ``q >= first_query`` and the batch.

    ``pattern: [..., batch, n_heads, query_pos, key_pos]`` → ``[..., n_heads]``.
    Queries whose key ``q - offset`` would be negative are skipped.
    """
    _check_pattern(pattern, "stripe_score")
    pos = pattern.shape[-1]
    first_query = max(first_query, offset)
    if not 0 <= offset < pos or first_query >= pos:
        raise ValueError(f"no query has a key at offset {offset} from query {first_query} in {pos} positions")
    stripe = pattern.diagonal(offset=-offset, dim1=-2, dim2=-1)  # [..., batch, n_heads, pos - offset]: p[q, q-offset]
    stripe = stripe[..., first_query - offset:]
    return stripe.float().mean(dim=(-3, -1))  # mean over the batch and the queries


def previous_token_score(pattern: Tensor) -> Tensor:
    """Mean attention to the previous token (``q → q - 1``, ``q >= 1``). ``[..., batch, h, q, k] → [..., h]``."""
    return stripe_score(pattern, 1)


def current_token_score(pattern: Tensor) -> Tensor:
    """Mean attention to the query's own position. ``[..., batch, h, q, k] → [..., h]``."""
    return stripe_score(pattern, 0)


def first_token_score(pattern: Tensor) -> Tensor:
    """Mean attention to position 0 (the BOS token), over every query. ``[..., batch, h, q, k] → [..., h]``."""
    _check_pattern(pattern, "first_token_score")
    return pattern[..., :, 0].float().mean(dim=(-3, -1))


def _seq_len(pattern: Tensor, seq_len: int | None) -> int:
    pos = pattern.shape[-1]
    seq_len = pos // 2 if seq_len is None else seq_len
    if not 1 <= seq_len <= pos // 2:
        raise ValueError(f"seq_len={seq_len}: repeated sequences of {pos} positions hold a copy of at most {pos // 2}")
    return seq_len


def duplicate_token_score(pattern: Tensor, seq_len: int | None = None) -> Tensor:
    """Mean attention from each second-copy position ``q`` to ``q - seq_len`` (the same token, earlier).

    The last ``2 * seq_len`` positions must be a chunk and its copy; ``seq_len``
    defaults to ``pos // 2`` (right with or without one BOS token in front).
    """
    _check_pattern(pattern, "duplicate_token_score")
    seq_len = _seq_len(pattern, seq_len)
    return stripe_score(pattern, seq_len, first_query=pattern.shape[-1] - seq_len)


def induction_score(pattern: Tensor, seq_len: int | None = None) -> Tensor:
    """Mean attention from each second-copy position ``q`` to ``q - seq_len + 1`` (the token after the earlier copy).

    The last ``2 * seq_len`` positions must be a chunk and its copy; ``seq_len``
    defaults to ``pos // 2``. ``[..., batch, n_heads, q, k] → [..., n_heads]``.
    """
    _check_pattern(pattern, "induction_score")
    seq_len = _seq_len(pattern, seq_len)
    return stripe_score(pattern, seq_len - 1, first_query=pattern.shape[-1] - seq_len)


KINDS = {
    "previous_token": lambda p, seq_len: previous_token_score(p),
    "current_token": lambda p, seq_len: current_token_score(p),
    "first_token": lambda p, seq_len: first_token_score(p),
    "duplicate_token": duplicate_token_score,
    "induction": induction_score,
}
_ALIASES = {"previous": "previous_token", "prev": "previous_token", "prev_token": "previous_token",
            "current": "current_token", "first": "first_token", "bos": "first_token",
            "duplicate": "duplicate_token"}


def _kind(kind: str) -> str:
    kind = kind.removesuffix("_head")  # TransformerLens's names: "previous_token_head", "induction_head", ...
    kind = _ALIASES.get(kind, kind)
    if kind not in KINDS:
        raise ValueError(f"unknown head kind {kind!r}; choose one of {sorted(KINDS)}")
    return kind


@torch.no_grad()
def attention_patterns(model, tokens: Tensor) -> Tensor:
    """Every head's pattern on ``tokens [batch pos]``: ``[n_layers, batch, n_heads, query_pos, key_pos]``.

    Runs the model once, caching only the patterns (and stopping before the unembedding).
    """
    _, cache = model.run_with_cache(tokens, names_filter=lambda name: name.endswith("attn.hook_pattern"),
                                    return_type=None)
    return cache.stack("pattern")


def default_bos(model) -> int | None:
    """The BOS token id a model was trained with, if its config records one (``cfg.bos_token_id``)."""
    return model.cfg.bos_token_id


def head_scores(
    model,
    kind: str,
    tokens: Tensor | None = None,
    *,
    seq_len: int | None = None,
    batch: int = 16,
    seed: int = 0,
    bos: int | None | str = "auto",
) -> Tensor:
    """Score every head of ``model`` for ``kind`` (see the table above): ``[n_layers, n_heads]``.

    Without ``tokens`` it builds ``batch`` repeated random sequences
    (:func:`minigpt.data.repeated_tokens`) of ``seq_len`` tokens twice
    (default: as long as fits in ``n_ctx``, at most 50), with the model's BOS
    token in front when its config records one (``bos="auto"``) or ``bos``
    when given as an id (``None``: no BOS). With ``tokens`` (``[batch pos]``),
    ``seq_len`` defaults to ``pos // 2``.
    """
    kind = _kind(kind)
    if tokens is None:
        if bos == "auto":
            bos = default_bos(model)
        room = model.cfg.n_ctx - (bos is not None)
        seq_len = min(50, room // 2) if seq_len is None else seq_len
        tokens = repeated_tokens(batch, seq_len, model.cfg.d_vocab, seed=seed, bos=bos, device=model.device)
    pattern = attention_patterns(model, tokens)
    return KINDS[kind](pattern, seq_len)
