"""A view as one JSON payload and one script: the document behind the neuron view, dashboard and atlas.

The page is :func:`~minigpt.viz.html._document` (the shared style, nothing outside it); the
body holds a root ``<div>`` with a tooltip, the payload as ``<script type="application/json">``
(:func:`~minigpt.viz.html._json_for_script`: no ``</script>``, no ``//``) and the script that
renders it (``ui.js``, then ``features_ui.js``: the palette and a context drawn as coloured
tokens, then the view's own asset, then ``render(id)``), with the feature views' style
(``features.css``). Text from the data reaches the page only through
``textContent``, so a token like ``<img src=x onerror=...>`` shows as itself.

>>> view = payload_view({"kind": "demo", "tokens": ["</script>"]}, render="minigptNeuronView", asset="neuron.js",
...                     title="demo", height=300)
>>> view.payload["tokens"], '"</script>"' in view.html, "http" in view.html
(['</script>'], False, False)
"""

from __future__ import annotations

import json
import secrets

from minigpt.viz.grid import GridView
from minigpt.viz.html import _asset, _document, _json_for_script, _script


def payload_view(payload: dict, *, render: str, asset: str, title: str, height: int) -> GridView:
    """The document for ``payload``, drawn in the page by ``window[render](id)`` from ``asset``.

    Returns a :class:`~minigpt.viz.grid.GridView` (an ``HTMLView`` that keeps ``.payload``).
    """
    view_id = secrets.token_hex(6)
    body = (
        f"<style>{_asset('features.css')}</style>"
        f'<div class="mg-view" id="minigpt-{view_id}"><div class="mg-tip"></div></div>'
        f'<script type="application/json" id="minigpt-data-{view_id}">{_json_for_script(payload)}</script>'
    )
    script = _script(f"{render}({json.dumps(view_id)});", "features_ui.js", asset)
    return GridView(_document(title, body, script), payload, height=min(height, 1400))
