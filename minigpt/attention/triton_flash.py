"""FlashAttention's forward pass as a Triton kernel, written for the course.

The same algorithm as :mod:`minigpt.attention.online`, now as one GPU program
per tile of ``BLOCK_M`` queries (for one batch row and head). The program keeps
its queries in registers and walks over tiles of ``BLOCK_N`` keys, keeping a
running maximum ``m``, normaliser ``l`` and output ``acc`` (fp32) — the scores
of a tile live only in registers and never reach GPU memory. Two details that
real kernels use:

- scores are scaled by ``log2(e)`` so the exponentials are ``exp2`` (a single
  hardware instruction): ``exp(x) = exp2(x * log2(e))``;
- a causal program stops at the last key tile its queries can see.

It also writes the log-sum-exp of every query row, which is all the backward
pass needs to rebuild the softmax: ``P = exp(S - lse)``. The backward here is
those few lines of plain PyTorch (it materialises ``P``: correct, not fast).

Runs on CUDA tensors. With ``TRITON_INTERPRET=1`` in the environment when
Python starts (torch imports Triton early, and Triton reads the variable then),
Triton's interpreter runs it on the CPU, which is how the tests hold it equal to
``naive`` on a machine without a GPU::

    pip install triton
    TRITON_INTERPRET=1 python -m pytest tests/attention
"""

from __future__ import annotations

import functools
import math
import os

import torch
from torch import Tensor

from .masks import combined_mask
from .registry import register_attention

BLOCK_M = 64
BLOCK_N = 64


@functools.lru_cache(maxsize=None)
def _kernel():
    """Build the kernel on first use (Triton reads TRITON_INTERPRET when a kernel is defined)."""
    import triton
    import triton.language as tl

    @triton.jit
    def flash_forward(
        Q, K, V, Mask, Out, Lse, scale,
        s_qb, s_qh, s_qm, s_qd, s_kb, s_kh, s_kn, s_kd, s_vb, s_vh, s_vn, s_vd,
        s_mb, s_mh, s_mm, s_mn, s_ob, s_oh, s_om, s_od,
        n_heads, n_q, n_k, offset,
        D: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
        CAUSAL: tl.constexpr, HAS_MASK: tl.constexpr, PRECISION: tl.constexpr, DOT_FP32: tl.constexpr,
    ):
        pid_m = tl.program_id(0)
        pid_bh = tl.program_id(1)
        b = pid_bh // n_heads
        h = pid_bh % n_heads
        rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)  # query positions of this program
        dims = tl.arange(0, BLOCK_D)
        row_ok = rows < n_q
        dim_ok = dims < D
        q = tl.load(Q + b * s_qb + h * s_qh + rows[:, None] * s_qm + dims[None, :] * s_qd,
                    mask=row_ok[:, None] & dim_ok[None, :], other=0.0)
        if DOT_FP32:
            q = q.to(tl.float32)
        m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)  # running max (log2 units)
        l_i = tl.zeros([BLOCK_M], tl.float32)  # running normaliser
        acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)  # running output
        qk_scale = scale * 1.4426950408889634  # log2(e)
        hi = n_k
        if CAUSAL:  # keys after the last query's position are masked for the whole tile
            hi = tl.minimum(n_k, (pid_m + 1) * BLOCK_M + offset)
        for start in range(0, hi, BLOCK_N):
            cols = start + tl.arange(0, BLOCK_N)
            col_ok = cols < n_k
            k = tl.load(K + b * s_kb + h * s_kh + cols[None, :] * s_kn + dims[:, None] * s_kd,
                        mask=col_ok[None, :] & dim_ok[:, None], other=0.0)  # [BLOCK_D BLOCK_N]
            if DOT_FP32:
                k = k.to(tl.float32)
            s = tl.dot(q, k, input_precision=PRECISION) * qk_scale  # [BLOCK_M BLOCK_N], fp32
            allowed = col_ok[None, :] & row_ok[:, None]
            if CAUSAL:  # end-aligned: query i sits at position i + offset
                allowed = allowed & (cols[None, :] <= rows[:, None] + offset)
            if HAS_MASK:
                user = tl.load(Mask + b * s_mb + h * s_mh + rows[:, None] * s_mm + cols[None, :] * s_mn,
                               mask=row_ok[:, None] & col_ok[None, :], other=0)
                allowed = allowed & (user != 0)
            s = tl.where(allowed, s, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(s, 1))
            m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)  # a row with no key yet: avoid inf - inf
            p = tl.exp2(s - m_safe[:, None])
            alpha = tl.exp2(m_i - m_safe)  # rescales what was accumulated under the old maximum
            l_i = l_i * alpha + tl.sum(p, 1)
            v = tl.load(V + b * s_vb + h * s_vh + cols[:, None] * s_vn + dims[None, :] * s_vd,
                        mask=col_ok[:, None] & dim_ok[None, :], other=0.0)  # [BLOCK_N BLOCK_D]
            if DOT_FP32:
                v = v.to(tl.float32)
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
            m_i = m_new
        l_safe = tl.where(l_i == 0.0, 1.0, l_i)  # a row that saw no key outputs zeros, as naive does
        out = acc / l_safe[:, None]
        tl.store(Out + b * s_ob + h * s_oh + rows[:, None] * s_om + dims[None, :] * s_od,
                 out.to(Out.dtype.element_ty), mask=row_ok[:, None] & dim_ok[None, :])
        lse = (m_i + tl.log2(l_safe)) * 0.6931471805599453  # natural log; -inf for an empty row
        tl.store(Lse + pid_bh * n_q + rows, lse, mask=row_ok)

    return flash_forward


