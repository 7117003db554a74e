"""Pluggable attention kernels: ``naive`` (reference), ``sdpa``, ``online``, ``flex`` and ``triton``.

See :mod:`minigpt.attention.registry` for the kernel signature. ``flex`` and ``triton`` are
probed on first look-up; :func:`attention_table` says where they are unavailable and why.
"""

from . import flex, naive, online, sdpa, triton_flash  # noqa: F401  (each registers its kernel)
from .masks import causal_mask
from .naive import naive_attention, naive_scores_and_pattern
from .registry import (
    KernelInfo,
    attention_table,
    get_attention,
    kernel_info,
    list_attention,
    register_attention,
    supports_backward,
    unregister_attention,
)

__all__ = [
    "KernelInfo",
    "attention_table",
    "causal_mask",
    "get_attention",
    "kernel_info",
    "list_attention",
    "naive_attention",
    "naive_scores_and_pattern",
    "register_attention",
    "supports_backward",
    "unregister_attention",
]
