"""A feature atlas: every latent's decoder direction as a point on a 2-D map; hover for its top context.

Directions that point the same way land close together. The map is the top two principal
components of the directions (:func:`pca_project`: centred, then an SVD with torch; linear, so
distances along the axes mean what they say, unlike t-SNE or UMAP), each axis labelled with the
share of the variance it keeps. Hovering a point shows the latent's label, its largest
activation and the context where it happened, coloured token by token.

>>> import torch
>>> directions = torch.tensor([[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.0, 0.0, 1.0]])    # [n d]
>>> view = feature_atlas(directions, contexts=["a cat", "a kitten", "an integer"])
>>> view.payload["labels"], [round(x, 2) for x in view.payload["xs"]]   # the two cats side by side
(['latent 0', 'latent 1', 'latent 2'], [-0.49, -0.43, 0.92])
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from minigpt.interp.features import FeatureContext, latent_acts, sae_hook_name, top_context_per_feature
from minigpt.viz.features_view import batch_tokens, context_payload
from minigpt.viz.grid import GridView, _round, check_labels
from minigpt.viz.html import _colour
from minigpt.viz.payload_view import payload_view


def pca_project(x: Tensor, n_components: int = 2) -> tuple[Tensor, Tensor]:
    """``x: [n d]`` → (coordinates ``[n n_components]`` on the top principal axes, their share of the variance).

    Centred, then ``torch.linalg.svd``; each axis's sign is fixed so that its largest loading is
    positive, so the map does not flip between runs.

    >>> coords, explained = pca_project(torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 0.5], [0.0, -0.5]]))
    >>> coords.tolist(), [round(v, 4) for v in explained.tolist()]        # variance 8 + 0.5: 8/8.5, 0.5/8.5
    ([[2.0, 0.0], [-2.0, 0.0], [0.0, 0.5], [0.0, -0.5]], [0.9412, 0.0588])
    """
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"expected directions [n d] with n >= 2, got shape {list(x.shape)}")
    x = x.detach().float().cpu()
    centred = x - x.mean(dim=0)  # [n d]
    _, S, Vh = torch.linalg.svd(centred, full_matrices=False)  # Vh: [min(n, d) d]
    axes = Vh[:n_components]  # [n_components d]
    signs = torch.sign(axes.gather(1, axes.abs().argmax(dim=1, keepdim=True)))  # [n_components 1]
    axes = axes * torch.where(signs == 0, 1.0, signs)
    variance = S.square()
    return centred @ axes.T, variance[:n_components] / variance.sum().clamp_min(1e-30)


def _context(model, context) -> dict | None:
    if context is None:
        return None
    if isinstance(context, str):
        return {"value": None, "peak": -1, "tokens": [context], "acts": [0.0]}
    if isinstance(context, FeatureContext):
        return context_payload(model, context)
    raise TypeError(f"a context must be None, a string or a FeatureContext, not {type(context).__name__}")


def feature_atlas(directions: Tensor, contexts: Sequence[FeatureContext | str | None] | None = None, *,
                  labels: Sequence[str] | None = None, values: Tensor | Sequence[float] | None = None,
                  model=None, value_label: str = "max activation", title: str | None = None) -> GridView:
    """The map of ``directions: [n d]`` (e.g. an SAE's ``W_dec``) by PCA; hover a point for its context.

    ``contexts``: per direction, its top context (a :class:`~minigpt.interp.features.FeatureContext`,
    whose token ids ``model`` turns into text), a string, or None. ``labels``: a name per
    direction (``latent i`` by default). ``values``: a number per direction that colours its
    point (white to red), e.g. the largest activation.
    """
    directions = torch.as_tensor(directions).detach().float()
    coords, explained = pca_project(directions)
    n = directions.shape[0]
    if coords.shape[1] < 2:  # one-dimensional data: everything on the x axis
        coords = torch.cat([coords, torch.zeros(n, 2 - coords.shape[1])], dim=1)
        explained = torch.cat([explained, torch.zeros(2 - len(explained))])
    contexts = [None] * n if contexts is None else list(contexts)
    if len(contexts) != n:
        raise ValueError(f"got {len(contexts)} contexts for {n} directions")
    colours = ["rgb(70,110,200)"] * n
    if values is not None:
        values = torch.as_tensor(values, dtype=torch.float32).flatten()
        if values.shape != (n,) or not torch.isfinite(values).all():
            raise ValueError(f"expected {n} finite values, one per direction, got shape {list(values.shape)}")
        top = float(values.max()) or 1.0
        colours = [_colour(min(max(float(v) / top, 0.0), 1.0), False) for v in values]
    title = title or f"feature atlas: {n} directions by PCA"
    labels = check_labels(labels, n, "labels", [f"latent {i}" for i in range(n)])
    payload = {
        "kind": "feature_atlas", "title": title, "xs": _round(coords[:, 0].numpy()), "ys": _round(coords[:, 1].numpy()),
        "explained": _round(explained.numpy()), "labels": labels,
        "colours": colours, "values": None if values is None else _round(values.numpy()), "value_label": value_label,
        "contexts": [_context(model, c) for c in contexts],
    }
    return payload_view(payload, render="minigptAtlas", asset="atlas.js", title=title, height=520)


def sae_atlas(model, tokens, sae, hook_name: str | None = None, *, window: int | tuple[int, int] = (16, 4),
              batch_size: int = 32, title: str | None = None) -> GridView:
    """:func:`feature_atlas` of ``sae.W_dec`` with each latent's top context on ``tokens`` and its max activation.

    ``sae``: anything with ``encode(x) -> [..., d_sae]`` and ``W_dec: [d_sae, d_in]``, reading
    the activation ``hook_name`` (default: ``sae.cfg.hook_name``). Latents that never fire are
    labelled ``(dead)``. Holds all latents' activations, ``[batch pos d_sae]``, at once.
    """
    tokens, hook_name = batch_tokens(model, tokens), sae_hook_name(sae, hook_name)
    acts = latent_acts(model, tokens, sae, hook_name, batch_size=batch_size)  # [batch pos d_sae]
    contexts = top_context_per_feature(acts, tokens, window)
    labels = [f"latent {i}" + (" (dead)" if c is None else "") for i, c in enumerate(contexts)]
    return feature_atlas(sae.W_dec, contexts, labels=labels, values=acts.flatten(0, 1).max(dim=0).values.clamp_min(0),
                         model=model, title=title or f"SAE on {hook_name}: {len(labels)} decoder directions by PCA")
