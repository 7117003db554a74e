"""One grid of coloured cells with a tooltip: the HTML document behind the intervention views.

A grid is ``[n_rows, n_cols]`` values (layer x position, layer x head, token x layer), one
colour per cell from a scale ``lo .. hi`` (white at ``lo``, or at 0 on a diverging scale),
labels on both axes, and a legend. Hovering a cell shows every value it carries (``series``)
and, for the lens, its top-k tokens. The cells are drawn on one ``<canvas>`` (``grid.js``), so
13 layers x 1024 positions stay responsive; the colours are computed here, with the palette
of :func:`~minigpt.viz.colored_tokens`.

>>> import numpy as np
>>> view = grid_view([("effect", np.array([[-1.0, 0.0], [0.5, 1.0]]))], rows=["L0", "L1"],
...                  cols=["a", "b"], lo=-1.0, hi=1.0, diverging=True)
>>> payload = view.payload
>>> payload["colours"][:2], payload["series"][0]["values"]        # blue at -1, white at 0
(['rgb(85,135,255)', 'rgb(255,255,255)'], [-1.0, 0.0, 0.5, 1.0])
"""

from __future__ import annotations

import html as html_lib
import json
import secrets
from typing import Any, Sequence

import numpy as np

from minigpt.viz.html import HTMLView, _colour, _document, _json_for_script, _legend, _script


def _round(x: np.ndarray) -> list[float]:
    """Four significant digits: what a tooltip shows, at a third of the JSON size of full floats."""
    return [float(f"{v:.4g}") for v in np.asarray(x, dtype=np.float64).ravel()]


def check_labels(labels: Sequence[str] | None, n: int, what: str, default: Sequence[str]) -> list[str]:
    """``labels`` as a list of ``n`` strings (``default`` when None); an error that says which count came."""
    if labels is None:
        return list(default)
    if isinstance(labels, str) or not all(isinstance(s, str) for s in labels):
        raise TypeError(f"{what} must be a list of strings, e.g. model.to_str_tokens(text)")
    if len(labels) != n:
        raise ValueError(f"got {len(labels)} {what}, expected {n}")
    return list(labels)


class GridView(HTMLView):
    """An :class:`HTMLView` that keeps the data it sent (``.payload``), for tests and reuse."""

    def __init__(self, document: str, payload: dict, height: int):
        super().__init__(document, height=height)
        self.payload = payload


def grid_view(series: Sequence[tuple[str, Any]], *, rows: Sequence[str], cols: Sequence[str], lo: float,
              hi: float, diverging: bool, kind: str = "grid", title: str | None = None, x_label: str = "",
              y_label: str = "", legend: str | None = None, cell_text: Sequence[str] | None = None,
              top: dict | None = None, token_axis: str | None = None, cell: tuple[int, int] = (28, 22)) -> GridView:
    """The document: the first of ``series`` (``(label, [n_rows, n_cols] values)``) gives the colours.

    ``cell_text``: a word per cell (row-major), drawn in it. ``top``: ``{"k", "vocab", "ids",
    "probs"}`` (``ids``/``probs`` row-major, ``k`` per cell, ids into ``vocab``) listed on hover.
    ``token_axis``: ``"rows"`` or ``"cols"`` when those labels are tokens (quoted in the
    tooltip, so a leading space shows). ``cell``: (width, height) of a cell in CSS pixels.
    """
    arrays = [np.asarray(values, dtype=np.float64) for _, values in series]
    n_rows, n_cols = len(rows), len(cols)
    for (label, _), values in zip(series, arrays):
        if values.shape != (n_rows, n_cols):
            raise ValueError(f"{label}: expected shape [{n_rows}, {n_cols}] (rows x columns), got {values.shape}")
        if not np.isfinite(values).all():
            raise ValueError(f"{label}: the values hold NaN or inf")
    span = (hi - lo) or 1.0
    t = np.clip((arrays[0] - lo) / span, 0.0, 1.0).ravel()
    payload = {
        "kind": kind, "n_rows": n_rows, "n_cols": n_cols, "rows": list(rows), "cols": list(cols),
        "x_label": x_label, "y_label": y_label, "cell": list(cell), "token_axis": token_axis,
        "colours": [_colour(float(v), diverging) for v in t],
        "series": [{"label": label, "values": _round(values)} for (label, _), values in zip(series, arrays)],
        "text": list(cell_text) if cell_text is not None else None,
        "top": None if top is None else {**top, "probs": _round(top["probs"])},
    }
    view_id = secrets.token_hex(6)
    heading = f'<div class="mg-title">{html_lib.escape(title)}</div>' if title else ""
    body = (
        f'<div class="mg-view" id="minigpt-{view_id}">{heading}<div class="mg-tip"></div>'
        f'<div class="mg-scroll"></div>{_legend(legend or series[0][0], lo, hi, diverging)}</div>'
    ).replace("//", "/&#47;")  # a title never spells a URL
    body += f'<script type="application/json" id="minigpt-data-{view_id}">{_json_for_script(payload)}</script>'
    script = _script(f"minigptGrid({json.dumps(view_id)});", "grid.js")
    height = 200 + n_rows * cell[1] + min(180, 8 * max(len(s) for s in cols))
    return GridView(_document(title or f"minigpt {kind}", body, script), payload, height=min(height, 1200))
