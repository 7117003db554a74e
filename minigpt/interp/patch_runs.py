"""Many patched runs of one model, batched: the engine behind :mod:`minigpt.interp.patching`.

TransformerLens's patching runs the whole model once for every patched index. Three savings
here, each exact (the same numbers, up to float rounding):

1. **Many runs per forward pass.** The corrupted tokens are repeated along the batch, once per
   run, and run ``i`` is patched at its own index. The metric is then called on each run's own
   slice of the logits, ``[batch pos d_vocab]``, as if it had run alone.
2. **The layers before the patch run once.** A patch inside block ``L`` cannot change blocks
   ``< L``, so every patched run starts from the corrupted run's ``resid_pre`` of block ``L``
   and only blocks ``L..`` run (calling the blocks, then ``ln_final`` and ``unembed``, as
   :meth:`minigpt.GPT.forward` does).
3. **The positions before the patch are the corrupted run's.** Attention is causal and every
   other step acts per position, so a patch at query position ``p`` leaves positions ``< p``
   as they were. A batch whose earliest patched position is ``s`` runs positions ``s..``
   only, attending to the corrupted run's keys and values before ``s`` (a key/value cache, as
   in generation), and each run's logits before its own ``p`` are the corrupted run's.

Saving 3 applies to the patch setters that say where their query position is
(:data:`minigpt.interp.patching.QUERY_POSITION`); a caller's own setter gets 1 and 2.

>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=2, d_model=16, n_heads=2, d_vocab=10, n_ctx=8, seed=0))
>>> default_batch_size(model, batch=1, n_pos=4) > 100   # tiny model: hundreds of runs per forward
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..cache import act_name

__all__ = ["CorruptedRun", "PatchSite", "PrefixKV", "corrupted_run", "default_batch_size", "run_patches"]

MEMORY_BUDGET = 512 * 2**20  # bytes of activations per forward pass, when batch_size is not given
# Runs share a forward pass only when their first patched positions fall in the same quarter of the
# sequence, so a pass starts no more than a quarter of the positions before its runs need to (saving 3).
POSITION_BANDS = 4


@dataclass
class PatchSite:
    """What is patched: the activation (``act_name`` short name), the setter, and where its query position is.

    ``query_position = (slot, axis)``: ``index[slot]`` is the query position the patch writes and
    ``axis`` the activation's position axis (``None``: the patch may reach every position).
    """

    activation_name: str
    setter: Callable[[Tensor, Sequence[int], Tensor], Tensor]
    query_position: tuple[int, int] | None = None

    def first_position(self, index: Sequence[int]) -> int:
        """The first position a patch at ``index`` can change."""
        return 0 if self.query_position is None else index[self.query_position[0]]

    def shifted(self, index: Sequence[int], start: int) -> list[int]:
        """``index`` for activations that begin at position ``start``."""
        index = list(index)
        if self.query_position is not None:
            index[self.query_position[0]] -= start
        return index


@dataclass
class CorruptedRun:
    """What the patched runs reuse from the unpatched corrupted run."""

    logits: Tensor  # [batch pos d_vocab]
    resid_pre: list[Tensor]  # per layer, [batch pos d_model]
    keys: list[Tensor]  # per layer, [batch n_heads pos d_head]
    values: list[Tensor]


def corrupted_run(model, tokens: Tensor) -> CorruptedRun:
    """Run ``tokens [batch pos]`` once, keeping each block's input, keys and values."""
    names = [act_name(name, layer) for layer in range(model.cfg.n_layers) for name in ("resid_pre", "k", "v")]
    logits, cache = model.run_with_cache(tokens, names_filter=names)
    layers = range(model.cfg.n_layers)
    return CorruptedRun(
        logits=logits,
        resid_pre=[cache["resid_pre", layer] for layer in layers],
        keys=[cache["k", layer].transpose(1, 2) for layer in layers],  # [batch n_heads pos d_head]
        values=[cache["v", layer].transpose(1, 2) for layer in layers],
    )


class PrefixKV:
    """The corrupted run's keys and values before position ``start``, placed before each layer's new ones.

    It offers attention what a :class:`~minigpt.kv_cache.KVCache` does: ``update(layer, k, v)``
    returns all keys and values so far. The causal mask aligns to the end of the keys, so query
    ``i`` of the shortened run sits at position ``start + i``.
    """

    attn_mask = None

    def __init__(self, run: CorruptedRun, start: int, n_runs: int) -> None:
        self.run, self.start, self.n_runs = run, start, n_runs

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        # k, v: [n_runs*batch n_heads new d_head]
        past_k = self.run.keys[layer][:, :, : self.start].repeat(self.n_runs, 1, 1, 1)
        past_v = self.run.values[layer][:, :, : self.start].repeat(self.n_runs, 1, 1, 1)
        return torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)


