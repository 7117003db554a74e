"""FlexAttention: torch writes the fused kernel from a few lines of Python.

``torch.nn.attention.flex_attention`` (torch >= 2.5) takes a ``mask_mod``, a
function of ``(batch, head, q_idx, kv_idx)`` that says whether a query may see
a key, and turns it into a *block mask*: the tiles of the score matrix that are
fully masked are skipped, the others computed with FlashAttention's online
softmax. Under ``torch.compile`` it generates a Triton kernel (CUDA) or C++
(CPU); called eagerly it runs a readable reference that materialises scores.

Our causal mask is aligned to the end of the keys, so with ``offset =
key_pos - query_pos`` (the cached positions), query ``i`` sees keys
``<= i + offset``::

    def mask_mod(b, h, q_idx, kv_idx):
        return kv_idx <= q_idx + offset

Here the kernel is compiled on CUDA and eager elsewhere (compiling per shape
on a CPU costs seconds; set ``COMPILE_ON_CPU = True`` to try it, or compile the
whole model, which compiles this too). torch 2.13 has no FlexAttention
backward on the CPU: the kernel is registered there as forward-only
(``kernel_info("flex").forward_only_on``), so it serves inference, not training.
"""

from __future__ import annotations

import functools
import warnings

import torch
from torch import Tensor

from .registry import register_attention

try:
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
except ImportError:  # torch < 2.5
    create_block_mask = flex_attention = None

COMPILE_ON_CPU = False
_EAGER_WARNING = "flex_attention called without torch.compile"


def causal_mask_mod(offset: int):
    """The end-aligned causal ``mask_mod``: query ``q_idx`` sits at absolute position ``q_idx + offset``."""

    def mask_mod(b, h, q_idx, kv_idx):
        return kv_idx <= q_idx + offset

    return mask_mod


def tensor_mask_mod(mask: Tensor, causal: bool, offset: int):
    """A ``mask_mod`` reading a boolean ``[batch n_heads query_pos key_pos]`` mask (and the causal one)."""

    def mask_mod(b, h, q_idx, kv_idx):
        allowed = mask[b, h, q_idx, kv_idx]
        return allowed & (kv_idx <= q_idx + offset) if causal else allowed

    return mask_mod


@functools.lru_cache(maxsize=32)
def _causal_block_mask(query_pos: int, key_pos: int, device: str):
    return create_block_mask(causal_mask_mod(key_pos - query_pos), None, None, query_pos, key_pos, device=device)


def block_mask_for(q: Tensor, k: Tensor, causal: bool, attn_mask: Tensor | None):
    """The block mask for these shapes (``None`` when nothing is masked); causal ones are cached."""
    batch, n_heads, query_pos, _ = q.shape
    key_pos = k.shape[-2]
    if attn_mask is None:
        if not causal:
            return None
        if torch.compiler.is_compiling():  # no cache lookups inside a traced graph
            return create_block_mask(causal_mask_mod(key_pos - query_pos), None, None, query_pos, key_pos,
                                     device=q.device)
        return _causal_block_mask(query_pos, key_pos, str(q.device))
    if attn_mask.dtype != torch.bool:
        raise TypeError(f"attn_mask must be a bool tensor (True = may attend), got {attn_mask.dtype}")
    full = attn_mask.to(q.device).expand(batch, n_heads, query_pos, key_pos)
    mod = tensor_mask_mod(full, causal, key_pos - query_pos)
    return create_block_mask(mod, batch, n_heads, query_pos, key_pos, device=q.device)


@functools.lru_cache(maxsize=None)
def _compiled_flex():
    return torch.compile(flex_attention)


def _use_compiled(device_type: str) -> bool:
    return device_type != "cpu" or COMPILE_ON_CPU


def flex_attention_kernel(q, k, v, *, causal=True, scale=None, attn_mask=None) -> Tensor:
    """``torch.nn.attention.flex_attention`` with an end-aligned causal block mask."""
    block_mask = block_mask_for(q, k, causal, attn_mask)
    if torch.compiler.is_compiling():  # inside a compiled model: the outer compile fuses it
        return flex_attention(q, k, v, block_mask=block_mask, scale=scale)
    if _use_compiled(q.device.type):
        return _compiled_flex()(q, k, v, block_mask=block_mask, scale=scale)
    if q.device.type == "cpu" and any(t.requires_grad for t in (q, k, v)):
        if torch.is_grad_enabled():
            raise NotImplementedError(
                f"the flex kernel has no backward on the CPU in torch {torch.__version__} "
                "(FlexAttention's limitation): train with 'sdpa' or 'naive' there, or run flex under torch.no_grad()"
            )
        q, k, v = q.detach(), k.detach(), v.detach()  # torch refuses inputs that require grad, even under no_grad
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_EAGER_WARNING)  # eager on CPU is our choice, see the module doc
        return flex_attention(q, k, v, block_mask=block_mask, scale=scale)


def probe() -> tuple[bool, str, tuple[str, ...], str]:
    """Whether flex runs here: ``(available, reason, forward_only_on, note)``.

    On the CPU it runs a tiny forward and tries a backward; on CUDA it needs Triton
    (a compile at probe time would cost seconds, so the check stops there).
    """
    if flex_attention is None:
        return False, f"torch {torch.__version__} has no torch.nn.attention.flex_attention (torch >= 2.5 has)", (), ""
    cuda_ok, cuda_reason = False, ""
    if torch.cuda.is_available():
        try:
            from torch.utils._triton import has_triton

            cuda_ok = has_triton()
            cuda_reason = "" if cuda_ok else "Triton is not installed (FlexAttention compiles to Triton on CUDA)"
        except ImportError as exc:
            cuda_reason = f"cannot check for Triton: {exc}"
    forward_only, note = (), ""
    try:
        q = torch.randn(1, 1, 4, 8)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_EAGER_WARNING)
            flex_attention(q, q, q, block_mask=_causal_block_mask(4, 4, "cpu"))
            try:
                qg = q.clone().requires_grad_()
                flex_attention(qg, qg, qg, block_mask=_causal_block_mask(4, 4, "cpu")).sum().backward()
            except Exception as exc:  # torch 2.13: "FlexAttention does not support backward on CPU"
                forward_only = ("cpu",)
                note = f"forward only on the CPU (torch {torch.__version__}: {str(exc).split('.')[0]})"
        cpu_ok, cpu_reason = True, ""
    except Exception as exc:
        cpu_ok, cpu_reason = False, f"it fails on the CPU: {type(exc).__name__}: {str(exc)[:200]}"
    if cpu_ok or cuda_ok:
        if not cuda_ok and cuda_reason:
            note = f"{note}; not on CUDA: {cuda_reason}" if note else f"not on CUDA: {cuda_reason}"
        return True, "", forward_only, note
    return False, "; ".join(r for r in (cpu_reason, cuda_reason) if r), (), ""


register_attention("flex", available=probe, description="torch's FlexAttention with a causal block mask")(
    flex_attention_kernel
)
