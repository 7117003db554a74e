"""A registry of attention kernels, looked up by name.

Every kernel has one signature::

    kernel(q, k, v, *, causal=True, scale=None, attn_mask=None) -> z
    # q: [batch, n_heads, query_pos, d_head]
    # k, v: [batch, n_heads, key_pos, d_head]
    # z: [batch, n_heads, query_pos, d_head]

``scale`` multiplies the scores (default ``1/sqrt(d_head)``). With
``causal=True`` the mask is aligned to the *end* of the keys: when
``key_pos > query_pos`` (a KV cache holds earlier keys), query ``i`` sits at
absolute position ``key_pos - query_pos + i`` and sees keys up to there.
``attn_mask`` is an optional boolean tensor broadcastable to
``[batch, n_heads, query_pos, key_pos]``; ``True`` means "may attend".

Register your own and run the whole model on it::

    @register_attention("mine")
    def my_attention(q, k, v, *, causal=True, scale=None, attn_mask=None): ...

    model.set_attention("mine")
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable, Protocol

from torch import Tensor


class AttentionKernel(Protocol):
    def __call__(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        causal: bool = True,
        scale: float | None = None,
        attn_mask: Tensor | None = None,
    ) -> Tensor: ...


@dataclass(frozen=True)
class KernelInfo:
    name: str
    fn: AttentionKernel
    available: bool
    reason: str  # why it is unavailable ("" when available)
    description: str


_REGISTRY: dict[str, KernelInfo] = {}


def register_attention(
    name: str,
    *,
    available: bool | Callable[[], tuple[bool, str]] = True,
    description: str = "",
    overwrite: bool = False,
) -> Callable[[AttentionKernel], AttentionKernel]:
    """Decorator: register ``fn`` as the attention kernel ``name``.

    ``available`` is a bool, or a function returning ``(available, reason)``
    for kernels that need something the installed torch may lack.
    """

    def decorator(fn: AttentionKernel) -> AttentionKernel:
        if name in _REGISTRY and not overwrite:
            raise ValueError(
                f"an attention kernel named {name!r} is already registered; "
                "pass overwrite=True to replace it"
            )
        ok, reason = available() if callable(available) else (bool(available), "")
        doc = description or (fn.__doc__ or "").strip().split("\n")[0]
        _REGISTRY[name] = KernelInfo(name, fn, ok, reason, doc)
        return fn

    return decorator


def unregister_attention(name: str) -> None:
    _REGISTRY.pop(name, None)


def get_attention(name: str) -> AttentionKernel:
    """The kernel registered as ``name``; a clear error for unknown or unavailable ones."""
    info = kernel_info(name)
    if not info.available:
        raise RuntimeError(f"attention kernel {name!r} is unavailable here: {info.reason}")
    return info.fn


def kernel_info(name: str) -> KernelInfo:
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(
            f"unknown attention kernel {name!r}; registered kernels: {sorted(_REGISTRY)}.{hint}"
        )
    return _REGISTRY[name]


def list_attention(available_only: bool = False) -> list[str]:
    """Names of the registered kernels (only the usable ones with ``available_only``)."""
    return sorted(n for n, info in _REGISTRY.items() if info.available or not available_only)


def attention_table() -> list[KernelInfo]:
    """Every registered kernel with its availability and reason."""
    return [_REGISTRY[n] for n in sorted(_REGISTRY)]
