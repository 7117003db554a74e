"""A preallocated key/value cache, written in place (as gpt-fast does).

Generating token ``t`` only needs the new token's query; its keys and values
for positions ``< t`` were computed at earlier steps. The cache keeps them in
``[batch, n_heads, max_pos, d_head]`` buffers per layer, so a step costs one
position's worth of matmuls instead of the whole prefix's.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .config import GPTConfig


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
    def for_model(cls, model, batch: int, max_pos: int | None = None) -> KVCache:
        p = next(model.parameters())
        return cls(model.cfg, batch, max_pos, device=p.device, dtype=p.dtype)

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
        self.k[layer, :, :, self.pos : end] = k
        self.v[layer, :, :, self.pos : end] = v
        self._pending = new
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def advance(self) -> None:
        """Called by the model after every layer has written the same new positions."""
        self.pos += self._pending
        self._pending = 0

    def reset(self) -> None:
        self.pos = 0
