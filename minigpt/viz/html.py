"""Self-contained HTML viewers: attention lines, a head grid, coloured tokens.

Each view is ONE HTML document with its script and style inline and no
reference to anything outside it (no CDN, no font, no URL), so it opens from
disk, in a notebook (``_repr_html_``: an ``<iframe srcdoc>``, so views never
collide), or attached to an e-mail.

>>> import torch
>>> pattern = torch.tensor([[[1.0, 0.0], [0.3, 0.7]]])     # [n_heads, query_pos, key_pos]
>>> view = head_view(pattern, ["Hello", " world"])
>>> view.html.startswith("<!DOCTYPE html>"), "http" in view.html
(True, False)
"""

from __future__ import annotations

import html as html_lib
import json
import secrets
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from minigpt.viz.patterns import check_patterns, encode, is_model, patterns_from_model, quantize


def _asset(name: str) -> str:
    return resources.files("minigpt.viz").joinpath("assets", name).read_text(encoding="utf-8")


def _json_for_script(obj: Any) -> str:
    """JSON that is safe inside <script> and never spells a URL scheme (``//`` becomes ``\\/\\/``)."""
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("/", "\\/")


class HTMLView:
    """One self-contained HTML document: ``.html``, ``.save(path)``, shown inline by Jupyter."""

    def __init__(self, document: str, height: int = 600):
        self.html = document
        self.height = height

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.html, encoding="utf-8")
        return path

    def _repr_html_(self) -> str:
        return (
            f'<iframe srcdoc="{html_lib.escape(self.html, quote=True)}" '
            f'style="width:100%;height:{self.height}px;border:none"></iframe>'
        )

    def __str__(self) -> str:
        return self.html

    def __len__(self) -> int:
        return len(self.html.encode("utf-8"))


def _document(title: str, body: str, script: str = "") -> str:
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html_lib.escape(title).replace('/', '&#47;')}</title><style>{_asset('viewer.css')}</style></head>"
        f"<body>{body}{script}</body></html>\n"
    )


def _script(call: str, *assets: str) -> str:
    """One inline ``<script>``: the assets (``ui.js`` first: the shared helpers), then ``call``."""
    return "<script>" + "\n".join(_asset(name) for name in ("ui.js", *assets)) + f"\n{call}</script>"


def _attention_view(kind: str, pattern, str_tokens, layer: int, head: int, title: str | None) -> HTMLView:
    if is_model(pattern):
        if str_tokens is None:
            raise TypeError(f"{kind}_view(model, text): the text is missing")
        p, toks = patterns_from_model(pattern, str_tokens)
    else:
        p, toks = check_patterns(pattern, str_tokens)
    n_layers, n_heads, n_q, n_k = p.shape
    if not (0 <= layer < n_layers and 0 <= head < n_heads):
        raise ValueError(f"layer {layer}, head {head} out of range for {n_layers} layers x {n_heads} heads")
    flat, tri = quantize(p)
    view_id = secrets.token_hex(6)
    payload = {
        "kind": kind, "n_layers": n_layers, "n_heads": n_heads, "n_q": n_q, "n_k": n_k, "tri": tri,
        "layer": layer, "head": head, "title": title, "tokens": toks, "data": encode(flat),
    }
    body = (
        f'<div class="mg-view" id="minigpt-{view_id}"></div>'
        f'<script type="application/json" id="minigpt-data-{view_id}">{_json_for_script(payload)}</script>'
    )
    script = _script(f"minigptRender({json.dumps(view_id)});", "viewer.js")
    height = 120 + (min(n_q, 40) * 18 if kind == "head" else n_layers * 72 + 420)
    return HTMLView(_document(title or f"minigpt {kind} view", body, script), height=min(height, 1200))


