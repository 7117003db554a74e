"""Beam search: keep the ``num_beams`` most likely continuations, not just the single best token.

Greedy decoding commits to the argmax at every step. Beam search keeps ``num_beams``
partial sequences ("beams") with their total log-probability, and at every step
scores every beam × every next token, ``score[beam] + log p(token | beam)``, and
keeps the ``num_beams`` best of all ``num_beams × d_vocab`` candidates. The best
beam at the end is the answer. It finds more likely sequences than greedy, usually
(not always: greedy's own prefix can fall out of the beam).

:func:`top_candidates` is that step as a pure function. With ``d_vocab = 3`` and two
beams scored ``-1`` and ``-2``:

>>> log_probs = torch.log(torch.tensor([[[0.5, 0.3, 0.2], [0.9, 0.05, 0.05]]]))  # [batch beams d_vocab]
>>> scores, beam, token = top_candidates(log_probs, torch.tensor([[-1.0, -2.0]]), k=2)
>>> beam.tolist(), token.tolist(), [round(s, 2) for s in scores[0].tolist()]
([[0, 1]], [[0, 0]], [-1.69, -2.11])

Hand-check: beam 0 offers ``-1 + log 0.5 = -1.69`` and ``-1 + log 0.3 = -2.20``, beam 1
``-2 + log 0.9 = -2.11``. The second place goes to the beam that was behind: its next
token is so likely that it overtakes.

:func:`beam_search` follows Hugging Face ``transformers``' ``_beam_search`` (5.x) to
the token: ``2 × num_beams`` candidates per step so that beams ending in the
end-of-text token can leave while ``num_beams`` others go on; finished sequences
scored ``sum log p / new_tokens ** length_penalty``; ``early_stopping`` ``False``,
``True`` or ``"never"`` with its heuristics. With the KV cache the prompt runs once
per sequence, and each step the cache's rows follow the surviving beams.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .kv_cache import KVCache

NEG = -1.0e9  # a score no candidate reaches (Hugging Face's; -inf would make inf - inf = nan)


def top_candidates(log_probs: Tensor, beam_scores: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """The ``k`` best continuations of all beams: ``(scores, beam, token)``, each ``[batch k]``, best first.

    ``log_probs: [batch beams d_vocab]`` (this step's), ``beam_scores: [batch beams]``
    (each beam's total so far). A candidate's score is its beam's plus its token's log-prob;
    the top ``k`` is taken over ``beams × d_vocab`` at once (flattened beam-major).
    """
    batch, beams, d_vocab = log_probs.shape
    total = (beam_scores[:, :, None] + log_probs).reshape(batch, beams * d_vocab)
    scores, flat = total.topk(min(k, beams * d_vocab), dim=-1)
    return scores, flat // d_vocab, flat % d_vocab


def reorder_cache(cache: KVCache, rows: Tensor) -> None:
    """Keep the cached keys and values of the sequences ``rows: [new_batch]``, in that order.

    Row ``i`` of the cache becomes old row ``rows[i]``: each new beam carries its parent's
    past. Only the filled positions are copied; the batch may grow (one prompt → its beams).
    """
    filled = cache.pos
    if rows.numel() == cache.batch:
        if torch.equal(rows, torch.arange(cache.batch, device=rows.device)):
            return  # every beam continues itself: nothing moves
        cache.k[:, :, :, :filled] = cache.k[:, rows, :, :filled]
        cache.v[:, :, :, :filled] = cache.v[:, rows, :, :filled]
        return
    n_layers, _, n_heads, max_pos, d_head = cache.k.shape
    shape = (n_layers, rows.numel(), n_heads, max_pos, d_head)
    k, v = cache.k.new_zeros(shape), cache.v.new_zeros(shape)
    k[:, :, :, :filled] = cache.k[:, rows, :, :filled]
    v[:, :, :, :filled] = cache.v[:, rows, :, :filled]
    cache.k, cache.v, cache.batch = k, v, rows.numel()


def _gather(x: Tensor, index: Tensor) -> Tensor:
    """``x[b, index[b, j]]`` for ``x: [batch beams ...]``, ``index: [batch k]`` → ``[batch k ...]``."""
    return x[torch.arange(x.shape[0], device=x.device)[:, None], index]


@torch.inference_mode()
def beam_search(
    model,
    tokens: Tensor,
    max_new_tokens: int,
    num_beams: int,
    *,
    eos_token_id: int | None = None,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
    use_kv_cache: bool = True,
) -> Tensor:
    """The most likely continuation of each prompt ``tokens: [batch pos]`` found with ``num_beams`` beams.

    Returns ``[batch pos + new]``: ``new = max_new_tokens`` unless every best sequence ended
    with ``eos_token_id`` sooner; a shorter one is padded with ``eos_token_id`` after it.
    Without an end-of-text token every finished sequence has the same length, so
    ``length_penalty`` and ``early_stopping`` change nothing and the answer is the beam
    with the largest total log-prob.
    """
    if num_beams < 1:
        raise ValueError(f"num_beams must be a positive int, got {num_beams}")
    if early_stopping not in (True, False, "never"):
        raise ValueError(f"early_stopping must be True, False or 'never', got {early_stopping!r}")
    if 2 * num_beams > model.cfg.d_vocab:
        raise ValueError(f"num_beams={num_beams} needs at least 2 * num_beams tokens in the vocabulary, "
                         f"the model has d_vocab={model.cfg.d_vocab}")
    batch, prompt_len = tokens.shape
    max_len = prompt_len + max_new_tokens
    device = tokens.device
    keep = 2 * num_beams  # candidates per step: enough for num_beams to go on when some end
    first = torch.arange(keep, device=device) < num_beams  # only these may finish (Hugging Face's rule)
    pad = eos_token_id if eos_token_id is not None else 0

    cache = KVCache.for_model(model, batch, max_pos=max_len) if use_kv_cache else None
    running = tokens[:, None, :]  # [batch beams pos]: one beam per prompt to start with
    running_scores = torch.zeros(batch, 1, device=device)
    done_tokens = torch.full((batch, num_beams, max_len), pad, dtype=tokens.dtype, device=device)
    done_scores = torch.full((batch, num_beams), NEG, device=device)
    done_len = torch.zeros(batch, num_beams, dtype=torch.long, device=device)  # new tokens of each
    done = torch.zeros(batch, num_beams, dtype=torch.bool, device=device)
    improvable = torch.ones(batch, 1, dtype=torch.bool, device=device)
    step_input = tokens

    for cur_len in range(prompt_len, max_len):
        beams = running.shape[1]
        flat = step_input if cache is not None else running.reshape(batch * beams, cur_len)
        logits = model(flat, kv_cache=cache)[:, -1].float()
        log_probs = logits.log_softmax(dim=-1).reshape(batch, beams, -1)
        scores, parent, token = top_candidates(log_probs, running_scores, keep)  # [batch keep]
        candidates = torch.cat([_gather(running, parent), token[..., None]], dim=-1)  # [batch keep cur_len+1]
        ends = torch.full_like(token, cur_len + 1 >= max_len, dtype=torch.bool)
        if eos_token_id is not None:
            ends |= token == eos_token_id

        # the num_beams best candidates that go on
        alive_scores = scores + ends.float() * NEG
        best = alive_scores.topk(num_beams, dim=-1).indices
        running, running_scores = _gather(candidates, best), _gather(alive_scores, best)

        # the finished ones, length-penalised, enter the pool of num_beams best finished sequences
        new = cur_len + 1 - prompt_len
        finished_scores = scores / new**length_penalty
        full = done.all(dim=-1, keepdim=True) & (early_stopping is True)
        just_done = ends & first
        for shut in (full, ~improvable, ~just_done):  # -1e9 each, as Hugging Face adds them
            finished_scores = finished_scores + shut.float() * NEG
        padded = torch.nn.functional.pad(candidates, (0, max_len - cur_len - 1), value=pad)
        pool = torch.cat([done_scores, finished_scores], dim=1).topk(num_beams, dim=-1).indices
        done_tokens = _gather(torch.cat([done_tokens, padded], dim=1), pool)
        done_scores = _gather(torch.cat([done_scores, finished_scores], dim=1), pool)
        done_len = _gather(torch.cat([done_len, torch.full_like(token, new)], dim=1), pool)
        done = _gather(torch.cat([done, just_done], dim=1), pool)

        # can a running beam still beat the worst finished one?
        hoped_len = max_len - prompt_len if early_stopping == "never" and length_penalty > 0 else new
        best_hope = running_scores[:, :1] / hoped_len**length_penalty
        worst_done = torch.where(done, done_scores.min(dim=1, keepdim=True).values, NEG)
        improvable &= (best_hope > worst_done).any(dim=-1, keepdim=True)
        if (not bool(improvable.any()) or (bool(done.all()) and early_stopping is True)
                or bool(ends.all()) or cur_len + 1 == max_len):
            break
        if cache is not None:
            rows = (torch.arange(batch, device=device)[:, None] * beams + _gather(parent, best)).reshape(-1)
            reorder_cache(cache, rows)
            step_input = running[:, :, -1].reshape(batch * num_beams, 1)

    length = prompt_len + int(done_len[:, 0].max())
    return done_tokens[:, 0, :length]
