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
    forward_only_on: tuple[str, ...] = ()  # device types where it has no backward (e.g. ("cpu",))
    note: str = ""  # a limitation worth knowing even when available


Availability = Callable[[], "tuple[bool, str] | tuple[bool, str, tuple[str, ...], str]"]

_REGISTRY: dict[str, KernelInfo] = {}
_PENDING: dict[str, tuple[AttentionKernel, Availability, str]] = {}  # probed on first look-up


def register_attention(
    name: str,
    *,
    available: bool | Callable[[], tuple[bool, str]] = True,
    description: str = "",
    overwrite: bool = False,
) -> Callable[[AttentionKernel], AttentionKernel]:
    """Decorator: register ``fn`` as the attention kernel ``name``.

    ``available`` is a bool, or a function returning ``(available, reason)``
    for kernels that need something the installed torch may lack; it may also
    return ``(available, reason, forward_only_on, note)`` for a kernel that runs
    but has no backward on some device types. The function is called on the
    first look-up of ``name`` (not at import), so probing costs nothing until then.
    """

    def decorator(fn: AttentionKernel) -> AttentionKernel:
        if (name in _REGISTRY or name in _PENDING) and not overwrite:
            raise ValueError(
                f"an attention kernel named {name!r} is already registered; "
                "pass overwrite=True to replace it"
            )
        doc = description or (fn.__doc__ or "").strip().split("\n")[0]
        _REGISTRY.pop(name, None)
        _PENDING.pop(name, None)
        if callable(available):
            _PENDING[name] = (fn, available, doc)
        else:
            _REGISTRY[name] = KernelInfo(name, fn, bool(available), "", doc)
        return fn

    return decorator


def _resolve(name: str) -> None:
    fn, available, doc = _PENDING.pop(name)
    try:
        result = tuple(available())
    except Exception as exc:  # a probe that crashes means "not usable here", with the reason
        result = (False, f"probing it failed: {type(exc).__name__}: {exc}")
    ok, reason = bool(result[0]), str(result[1])
    forward_only_on = tuple(result[2]) if len(result) > 2 else ()
    note = str(result[3]) if len(result) > 3 else ""
    _REGISTRY[name] = KernelInfo(name, fn, ok, reason, doc, forward_only_on, note)


def unregister_attention(name: str) -> None:
    _REGISTRY.pop(name, None)
    _PENDING.pop(name, None)


def get_attention(name: str) -> AttentionKernel:
    """The kernel registered as ``name``; a clear error for unknown or unavailable ones."""
    info = kernel_info(name)
    if not info.available:
        raise RuntimeError(f"attention kernel {name!r} is unavailable here: {info.reason}")
    return info.fn


def kernel_info(name: str) -> KernelInfo:
    if name in _PENDING:
        _resolve(name)
    if name not in _REGISTRY:
        known = sorted({*_REGISTRY, *_PENDING})
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown attention kernel {name!r}; registered kernels: {known}.{hint}")
    return _REGISTRY[name]


def list_attention(available_only: bool = False) -> list[str]:
    """Names of the registered kernels (only the usable ones with ``available_only``)."""
    if not available_only:
        return sorted({*_REGISTRY, *_PENDING})
    return [info.name for info in attention_table() if info.available]


def attention_table() -> list[KernelInfo]:
    """Every registered kernel with its availability and reason."""
    return [kernel_info(n) for n in sorted({*_REGISTRY, *_PENDING})]


def supports_backward(name: str, device_type: str) -> bool:
    """Whether kernel ``name`` can be differentiated on ``device_type`` (``"cpu"``, ``"cuda"``, ...)."""
    return device_type not in kernel_info(name).forward_only_on
