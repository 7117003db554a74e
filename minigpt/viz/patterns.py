"""Attention patterns in, checked ``[n_layers, n_heads, query_pos, key_pos]`` arrays out.

The viewers take either a model and a text (run here, patterns read from the
cache) or a pattern tensor and its string tokens. Everything is checked up
front, with errors that say which shape was expected and which came.

Patterns travel to the browser as uint8 (``round(w * 255)``), only the causal
lower triangle when the upper one is empty, deflate-compressed and base64'd:

>>> import numpy as np
>>> p = np.array([[[[1.0, 0.0], [0.25, 0.75]]]])
>>> q, tri = quantize(p)
>>> q.tolist(), tri
([255, 64, 191], True)
>>> print(dequantize(q, tri, 1, 1, 2, 2)[0, 0].round(3))
[[1.    0.   ]
 [0.251 0.749]]
"""

from __future__ import annotations

import base64
import zlib
from typing import Any, Sequence

import numpy as np
import torch


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float32).numpy()
    return np.asarray(x, dtype=np.float32)


def is_model(obj: Any) -> bool:
    return isinstance(obj, torch.nn.Module) and hasattr(obj, "run_with_cache")


def patterns_from_model(model, text: str | Sequence[str] | torch.Tensor) -> tuple[np.ndarray, list[str]]:
    """Run ``model`` on ``text`` (a string, string tokens are not accepted, or a ``[pos]`` token tensor).

    Returns (patterns ``[n_layers, n_heads, pos, pos]``, string tokens).
    """
    if isinstance(text, torch.Tensor):
        tokens = text.reshape(1, -1) if text.ndim == 1 else text
        if tokens.ndim != 2 or tokens.shape[0] != 1:
            raise ValueError(f"expected one sequence of tokens [pos] or [1, pos], got shape {tuple(text.shape)}")
    elif isinstance(text, str):
        tokens = model.to_tokens(text)
    else:
        raise TypeError(f"with a model, pass the text as a string or a [pos] token tensor, not {type(text).__name__}")
    str_tokens = model.to_str_tokens(tokens[0])
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda name: name.endswith("hook_pattern"))
    pattern = torch.stack([cache["pattern", layer][0] for layer in range(model.cfg.n_layers)])
    return _to_numpy(pattern), list(str_tokens)


def patterns_from_cache(cache, n_layers: int | None = None) -> np.ndarray:
    """Stack ``cache["pattern", layer]`` for every layer (batch index 0 when there is a batch axis)."""
    layers = []
    layer = 0
    while n_layers is None or layer < n_layers:
        try:
            p = cache["pattern", layer]
        except KeyError:
            break
        layers.append(p[0] if p.ndim == 4 else p)
        layer += 1
    if not layers:
        raise ValueError("the cache holds no attention pattern (run_with_cache with hook_pattern kept)")
    return _to_numpy(torch.stack(layers))


def check_patterns(pattern: Any, str_tokens: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    """Pattern ``[n_heads, q, k]`` or ``[n_layers, n_heads, q, k]`` (+ tokens) → 4-D float32 array and tokens."""
    if hasattr(pattern, "stack") and not isinstance(pattern, (torch.Tensor, np.ndarray)):
        pattern = patterns_from_cache(pattern)
    p = _to_numpy(pattern)
    if p.ndim == 3:
        p = p[None]
    if p.ndim != 4:
        raise ValueError(
            "expected an attention pattern of shape [n_heads, query_pos, key_pos] or "
            f"[n_layers, n_heads, query_pos, key_pos], got shape {tuple(p.shape)}"
        )
    n_q, n_k = p.shape[-2:]
    if n_q == 0 or n_k == 0 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"the attention pattern is empty: shape {tuple(p.shape)}")
    if not np.isfinite(p).all():
        raise ValueError("the attention pattern holds NaN or inf")
    if p.min() < -1e-3 or p.max() > 1 + 1e-3:
        raise ValueError(
            f"attention weights must lie in [0, 1] (softmax output), got range [{p.min():.3g}, {p.max():.3g}]; "
            "did you pass attention scores instead of the pattern?"
        )
    if str_tokens is None:
        str_tokens = [str(i) for i in range(n_k)]
    if isinstance(str_tokens, str) or not all(isinstance(t, str) for t in str_tokens):
        raise TypeError("str_tokens must be a list of strings, e.g. model.to_str_tokens(text)")
    str_tokens = list(str_tokens)
    if len(str_tokens) != n_k:
        raise ValueError(
            f"got {len(str_tokens)} string tokens but the pattern has {n_k} key positions "
            f"(pattern shape {tuple(p.shape)})"
        )
    if n_q != n_k:
        raise ValueError(f"expected a square pattern (query_pos == key_pos), got shape {tuple(p.shape)}")
    return np.clip(p, 0.0, 1.0), str_tokens


def quantize(p: np.ndarray) -> tuple[np.ndarray, bool]:
    """uint8 weights, row by row; only the lower triangle (k <= q) when the rest is zero."""
    q8 = np.rint(np.clip(p, 0, 1) * 255).astype(np.uint8)
    n_q, n_k = p.shape[-2:]
    tri = n_q == n_k and not np.triu(q8, k=1).any()
    if tri:
        rows, cols = np.tril_indices(n_q)
        return q8[..., rows, cols].reshape(-1), True
    return q8.reshape(-1), False


def dequantize(flat: np.ndarray, tri: bool, n_layers: int, n_heads: int, n_q: int, n_k: int) -> np.ndarray:
    """Inverse of :func:`quantize` (up to the 1/510 rounding)."""
    out = np.zeros((n_layers, n_heads, n_q, n_k), dtype=np.float32)
    if tri:
        rows, cols = np.tril_indices(n_q)
        out[..., rows, cols] = flat.reshape(n_layers, n_heads, -1) / 255
    else:
        out[:] = flat.reshape(out.shape) / 255
    return out


def encode(flat: np.ndarray) -> str:
    """uint8 bytes → deflate (zlib) → base64 text (the browser inflates with DecompressionStream)."""
    return base64.b64encode(zlib.compress(flat.tobytes(), 6)).decode("ascii")


def decode(text: str) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.uint8)
