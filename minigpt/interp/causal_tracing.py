"""Causal tracing: which hidden states carry a fact from the subject to the answer?

Meng et al. 2022, "Locating and Editing Factual Associations in GPT" (ROME), §2. Three runs of
the model on a prompt such as "The Eiffel Tower is in" whose answer is " Paris":

1. the **clean** run: ``p_clean = P(answer)`` at the last position;
2. the **corrupted** run: Gaussian noise ``N(0, ν²)`` added to the subject's token embeddings
   (at ``hook_embed``), so the model no longer knows what the subject is: ``p_corrupted``;
3. the **corrupted-with-restoration** runs: the corrupted run again, with one hidden state put
   back to its clean value, at ``(layer, position)``: ``p_restored[layer, position]``.

A state that brings the probability back carries the fact. Its **indirect effect** is
``IE = p_restored - p_corrupted``; :func:`causal_trace` returns that grid, ``[n_layers, pos]``,
as ``CausalTrace.effects`` (``.p_restored`` adds ``p_corrupted`` back). What is restored
(``kind``):

- ``"resid"``: the output of block ``L``, ``blocks.L.hook_resid_post`` (the paper's hidden
  state ``h_i^(l)``); restoring the last layer at the last position gives back ``p_clean``;
- ``"mlp"`` / ``"attn"``: the sub-layer's output, ``blocks.L.hook_mlp_out`` /
  ``blocks.L.hook_attn_out``, of a *window* of ``window`` layers centred on ``L`` (layers
  ``L - window // 2`` up to, not including, ``L + ceil(window / 2)``, clipped to the model),
  at one position, as the paper does: one sub-layer alone is often too weak to show.

The noise level is ``ν = 3 σ`` with ``σ`` the standard deviation of the token embeddings
(``W_E``, all entries) as the paper's "3 times the empirical standard deviation of the
embeddings"; ``samples`` noise draws are averaged, the same draws for every restoration, so
the grid is deterministic under ``seed``. Restorations are batched: each forward pass runs
many ``(restoration, sample)`` rows.

>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=2, d_model=16, n_heads=2, d_vocab=10, n_ctx=8, seed=0))
>>> trace = causal_trace(model, torch.tensor([1, 2, 3, 4]), subject=torch.tensor([2, 3]), answer=5, samples=4)
>>> trace.effects.shape, trace.subject_positions            # [n_layers pos]
(torch.Size([2, 4]), [1, 2])
>>> abs(trace.p_restored[-1, -1].item() - trace.p_clean) < 1e-6   # the final state restored: the clean run
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .prompts import TokensLike, as_tokens, subject_positions

__all__ = ["CausalTrace", "causal_trace", "trace_hook_name", "trace_window"]

KINDS = ("resid", "mlp", "attn")


@dataclass
class CausalTrace:
    """The result of :func:`causal_trace`. ``effects[L, t] = p_restored[L, t] - p_corrupted``."""

    effects: Tensor  # [n_layers pos]: indirect effects
    p_clean: float
    p_corrupted: float
    tokens: Tensor  # [pos]
    subject_positions: list[int]
    answer: int
    kind: str
    window: int
    noise: float

    @property
    def p_restored(self) -> Tensor:  # [n_layers pos]
        return self.effects + self.p_corrupted


def trace_hook_name(kind: str, layer: int) -> str:
    """The hook point a restoration of ``kind`` writes at ``layer``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return {"resid": f"blocks.{layer}.hook_resid_post", "mlp": f"blocks.{layer}.hook_mlp_out",
            "attn": f"blocks.{layer}.hook_attn_out"}[kind]


