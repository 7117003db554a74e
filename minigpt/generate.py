"""Sampling from a model: greedy, temperature, top-k, top-p, with a KV cache.

Each sampler is a small pure function on ``logits: [batch d_vocab]``:

>>> logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
>>> top_k_filter(logits, 2)
tensor([[2., 1., -inf, -inf]])
>>> top_p_filter(logits, 0.5)          # token 0 alone has p=0.64 >= 0.5
tensor([[2., -inf, -inf, -inf]])
"""

from __future__ import annotations

import torch
from torch import Tensor

from .kv_cache import KVCache
from .validation import check_tokens


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Keep the ``k`` largest logits of each row, set the rest to ``-inf``."""
    if k <= 0:
        raise ValueError(f"top_k must be a positive int, got {k}")
    k = min(k, logits.shape[-1])
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Nucleus filtering: keep the smallest set of tokens whose probabilities sum to ``>= p``."""
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {p}")
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.float().softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs  # probability of the tokens ranked above
    drop_sorted = mass_before >= p  # the top token always stays (its mass_before is 0)
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def sample_next_token(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``logits: [batch d_vocab]`` → ``[batch]`` token ids. ``temperature=0`` is greedy."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)


@torch.inference_mode()
def generate(
    model,
    tokens,
    max_new_tokens: int = 20,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    use_kv_cache: bool = True,
    seed: int | None = None,
    stop_at_eos: bool = True,
    eos_token_id: int | None = None,
    verbose: bool = False,
) -> Tensor:
    """Continue ``tokens: [batch pos]`` (equal-length prompts) by ``max_new_tokens``.

    ``temperature=0`` (the default) is greedy decoding; above 0 it samples, after
    ``top_k`` and ``top_p`` filtering, reproducibly for a given ``seed``.

    Returns ``[batch pos + new]``. A sequence that produced the end-of-text
    token is padded with it afterwards; generation stops when all have.
    With the same ``seed`` the samples are the same, with or without the cache.
    """
    if isinstance(tokens, str):
        tokens = model.to_tokens(tokens)
    tokens = check_tokens(tokens, model.cfg, device=model.device)
    batch, prompt_len = tokens.shape
    total = prompt_len + max_new_tokens
    if total > model.cfg.n_ctx:
        raise ValueError(
            f"prompt ({prompt_len}) + max_new_tokens ({max_new_tokens}) = {total} exceeds the "
            f"model's context n_ctx={model.cfg.n_ctx}"
        )
    eos = eos_token_id if eos_token_id is not None else model.cfg.eos_token_id
    generator = None
    if seed is not None:
        generator = torch.Generator(device=model.device).manual_seed(seed)
    cache = KVCache.for_model(model, batch, max_pos=total) if use_kv_cache else None
    finished = torch.zeros(batch, dtype=torch.bool, device=model.device)
    out = tokens
    step_input = tokens
    steps = range(max_new_tokens)
    if verbose:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="generating", unit="tok")
    for _ in steps:
        logits = model(step_input if use_kv_cache else out, kv_cache=cache)[:, -1]
        next_tok = sample_next_token(logits, temperature, top_k, top_p, generator)
        if eos is not None and stop_at_eos:
            next_tok = torch.where(finished, torch.full_like(next_tok, eos), next_tok)
            finished |= next_tok == eos
        out = torch.cat([out, next_tok[:, None]], dim=1)
        step_input = next_tok[:, None]
        if eos is not None and stop_at_eos and bool(finished.all()):
            break
    return out