def default_batch_size(model, batch: int, n_pos: int, budget: int = MEMORY_BUDGET) -> int:
    """Patched runs per forward pass whose activations fit in about ``budget`` bytes."""
    cfg = model.cfg
    per_position = 2 * cfg.d_vocab + 2 * (cfg.d_mlp or 0) + 8 * cfg.d_model + 2 * cfg.n_heads * n_pos
    per_run = batch * n_pos * per_position * torch.finfo(model.dtype).bits // 8
    return max(1, budget // per_run)


def _start_layer(hook_name: str) -> int | None:
    """The block a hook sits in (``None``: outside every block, so a run starts at the embedding)."""
    match = re.match(r"blocks\.(\d+)\.", hook_name)
    return int(match.group(1)) if match else None


def _logits(model, resid: Tensor, corrupted_logits: Tensor, firsts: list[int], start: int) -> Tensor:
    """``resid [n_runs batch pos-start d_model]`` → logits ``[n_runs batch pos d_vocab]``.

    Run ``i``'s logits before its first changed position ``firsts[i]`` are the corrupted run's;
    the rest go through ``ln_final`` and ``unembed``, all runs in one matrix product.
    """
    n_runs, batch = resid.shape[:2]
    if max(firsts) == 0:
        return model.unembed(model.ln_final(resid.flatten(0, 1))).unflatten(0, (n_runs, batch))
    changed = [run[:, first - start:] for run, first in zip(resid, firsts)]  # each [batch pos-first d_model]
    flat = torch.cat([part.flatten(0, 1) for part in changed])[None]  # [1 rows d_model]
    new = model.unembed(model.ln_final(flat))[0]  # [rows d_vocab]
    logits = corrupted_logits.expand(n_runs, *corrupted_logits.shape).clone()
    for run_logits, first, part in zip(logits, firsts, new.split([p.shape[0] * p.shape[1] for p in changed])):
        run_logits[:, first:] = part.view(batch, -1, part.shape[-1])
    return logits


def _run_chunk(model, tokens: Tensor, run: CorruptedRun, clean: Tensor, site: PatchSite, hook_name: str,
               rows: list[Sequence[int]]) -> Tensor:
    """The logits ``[n_runs batch pos d_vocab]`` of the corrupted run patched at each of ``rows``."""
    n_runs, (batch, n_pos) = len(rows), tokens.shape
    layer = _start_layer(hook_name)
    firsts = [site.first_position(row) for row in rows]
    start = min(firsts) if layer is not None else 0
    if start:
        clean = clean.narrow(site.query_position[1], start, n_pos - start)

    def patch(activation: Tensor, hook) -> Tensor:  # [n_runs*batch ...]
        activation = activation.clone()
        for per_run, row in zip(activation.unflatten(0, (n_runs, batch)), rows):
            per_run.copy_(site.setter(per_run, site.shifted(row, start), clean))
        return activation

    with model.hooks(fwd_hooks=[(hook_name, patch)]):
        if layer is None:
            return model(tokens.repeat(n_runs, 1)).unflatten(0, (n_runs, batch))
        resid = run.resid_pre[layer][:, start:].repeat(n_runs, 1, 1)  # [n_runs*batch pos-start d_model]
        kv = PrefixKV(run, start, n_runs) if start else None
        for block in model.blocks[layer:]:
            resid = block(resid, kv)
    return _logits(model, resid.unflatten(0, (n_runs, batch)), run.logits, firsts, start)


@torch.no_grad()
def run_patches(model, tokens: Tensor, clean_cache, metric, site: PatchSite, rows: list[Sequence[int]], *,
                batch_size: int | None = None, progress: bool = True) -> Tensor:
    """``metric`` of the corrupted run ``tokens [batch pos]`` patched at each index of ``rows``: ``[len(rows)]``.

    ``rows[i][0]`` is the layer; the hook is ``act_name(site.activation_name, layer)``. Runs that
    patch the same hook share forward passes of up to ``batch_size`` runs, those whose first
    patched positions fall in the same quarter of the sequence (:data:`POSITION_BANDS`).
    """
    batch, n_pos = tokens.shape
    batch_size = batch_size or default_batch_size(model, batch, n_pos)
    run = corrupted_run(model, tokens)
    groups: dict[tuple[str, int], list[int]] = {}  # (hook, band) -> row numbers
    for i, row in enumerate(rows):
        band = site.first_position(row) * POSITION_BANDS // n_pos
        groups.setdefault((act_name(site.activation_name, row[0]), band), []).append(i)
    values = torch.zeros(len(rows))
    clean: dict[str, Tensor] = {}
    with tqdm(total=len(rows), disable=not progress) as bar:
        for (hook_name, _), members in groups.items():
            if hook_name not in clean:
                clean[hook_name] = clean_cache[hook_name].to(model.device)
            for begin in range(0, len(members), batch_size):
                chunk = members[begin:begin + batch_size]
                logits = _run_chunk(model, tokens, run, clean[hook_name], site, hook_name, [rows[i] for i in chunk])
                for i, run_logits in zip(chunk, logits):
                    value = metric(run_logits)
                    values[i] = value.item() if isinstance(value, Tensor) else float(value)
                bar.update(len(chunk))
    return values.to(model.device)
