"""Sampling from a model: greedy, temperature, top-k, top-p, beam search, with a KV cache.

Each sampler is a small pure function on ``logits: [batch d_vocab]``:

>>> logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
>>> top_k_filter(logits, 2)
tensor([[2., 1., -inf, -inf]])
>>> top_p_filter(logits, 0.5)          # token 0 alone has p=0.64 >= 0.5
tensor([[2., -inf, -inf, -inf]])
"""

from __future__ import annotations

import weakref

import torch
from torch import Tensor

from .beam_search import beam_search
from .kv_cache import KVCache, StaticKVCache, compute_dtype
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


def decode_step(model, token: Tensor, cache: StaticKVCache) -> Tensor:
    """One token per sequence through the model with a static cache: ``[batch 1]`` → logits ``[batch d_vocab]``."""
    return model(token, kv_cache=cache)[:, -1]


_COMPILED_STEPS: dict[str, object] = {}
_STATIC_CACHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def reusable_static_cache(model, batch: int) -> StaticKVCache:
    """An ``n_ctx``-sized static cache kept per model and reset between calls.

    The compiled step (and, on CUDA, its CUDA graph) then sees the same buffers at the
    same addresses on every call, so nothing is compiled or recorded twice. The cache
    lives as long as the model does.
    """
    p = next(model.parameters())
    cache = _STATIC_CACHES.get(model)
    if (cache is None or cache.batch != batch or cache.max_pos != model.cfg.n_ctx
            or cache.k[0].dtype != compute_dtype(p) or cache.k[0].device != p.device):
        cache = _STATIC_CACHES[model] = StaticKVCache.for_model(model, batch, max_pos=model.cfg.n_ctx)
    else:
        cache.reset()
    return cache


def compiled_decode_step(device_type: str):
    """:func:`decode_step` under ``torch.compile(fullgraph=True)``, made once per process and device type.

    Its shapes never change and the position lives in a tensor, so it compiles once
    per model and batch size. On CUDA it also records a CUDA graph ("reduce-overhead"):
    a decode step is a few hundred tiny kernels, and launching them costs more than running them.
    """
    mode = "reduce-overhead" if device_type == "cuda" else "default"
    if mode not in _COMPILED_STEPS:
        _COMPILED_STEPS[mode] = torch.compile(decode_step, fullgraph=True, dynamic=False, mode=mode)
    return _COMPILED_STEPS[mode]


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
    static_cache: bool = False,
    compile: bool = False,
    do_sample: bool | None = None,
    num_beams: int = 1,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
) -> Tensor:
    """Continue ``tokens: [batch pos]`` (equal-length prompts) by ``max_new_tokens``.

    ``temperature=0`` (the default) is greedy decoding; above 0 it samples, after
    ``top_k`` and ``top_p`` filtering, reproducibly for a given ``seed``.

    Returns ``[batch pos + new]``. A sequence that produced the end-of-text
    token is padded with it afterwards; generation stops when all have.
    With the same ``seed`` the samples are the same, with or without the cache.

    ``static_cache=True`` keeps keys and values in a fixed-shape
    :class:`~minigpt.kv_cache.StaticKVCache`. ``compile=True`` (which implies it,
    sized to ``n_ctx``) runs the prompt eagerly, then every one-token step through
    one ``torch.compile(fullgraph=True)`` graph, compiled on the first call and
    reused for every position and later call (with CUDA graphs on a GPU).

    ``do_sample``: ``None`` (the default) samples when ``temperature > 0``; ``False`` is
    greedy (or beam search) whatever the temperature, as in Hugging Face's ``generate``.
    ``num_beams > 1`` (with ``do_sample`` off) runs :func:`~minigpt.beam_search.beam_search`,
    the same tokens as ``transformers``' ``generate(num_beams=...)``; ``length_penalty``
    and ``early_stopping`` are its, with Hugging Face's defaults, and matter only once a
    sequence ends with the end-of-text token.
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
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if do_sample is None:
        do_sample = temperature > 0
    elif do_sample and temperature == 0:
        raise ValueError("do_sample=True needs a temperature > 0 (temperature 0 is greedy)")
    if not do_sample:
        temperature = 0.0
    if num_beams < 1:
        raise ValueError(f"num_beams must be a positive int, got {num_beams}")
    if num_beams > 1:
        if do_sample:
            raise ValueError("num_beams > 1 is beam search, which is deterministic here: use do_sample=False "
                             "(or temperature=0)")
        if static_cache or compile:
            raise ValueError("beam search runs with the dynamic KV cache: static_cache and compile are for "
                             "one sequence per row")
        return beam_search(model, tokens, max_new_tokens, num_beams, eos_token_id=eos if stop_at_eos else None,
                           length_penalty=length_penalty, early_stopping=early_stopping, use_kv_cache=use_kv_cache)
    generator = None
    if seed is not None:
        generator = torch.Generator(device=model.device).manual_seed(seed)
    if compile and not use_kv_cache:
        raise ValueError("compile=True compiles the cached one-token step: it needs use_kv_cache=True")
    if compile:
        cache = reusable_static_cache(model, batch)
    elif static_cache and use_kv_cache:
        cache = StaticKVCache.for_model(model, batch, max_pos=total)
    else:
        cache = KVCache.for_model(model, batch, max_pos=total) if use_kv_cache else None
    step_fn = compiled_decode_step(model.device.type) if compile else None
    finished = torch.zeros(batch, dtype=torch.bool, device=model.device)
    out = tokens
    step_input = tokens
    steps = range(max_new_tokens)
    if verbose:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="generating", unit="tok")
    for i in steps:
        if step_fn is not None and i > 0:
            mark_step = getattr(torch.compiler, "cudagraph_mark_step_begin", None)
            if mark_step is not None and model.device.type == "cuda":
                mark_step()  # the previous step's outputs are consumed: CUDA graphs may reuse them
            logits = step_fn(model, step_input, cache)
        else:
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
