"""A preallocated key/value cache, written in place (as gpt-fast does).

Generating token ``t`` only needs the new token's query; its keys and values
for positions ``< t`` were computed at earlier steps. The cache keeps them in
``[batch, n_heads, max_pos, d_head]`` buffers per layer, so a step costs one
position's worth of matmuls instead of the whole prefix's.

:class:`KVCache` hands attention the filled part only (``[..., :pos, :]``), so
shapes grow by one each step. :class:`StaticKVCache` hands over the whole
buffer and a mask that hides the empty slots, and keeps its position in a
tensor: every decode step has the same shapes and no Python number changes,
so ``torch.compile(..., fullgraph=True)`` compiles the step once.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .config import GPTConfig


def compute_dtype(p: Tensor) -> torch.dtype:
    """The dtype activations next to parameter ``p`` have: autocast's when it is on, else ``p``'s."""
    try:
        if torch.is_autocast_enabled(p.device.type):
            return torch.get_autocast_dtype(p.device.type)
    except (TypeError, AttributeError):  # torch < 2.4: no per-device query
        pass
    return p.dtype


class KVCache:
    def __init__(
        self,
        cfg: GPTConfig,
        batch: int,
        max_pos: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        max_pos = cfg.n_ctx if max_pos is None else max_pos
        if max_pos > cfg.n_ctx:
            raise ValueError(f"max_pos={max_pos} exceeds the model's context n_ctx={cfg.n_ctx}")
        shape = (cfg.n_layers, batch, cfg.n_heads, max_pos, cfg.d_head)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.batch, self.max_pos = batch, max_pos
        self.pos = 0  # how many positions are filled (the same for every layer after a forward)
        self._pending = 0

    @classmethod
    def for_model(cls, model, batch: int, max_pos: int | None = None):
        """A cache on the model's device, in the dtype its keys will have (the autocast dtype under autocast)."""
        p = next(model.parameters())
        return cls(model.cfg, batch, max_pos, device=p.device, dtype=compute_dtype(p))

    def check_room(self, batch: int, new: int) -> None:
        if batch != self.batch:
            raise ValueError(f"the KV cache was made for batch {self.batch}, got batch {batch}")
        if self.pos + new > self.max_pos:
            raise ValueError(
                f"the KV cache holds {self.max_pos} positions; {self.pos} are used and "
                f"{new} more do not fit"
            )

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write ``k, v: [batch n_heads new d_head]`` after the filled part; return all so far."""
        new = k.shape[-2]
        end = self.pos + new
        self.k[layer, :, :, self.pos : end] = k  # (cast to the cache's dtype if need be)
        self.v[layer, :, :, self.pos : end] = v
        self._pending = new
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def advance(self) -> None:
        """Called by the model after every layer has written the same new positions."""
        self.pos += self._pending
        self._pending = 0

    def reset(self) -> None:
        self.pos = 0


class StaticKVCache:
    """A fixed-shape KV cache for compiled decoding: whole buffers, a position tensor and a mask.

    ``begin(new)`` (called by the model) computes the new tokens' absolute positions
    ``input_pos = length + arange(new)`` and the mask ``key_pos <= input_pos`` over all
    ``max_pos`` slots; ``update`` writes keys and values at ``input_pos`` with
    ``index_copy_`` and returns the whole buffers; ``advance`` adds ``new`` to
    ``length`` in place. Nothing here is a Python number that changes, so a compiled
    step is traced once and serves every position.

    >>> from minigpt import GPT, GPTConfig
    >>> model = GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2, d_vocab=11, n_ctx=8, seed=0))
    >>> cache = StaticKVCache.for_model(model, batch=1)
    >>> _ = model(torch.tensor([[1, 2, 3]]), kv_cache=cache)
    >>> cache.pos, cache.attn_mask.int().tolist()[-1]
    (3, [1, 1, 1, 0, 0, 0, 0, 0])
    """

    is_static = True

    def __init__(
        self,
        cfg: GPTConfig,
        batch: int,
        max_pos: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        max_pos = cfg.n_ctx if max_pos is None else max_pos
        if max_pos > cfg.n_ctx:
            raise ValueError(f"max_pos={max_pos} exceeds the model's context n_ctx={cfg.n_ctx}")
        shape = (batch, cfg.n_heads, max_pos, cfg.d_head)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        self.batch, self.max_pos = batch, max_pos
        self.length = torch.zeros((), dtype=torch.long, device=device)  # positions filled
        self.key_pos = torch.arange(max_pos, device=device)
        self.input_pos = self.length.reshape(1)  # set by begin()
        self.attn_mask = self.key_pos[None] <= self.input_pos[:, None]  # [new max_pos], set by begin()
        mark_static = getattr(getattr(torch, "_dynamo", None), "mark_static_address", None)
        if mark_static is not None and torch.device(device or "cpu").type == "cuda":
            for t in (*self.k, *self.v, self.length, self.key_pos):  # fixed addresses: CUDA graphs replay the step
                mark_static(t)

    @classmethod
    def for_model(cls, model, batch: int, max_pos: int | None = None) -> StaticKVCache:
        p = next(model.parameters())
        return cls(model.cfg, batch, max_pos, device=p.device, dtype=compute_dtype(p))

    @property
    def pos(self) -> int:
        """Positions filled (reads the tensor: a host sync on a GPU, so not for the hot loop)."""
        return int(self.length)

    def check_room(self, batch: int, new: int) -> None:
        if torch.compiler.is_compiling():  # reading the position would break the graph; checked eagerly
            return
        if batch != self.batch:
            raise ValueError(f"the KV cache was made for batch {self.batch}, got batch {batch}")
        if self.pos + new > self.max_pos:
            raise ValueError(
                f"the KV cache holds {self.max_pos} positions; {self.pos} are used and {new} more do not fit"
            )

    def begin(self, new: int) -> Tensor:
        """The absolute positions ``[new]`` of the tokens about to be written; sets ``attn_mask``."""
        self.input_pos = self.length + torch.arange(new, device=self.length.device)
        self.attn_mask = self.key_pos[None] <= self.input_pos[:, None]  # [new max_pos]: True = may attend
        return self.input_pos

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write ``k, v: [batch n_heads new d_head]`` at ``input_pos``; return the whole buffers."""
        k_buf, v_buf = self.k[layer], self.v[layer]
        k_buf.index_copy_(2, self.input_pos, k.to(k_buf.dtype))
        v_buf.index_copy_(2, self.input_pos, v.to(v_buf.dtype))
        return k_buf, v_buf

    def advance(self) -> None:
        self.length += self.input_pos.shape[0]

    def reset(self) -> None:
        self.length.zero_()
