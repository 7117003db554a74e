"""A feature dashboard: one MLP neuron or SAE latent, read from its top contexts, histogram and logits.

The page shows, as Anthropic's "Towards Monosemanticity" and Neuronpedia do:

- the top-activating contexts, each token's background coloured by its activation (white at
  0, red at the feature's largest activation; the peak token outlined; hover for the value);
- a histogram of the activations where the feature fires, with its density (the share of
  tokens where it is not 0);
- its direct logit effect: the tokens it pushes up most and down most through ``ln_final``
  and ``W_U`` (:func:`minigpt.interp.features.logit_effect`).

:func:`feature_dashboard` takes the activations and the residual direction, so it serves any
feature; :func:`neuron_dashboard` and :func:`latent_dashboard` compute them for a neuron and for
an SAE latent (any object with ``encode`` and ``W_dec``).

>>> import torch
>>> from minigpt.checkpoints import load_checkpoint
>>> model = load_checkpoint("stdlib-bytes")
>>> tokens = model.to_tokens(["def f(x):\\n    return x\\n", "class A:\\n    pass\\n"])   # [batch=2 pos=24]
>>> view = neuron_dashboard(model, tokens, layer=0, neuron=7, k=3, window=(8, 2))
>>> len(view.payload["contexts"]), len(view.payload["logits"]["promoted"])
(3, 10)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from minigpt.interp.features import (FeatureContext, activation_histogram, latent_acts, latent_direction, logit_effect,
                                     neuron_acts, neuron_direction, sae_hook_name, top_activating_contexts)
from minigpt.interp.prompts import as_tokens
from minigpt.viz.grid import GridView, _round
from minigpt.viz.interventions import token_strings
from minigpt.viz.payload_view import payload_view


def batch_tokens(model, tokens) -> Tensor:
    """Text (one string or a list of them, through ``model.to_tokens``) or ids as ``[batch pos]``."""
    if isinstance(tokens, str) or (isinstance(tokens, list) and tokens and isinstance(tokens[0], str)):
        return model.to_tokens(tokens)
    tokens = torch.as_tensor(tokens)
    return as_tokens(model, tokens)[None] if tokens.ndim == 1 else tokens


def context_payload(model, context: FeatureContext) -> dict:
    """A context as the page draws it: its tokens as text, activations to 4 digits, the peak's index."""
    return {"batch": context.batch, "pos": context.pos, "value": float(f"{context.value:.4g}"), "peak": context.peak,
            "tokens": token_strings(model, context.tokens), "acts": _round(np.asarray(context.acts))}


def feature_dashboard(model, tokens, acts: Tensor, direction: Tensor | None = None, *, title: str | None = None,
                      k: int = 20, window: int | tuple[int, int] = (32, 8), one_per_sequence: bool = False,
                      bins: int = 30, n_logits: int = 10, label: str = "activation") -> GridView:
    """The dashboard of a feature with activations ``acts: [batch pos]`` on ``tokens: [batch pos]``.

    ``direction``: what the feature writes to the residual stream (``[d_model]``; e.g.
    :func:`~minigpt.interp.features.neuron_direction`); None leaves out the logit effects.
    ``k`` contexts of ``window = (before, after)`` tokens around each peak
    (:func:`~minigpt.interp.features.top_activating_contexts`); ``bins`` for the histogram of
    the non-zero activations; the top ``n_logits`` promoted and suppressed tokens.
    """
    tokens = batch_tokens(model, tokens)
    acts = torch.as_tensor(acts).detach().float().cpu()
    if acts.shape != tokens.shape:
        raise ValueError(f"expected one activation per token: tokens {list(tokens.shape)}, acts {list(acts.shape)}")
    if not torch.isfinite(acts).all():
        raise ValueError("the activations hold NaN or inf")
    contexts = top_activating_contexts(acts, tokens, k=k, window=window, one_per_sequence=one_per_sequence)
    hist = activation_histogram(acts, bins=bins)
    logits = None
    if direction is not None:
        effect = logit_effect(model, direction, k=n_logits)
        logits = {side: [[t.text, float(f"{t.value:.4g}"), t.token] for t in getattr(effect, side)]
                  for side in ("promoted", "suppressed")}
    title = title or "feature dashboard"
    payload = {
        "kind": "feature_dashboard", "title": title, "label": label,
        "stats": {"max": float(acts.max()), "min": float(acts.min()), "density": hist.density,
                  "n_tokens": hist.n_total, "n_nonzero": hist.n_nonzero},
        "vmax": max(float(acts.max()), 1e-12),
        "contexts": [context_payload(model, c) for c in contexts],
        "hist": {"edges": _round(hist.edges.numpy()), "counts": hist.counts.tolist()},
        "logits": logits,
    }
    return payload_view(payload, render="minigptDashboard", asset="dashboard.js", title=title,
                        height=360 + 24 * len(contexts))


def neuron_dashboard(model, tokens, layer: int, neuron: int, **kwargs) -> GridView:
    """:func:`feature_dashboard` of MLP neuron ``neuron`` of ``layer`` (``blocks.{layer}.mlp.hook_post``)."""
    tokens = batch_tokens(model, tokens)
    kwargs.setdefault("title", f"neuron {neuron} of layer {layer} (blocks.{layer}.mlp.hook_post)")
    return feature_dashboard(model, tokens, neuron_acts(model, tokens, layer, neuron),
                             neuron_direction(model, layer, neuron), **kwargs)


def latent_dashboard(model, tokens, sae, latent: int, hook_name: str | None = None, **kwargs) -> GridView:
    """:func:`feature_dashboard` of latent ``latent`` of ``sae`` (``encode``, ``W_dec``) reading ``hook_name``.

    ``hook_name`` defaults to the one the SAE records (``sae.cfg.hook_name``).
    """
    tokens, hook_name = batch_tokens(model, tokens), sae_hook_name(sae, hook_name)
    if not 0 <= latent < sae.W_dec.shape[0]:
        raise ValueError(f"latent {latent} is out of range: the SAE has {sae.W_dec.shape[0]} latents")
    kwargs.setdefault("title", f"SAE latent {latent} on {hook_name}")
    return feature_dashboard(model, tokens, latent_acts(model, tokens, sae, hook_name, latent),
                             latent_direction(model, sae, latent, hook_name), **kwargs)
