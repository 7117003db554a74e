"""Devices and precisions, without assuming CUDA: pick a device, pick a half dtype, autocast.

>>> pick_device("cpu")
device(type='cpu')
>>> parse_dtype("bf16"), parse_dtype("fp32")
(torch.bfloat16, torch.float32)
>>> with autocast("cpu", torch.float32):   # fp32: a no-op context
...     pass

``pick_device("auto")`` is CUDA when present, then Apple's MPS, then the CPU.
Training in half precision wraps the forward in :func:`autocast` (weights stay
fp32, matmuls run in bf16/fp16) and, for fp16 only, scales the loss with
:func:`grad_scaler` so small gradients do not flush to zero; bf16 has fp32's
exponent range and needs no scaling.

:class:`Precision` is the training loop's choice: what ``dtype="auto"`` means, the autocast
context of the forward pass and whether the loss is scaled.

>>> Precision.choose("auto", torch.device("cpu"))
Precision(dtype=torch.float32)
>>> Precision.choose("fp16", torch.device("cpu")).scaler
True

MFU (model FLOPs utilisation) is achieved FLOP/s over the device's peak:
:func:`flops_per_token` counts a training step's FLOPs as nanoGPT does and
:func:`peak_flops` looks the peak up by device name.
"""

from __future__ import annotations

import contextlib
import platform
from dataclasses import dataclass

import torch

DTYPES = {
    "fp32": torch.float32, "float32": torch.float32,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
    "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
}
HALF = (torch.bfloat16, torch.float16)


def mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def pick_device(name: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or ``None``): CUDA, then MPS, then CPU. Otherwise the named device, checked to exist."""
    if isinstance(name, torch.device):
        return name
    if name in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} asked for, but this torch ({torch.__version__}) sees no CUDA GPU; "
                           "use 'auto' or 'cpu'")
    if device.type == "mps" and not mps_available():
        raise RuntimeError(
            f"device {name!r} asked for, but Apple's MPS backend is not available here; use 'auto' or 'cpu'"
        )
    return device


def parse_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    """``"bf16"``, ``"fp16"``, ``"fp32"`` (and torch's long names) → a ``torch.dtype``; ``None`` is fp32."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {sorted(set(DTYPES))}")
    return DTYPES[dtype]


def bf16_supported(device: torch.device | str) -> bool:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return device.type in ("cpu", "mps")


def autocast_dtype(device: torch.device | str) -> torch.dtype:
    """The half precision to train in on ``device``: bf16 where supported, fp16 on older GPUs, fp32 on a CPU.

    On a CPU autocast to bf16 works but is slower than fp32 on most chips, so the default stays fp32.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if bf16_supported(device) else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32


def autocast(device: torch.device | str, dtype: torch.dtype | str | None):
    """``torch.autocast`` for half ``dtype``; a no-op context for fp32."""
    device, dtype = torch.device(device), parse_dtype(dtype)
    if dtype not in HALF:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device | str, dtype: torch.dtype | str | None):
    """A ``torch.amp.GradScaler``, enabled only for fp16 (bf16 and fp32 need no loss scaling).

    Use it as always: ``scaler.scale(loss).backward(); scaler.unscale_(opt)`` (before clipping);
    ``scaler.step(opt); scaler.update()``. Disabled, each call is a pass-through.
    """
    device, dtype = torch.device(device), parse_dtype(dtype)
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


@dataclass(frozen=True)
class Precision:
    """The training precision: weights stay fp32; the forward runs under autocast in ``dtype`` (a no-op for fp32)."""

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


def synchronize(device: torch.device | str) -> None:
    """Wait for queued kernels (before reading a clock); nothing to do on a CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def device_name(device: torch.device | str) -> str:
    """``"NVIDIA H100 80GB HBM3"``, ``"Apple MPS"`` or the CPU's name."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    return platform.processor() or platform.machine() or "cpu"


# Dense (no sparsity) tensor-core peak in TFLOP/s for bf16/fp16 with fp32 accumulation,
# from the vendors' data sheets. Matched against the device name in order, first hit wins,
# so the more specific names come first ("H100 PCIe" before "H100", "A100" before "A10").
PEAK_TFLOPS_BF16 = (
    ("GH200", 989.0),
    ("H200", 989.0),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),  # SXM (e.g. "NVIDIA H100 80GB HBM3")
    ("H800", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", None),  # AWS's variant of the A10: no published dense figure, so MFU is n/a
    ("A10", 125.0),
    ("RTX A6000", 155.0),
    ("RTX 6000 Ada", 364.0),
    ("RTX 4090", 165.0),
    ("RTX 3090", 71.0),
    ("MI300X", 1307.0),
)
# Older cards without bf16 tensor cores: fp16 only.
PEAK_TFLOPS_FP16_ONLY = (("V100", 125.0), ("T4", 65.0))


def peak_flops(name: str, dtype: torch.dtype | str = torch.bfloat16) -> float | None:
    """Peak FLOP/s of the device called ``name`` in half ``dtype``, or ``None`` when unknown.

    >>> peak_flops("NVIDIA H100 80GB HBM3") / 1e12
    989.0
    >>> peak_flops("NVIDIA H100 PCIe") / 1e12, peak_flops("my laptop")
    (756.0, None)
    """
    dtype = parse_dtype(dtype)
    if dtype not in HALF:
        return None  # fp32/TF32 peaks differ per card and setting: no honest single number
    table = PEAK_TFLOPS_BF16 + (PEAK_TFLOPS_FP16_ONLY if dtype == torch.float16 else ())
    lowered = name.lower()
    for key, tflops in table:
        if key.lower() in lowered:
            return None if tflops is None else tflops * 1e12
    return None


def flops_per_token(cfg, seq_len: int | None = None) -> float:
    """Training FLOPs per token as nanoGPT counts them: ``6 N + 12 L H Q T``.

    ``N``: parameters without the position embedding (the tied token embedding
    counts once, as the unembedding's matmul); ``6N``: forward (2) + backward (4)
    multiply-adds; ``12 L H Q T``: the attention scores and weighted sums, ``L``
    layers, ``H`` heads of width ``Q``, ``T`` = context length.

    >>> from minigpt.config import GPTConfig
    >>> round(flops_per_token(GPTConfig.from_name("gpt2")) / 1e6)  # gpt2 small at 1024 tokens
    855
    """
    seq_len = cfg.n_ctx if seq_len is None else seq_len
    n = cfg.n_params_non_embedding + cfg.d_vocab * cfg.d_model  # W_E (= W_U when tied)
    if not cfg.tie_embeddings:
        n += cfg.d_model * cfg.d_vocab
    if cfg.unembed_bias:
        n += cfg.d_vocab
    return 6 * n + 12 * cfg.n_layers * cfg.n_heads * cfg.d_head * seq_len


def mfu(tokens_per_second: float, cfg, seq_len: int, name: str, dtype=torch.bfloat16) -> float | None:
    """Model FLOPs utilisation (0..1), or ``None`` for a device missing from the peak table."""
    peak = peak_flops(name, dtype)
    return None if peak is None else tokens_per_second * flops_per_token(cfg, seq_len) / peak