def trace_window(layer: int, window: int, n_layers: int) -> range:
    """The layers restored together for ``layer``: ``window`` of them centred on it, clipped.

    >>> list(trace_window(0, 3, 4)), list(trace_window(2, 3, 4)), list(trace_window(3, 10, 4))
    ([0, 1], [1, 2, 3], [0, 1, 2, 3])
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    return range(max(0, layer - window // 2), min(n_layers, layer + math.ceil(window / 2)))


def _answer_probs(logits: Tensor, answer: int) -> Tensor:  # [rows pos d_vocab] -> [rows]
    return logits[:, -1].float().softmax(dim=-1)[:, answer]


@torch.no_grad()
def causal_trace(model, prompt: TokensLike, subject: TokensLike, answer: TokensLike, kind: str = "resid",
                 noise: float | None = None, samples: int = 10, window: int = 10, seed: int = 0,
                 batch_size: int = 512) -> CausalTrace:
    """The grid of indirect effects ``[n_layers, pos]`` of restoring one clean state in a corrupted run.

    ``prompt``, ``subject``, ``answer``: text (tokenised with the model's tokenizer; the prompt
    gets a BOS token) or token ids, used as given. The subject is found in the prompt's tokens;
    only the answer's first token is scored. ``kind``: ``"resid"`` (``window`` is ignored:
    one state), ``"mlp"`` or ``"attn"`` (a window of layers). ``noise``: the noise's standard
    deviation, ``3 * W_E.std()`` by default. ``batch_size``: rows per forward pass.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "mlp" and model.cfg.attn_only:
        raise ValueError("an attention-only model has no MLPs to restore; use kind='resid' or 'attn'")
    tokens = as_tokens(model, prompt)  # [pos]
    subj = subject_positions(model, tokens, subject)
    answer_id = int(as_tokens(model, answer, prepend_bos=False)[0])
    n_layers, n_pos = model.cfg.n_layers, tokens.shape[0]
    window = 1 if kind == "resid" else window
    std = float(3 * model.W_E.float().std()) if noise is None else float(noise)
    gen = torch.Generator().manual_seed(seed)
    eps = (torch.randn(samples, len(subj), model.cfg.d_model, generator=gen) * std).to(model.device, model.dtype)

    names = [trace_hook_name(kind, layer) for layer in range(n_layers)]
    logits, cache = model.run_with_cache(tokens[None], names_filter=names)
    p_clean = _answer_probs(logits, answer_id).item()
    clean = [cache[name] for name in names]  # each [1 pos d_model]

    def corrupt(x: Tensor, hook) -> Tensor:  # x: [rows pos d_model], rows = restorations * samples
        x = x.clone()
        x[:, subj] += eps.repeat(x.shape[0] // samples, 1, 1)
        return x

    def run(masks: dict[int, Tensor], n_rows: int) -> Tensor:  # -> [n_rows] P(answer)
        def restore(layer: int):
            return lambda x, hook: torch.where(masks[layer][..., None], clean[layer], x)

        hooks = [("hook_embed", corrupt)] + [(names[layer], restore(layer)) for layer in masks]
        batch = tokens[None].expand(n_rows, n_pos)
        return _answer_probs(model.run_with_hooks(batch, fwd_hooks=hooks), answer_id)

    p_corrupted = run({}, samples).mean().item()
    cells = [(layer, pos) for layer in range(n_layers) for pos in range(n_pos)]
    per_chunk = max(1, batch_size // samples)
    p_restored = []
    for start in range(0, len(cells), per_chunk):
        chunk = cells[start:start + per_chunk]
        masks: dict[int, Tensor] = {}
        for row, (layer, pos) in enumerate(chunk):
            for restored in trace_window(layer, window, n_layers):
                mask = masks.setdefault(restored, torch.zeros(len(chunk), samples, n_pos, dtype=torch.bool))
                mask[row, :, pos] = True
        masks = {layer: mask.flatten(0, 1).to(model.device) for layer, mask in masks.items()}  # [rows pos]
        p_restored.append(run(masks, len(chunk) * samples).view(len(chunk), samples).mean(1))
    effects = torch.cat(p_restored).view(n_layers, n_pos).cpu() - p_corrupted
    return CausalTrace(effects=effects, p_clean=p_clean, p_corrupted=p_corrupted, tokens=tokens.cpu(),
                       subject_positions=subj, answer=answer_id, kind=kind, window=window, noise=std)