def head_view(pattern, str_tokens: Sequence[str] | str | None = None, *, layer: int = 0, head: int = 0,
              title: str | None = None) -> HTMLView:
    """Tokens in two columns, attention drawn as lines (opacity = weight); layer and head selectors.

    ``head_view(model, text)``, or ``head_view(pattern, str_tokens)`` with a pattern of shape
    ``[n_heads, query_pos, key_pos]`` or ``[n_layers, n_heads, query_pos, key_pos]`` (or an
    ActivationCache). Hover a token on the left to see where it attends, on the right to see
    what attends to it. In the page, ``window.minigptViews[id].rowWeights(layer, head, query)``
    returns the drawn weights.
    """
    return _attention_view("head", pattern, str_tokens, layer, head, title)


def model_view(pattern, str_tokens: Sequence[str] | str | None = None, *, layer: int = 0, head: int = 0,
               title: str | None = None) -> HTMLView:
    """Every layer x head as a small heatmap; click one to open it large (hover for the weight)."""
    return _attention_view("model", pattern, str_tokens, layer, head, title)


def _colour(t: float, diverging: bool) -> str:
    """t in [0, 1] → white-to-red, or blue-white-red when ``diverging`` (t = 0.5 is white)."""
    if diverging:
        s = 2 * t - 1
        r, g, b = (255, 255 - 170 * s, 255 - 170 * s) if s >= 0 else (255 + 170 * s, 255 + 120 * s, 255)
    else:
        r, g, b = 255, 255 - 190 * t, 255 - 210 * t
    return f"rgb({r:.0f},{g:.0f},{b:.0f})"


def _legend(label: str, lo: float, hi: float, diverging: bool) -> str:
    """A colour bar from ``lo`` to ``hi`` in the palette of :func:`_colour`, as HTML."""
    grad = ",".join(_colour(t, diverging) for t in np.linspace(0, 1, 5))
    return (
        f'<div class="mg-legend"><span>{html_lib.escape(label)}</span><span>{lo:.3g}</span>'
        f'<span class="mg-bar-grad" style="background:linear-gradient(to right,{grad})"></span>'
        f"<span>{hi:.3g}</span></div>"
    )


def colored_tokens(str_tokens: Sequence[str], values, *, label: str = "value", title: str | None = None,
                   vmin: float | None = None, vmax: float | None = None) -> HTMLView:
    """Each token with its value (loss, activation, attribution) as background colour.

    Negative and positive values get a diverging (blue-white-red) scale centred on 0; otherwise
    white-to-red from ``vmin`` to ``vmax``. Hovering a token shows its value.
    """
    vals = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values, dtype=np.float64)
    if isinstance(str_tokens, str) or not all(isinstance(t, str) for t in str_tokens):
        raise TypeError("str_tokens must be a list of strings, e.g. model.to_str_tokens(text)")
    if vals.ndim != 1 or len(vals) != len(str_tokens):
        raise ValueError(f"expected one value per token: {len(str_tokens)} tokens, values of shape {vals.shape}")
    if len(vals) == 0 or not np.isfinite(vals).all():
        raise ValueError("values are empty or hold NaN or inf")
    lo = float(vals.min()) if vmin is None else float(vmin)
    hi = float(vals.max()) if vmax is None else float(vmax)
    diverging = lo < 0 < hi
    if diverging:
        lo, hi = -max(-lo, hi), max(-lo, hi)
    span = (hi - lo) or 1.0
    spans = []
    for i, (tok, v) in enumerate(zip(str_tokens, vals)):
        t = min(max((v - lo) / span, 0.0), 1.0)
        tip = html_lib.escape(f"[{i}] {tok!r}  {label} = {v:.4g}", quote=True)
        spans.append(
            f'<span class="mg-tok" style="background:{_colour(t, diverging)}" title="{tip}" '
            f'data-value="{v:.6g}">{html_lib.escape(tok)}</span>'
        )
    legend = _legend(label, lo, hi, diverging)
    head = f'<div class="mg-title">{html_lib.escape(title)}</div>' if title else ""
    body = f'<div class="mg-view">{head}<div class="mg-tokens">{"".join(spans)}</div>{legend}</div>'
    body = body.replace("//", "/&#47;")  # token text never spells a URL
    return HTMLView(_document(title or "minigpt tokens", body), height=120 + 28 * (1 + len(str_tokens) // 12))
