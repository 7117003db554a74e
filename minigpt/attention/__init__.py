"""Pluggable attention kernels: ``naive`` (reference), ``sdpa`` and ``online``.

See :mod:`minigpt.attention.registry` for the kernel signature.
"""

from . import naive, online, sdpa  # noqa: F401  (each registers its kernel)
from .masks import causal_mask
from .naive import naive_attention, naive_scores_and_pattern
from .registry import (
    KernelInfo,
    attention_table,
    get_attention,
    kernel_info,
    list_attention,
    register_attention,
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
    "unregister_attention",
]