def flash_forward(q: Tensor, k: Tensor, v: Tensor, causal: bool, scale: float, attn_mask: Tensor | None):
    """Launch the kernel: ``z [batch n_heads query_pos d_head]`` and ``lse [batch n_heads query_pos]`` (fp32)."""
    import triton

    batch, n_heads, n_q, d = q.shape
    n_k = k.shape[-2]
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    lse = torch.empty((batch, n_heads, n_q), dtype=torch.float32, device=q.device)
    if attn_mask is not None:
        mask = attn_mask.to(device=q.device, dtype=torch.int8).expand(batch, n_heads, n_q, n_k)  # strides 0 where broadcast
        mask_strides = mask.stride()
    else:
        mask, mask_strides = q, (0, 0, 0, 0)  # unused
    grid = (triton.cdiv(n_q, BLOCK_M), batch * n_heads)
    _kernel()[grid](
        q, k, v, mask, out, lse, scale,
        *q.stride(), *k.stride(), *v.stride(), *mask_strides, *out.stride(),
        n_heads, n_q, n_k, n_k - n_q,
        D=d, BLOCK_D=max(16, triton.next_power_of_2(d)), BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N,
        CAUSAL=causal, HAS_MASK=attn_mask is not None,
        PRECISION="ieee" if q.dtype == torch.float32 else "tf32",  # fp32 stays fp32; half inputs use tensor cores
        # Triton's interpreter multiplies bf16 tiles wrongly (numpy has no bf16): there, upcast them first
        DOT_FP32=q.dtype == torch.bfloat16 and os.environ.get("TRITON_INTERPRET") == "1",
    )
    return out, lse


def flash_backward(q, k, v, out, lse, d_out, causal: bool, scale: float, attn_mask: Tensor | None):
    """FlashAttention-2's backward equations from the saved log-sum-exp, in PyTorch (materialises ``P``)."""
    qf, kf, vf, of, dof = (t.float() for t in (q, k, v, out, d_out))
    scores = (qf @ kf.transpose(-1, -2)) * scale  # [batch n_heads query_pos key_pos]
    p = torch.exp(scores - lse[..., None])  # the softmax, rebuilt without a max/sum pass
    mask = combined_mask(q.shape[-2], k.shape[-2], causal, attn_mask, device=q.device)
    if mask is not None:
        p = p.masked_fill(~mask, 0.0)
    p = p.nan_to_num(0.0, posinf=0.0)  # rows that saw no key (lse = -inf)
    d_v = p.transpose(-1, -2) @ dof
    d_p = dof @ vf.transpose(-1, -2)
    delta = (dof * of).sum(-1, keepdim=True)  # rowsum(dO * O) = rowsum(P * dP)
    d_s = p * (d_p - delta) * scale
    d_q, d_k = d_s @ kf, d_s.transpose(-1, -2) @ qf
    return d_q.to(q.dtype), d_k.to(k.dtype), d_v.to(v.dtype)


