"""The training precision: which dtype the forward pass computes in, and whether the loss is scaled.

Device picking, autocast and the grad scaler live in :mod:`minigpt.device`; this module only
decides what ``dtype="auto"`` means for training.

>>> Precision.choose("auto", torch.device("cpu"))
Precision(dtype=torch.float32)
>>> Precision.choose("fp16", torch.device("cpu")).scaler
True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..device import autocast, grad_scaler, parse_dtype, pick_device

__all__ = ["Precision", "pick_device"]


@dataclass(frozen=True)
class Precision:
    """Weights stay fp32; the forward runs under autocast in ``dtype`` (a no-op for fp32)."""

    dtype: torch.dtype

    @property
    def autocast(self) -> bool:
        return self.dtype != torch.float32

    @property
    def scaler(self) -> bool:
        return self.dtype == torch.float16  # fp16's narrow range needs loss scaling; bf16 does not

    @classmethod
    def choose(cls, dtype: str, device: torch.device) -> Precision:
        """``"auto"``: bf16 on a CUDA GPU that supports it, else fp32. fp16 (with a scaler) only when asked."""
        if dtype == "auto":
            cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
            return cls(torch.bfloat16 if cuda_bf16 else torch.float32)
        return cls(parse_dtype(dtype))

    def context(self, device: torch.device):
        """The autocast context of the forward pass."""
        return autocast(device, self.dtype)

    def make_scaler(self, device: torch.device):
        """A GradScaler, enabled only for fp16 (disabled, each call passes through)."""
        return grad_scaler(device, self.dtype)