# A custom op: torch.compile sees one opaque node with a known output shape (no graph
# break, no tracing into Triton's launcher), and autograd gets the backward above.
_SCHEMA = "(Tensor q, Tensor k, Tensor v, Tensor? attn_mask, bool causal, float scale) -> (Tensor, Tensor)"


def _flash_forward_impl(q, k, v, attn_mask, causal, scale):
    return flash_forward(q, k, v, causal, scale, attn_mask)


def _fake(q, k, v, attn_mask, causal, scale):
    return q.new_empty(q.shape), q.new_empty(q.shape[:-1], dtype=torch.float32)


def _setup_context(ctx, inputs, output):
    q, k, v, attn_mask, causal, scale = inputs
    out, lse = output
    ctx.save_for_backward(q, k, v, out, lse, attn_mask)
    ctx.causal, ctx.scale = causal, scale


def _backward(ctx, d_out, d_lse):
    q, k, v, out, lse, attn_mask = ctx.saved_tensors
    d_q, d_k, d_v = flash_backward(q, k, v, out, lse, d_out, ctx.causal, ctx.scale, attn_mask)
    return d_q, d_k, d_v, None, None, None


if hasattr(torch.library, "custom_op"):  # torch >= 2.4
    _flash_forward_op = torch.library.custom_op(
        "minigpt::triton_flash_forward", mutates_args=(), schema=_SCHEMA)(_flash_forward_impl)
    _flash_forward_op.register_fake(_fake)
    _flash_forward_op.register_autograd(_backward, setup_context=_setup_context)
else:
    _flash_forward_op = None


def triton_flash_attention(q, k, v, *, causal=True, scale=None, attn_mask=None) -> Tensor:
    """FlashAttention's forward in Triton (interpreted on the CPU with TRITON_INTERPRET=1)."""
    if q.device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError(
            f"the triton kernel runs on CUDA tensors (got {q.device.type}); with TRITON_INTERPRET=1 set in "
            "the environment before Python starts, Triton's interpreter runs it on the CPU"
        )
    if attn_mask is not None and attn_mask.dtype != torch.bool:
        raise TypeError(f"attn_mask must be a bool tensor (True = may attend), got {attn_mask.dtype}")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return _flash_forward_op(q, k, v, attn_mask, causal, scale)[0]


def probe() -> tuple[bool, str, tuple[str, ...], str]:
    if _flash_forward_op is None:
        return False, f"torch {torch.__version__} has no torch.library.custom_op (torch >= 2.4 has)", (), ""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False, "Triton is not installed (CUDA builds of torch bring it; or pip install triton)", (), ""
    if os.environ.get("TRITON_INTERPRET") == "1":
        try:  # the interpreter only works when the variable was set before triton was imported (torch imports it)
            q = torch.randn(1, 1, 4, 16)
            z = triton_flash_attention(q, q, q)
            from .naive import naive_attention

            torch.testing.assert_close(z, naive_attention(q, q, q), atol=1e-4, rtol=1e-4)
        except Exception as exc:
            return False, ("TRITON_INTERPRET=1 is set, but Triton's interpreter fails here (set the variable in "
                           f"the environment before starting Python): {type(exc).__name__}: {str(exc)[:150]}"), (), ""
        return True, "", (), "TRITON_INTERPRET=1: Triton's interpreter runs it on the CPU (slow, for testing)"
    if torch.cuda.is_available():
        return True, "", (), "forward in Triton; backward in PyTorch from the saved log-sum-exp"
    return False, "Triton kernels need a CUDA GPU (or TRITON_INTERPRET=1 for Triton's CPU interpreter)", (), ""


register_attention("triton", available=probe, description="FlashAttention's forward pass as a Triton kernel")(
    triton_flash_attention
)
