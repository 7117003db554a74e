"""Reading a feature: where it fires, how its activation is spread, what it writes to the logits.

A *feature* is anything with one number per token: an MLP neuron (``blocks.{L}.mlp.hook_post``
at one index) or a sparse-autoencoder latent (``sae.encode(x)`` at one index). Its
activations over a batch of text are ``acts: [batch pos]``; what it writes to the residual
stream when it fires with activation 1 is its *residual direction*, ``[d_model]``:

- a neuron ``n`` of layer ``L`` writes ``W_out[L][n]`` (:func:`neuron_direction`);
- an SAE latent ``i`` writes ``W_dec[i]`` into the space the SAE reads; an SAE on
  ``blocks.{L}.mlp.hook_post`` (``d_in = d_mlp``) therefore writes ``W_dec[i] @ W_out[L]``
  to the residual stream, one on a residual hook writes ``W_dec[i]`` itself
  (:func:`latent_direction`, :func:`residual_direction`).

A dashboard asks three questions of it: which contexts excite it most
(:func:`top_activating_contexts`), how its activations are distributed
(:func:`activation_histogram`), and which next tokens it pushes up or down directly, through
the final LayerNorm and the unembedding (:func:`logit_effect`, the "direct logit effect" of
ARENA's and Neuronpedia's dashboards). Hand-checkable:

>>> acts = torch.tensor([[0.0, 2.0, 0.5], [3.0, 0.0, 1.0]])          # [batch pos]
>>> tokens = torch.tensor([[10, 11, 12], [20, 21, 22]])
>>> [(c.batch, c.pos, c.value, c.tokens) for c in top_activating_contexts(acts, tokens, k=2, window=(1, 1))]
[(1, 0, 3.0, [20, 21]), (0, 1, 2.0, [10, 11, 12])]
>>> activation_histogram(acts, bins=2).counts.tolist()               # the 4 non-zero values, in 2 bins
[2, 2]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
from torch import Tensor

__all__ = [
    "FeatureContext", "Histogram", "LogitEffect", "TokenValue", "activation_histogram", "direct_logit_effect",
    "feature_acts", "latent_acts", "latent_direction", "logit_effect", "neuron_acts", "neuron_direction",
    "residual_direction", "sae_hook_name", "top_activating_contexts", "top_context_per_feature",
]


# ----------------------------------------------------------------------------- contexts
@dataclass
class FeatureContext:
    """A window of one sequence around a token where the feature fired.

    ``batch``, ``pos``: where the peak is; ``value``: the activation there; ``start``: the
    window's first position in the sequence; ``tokens``, ``acts``: the window's token ids and
    activations (``[window]``); ``peak = pos - start`` indexes the peak inside them.
    """

    batch: int
    pos: int
    value: float
    start: int
    tokens: list[int]
    acts: list[float]

    @property
    def peak(self) -> int:
        return self.pos - self.start


def _check_acts(acts: Tensor, tokens: Tensor, n_extra: int = 0) -> None:
    if not isinstance(acts, Tensor) or not isinstance(tokens, Tensor):
        raise TypeError(f"acts and tokens must be tensors, got {type(acts).__name__} and {type(tokens).__name__}")
    if tokens.ndim != 2 or tuple(acts.shape[:2]) != tuple(tokens.shape) or acts.ndim != 2 + n_extra:
        want = "[batch pos]" if n_extra == 0 else "[batch pos n_features]"
        raise ValueError(f"expected acts {want} and tokens [batch pos] of the same batch and pos, got acts "
                         f"{list(acts.shape)} and tokens {list(tokens.shape)}")


def _window(window: int | tuple[int, int]) -> tuple[int, int]:
    before, after = (window, window) if isinstance(window, int) else window
    if before < 0 or after < 0:
        raise ValueError(f"window = (tokens before, tokens after) the peak must be >= 0, got {window}")
    return before, after


def _context(acts: Tensor, tokens: Tensor, batch: int, pos: int, before: int, after: int) -> FeatureContext:
    start, end = max(0, pos - before), min(tokens.shape[1], pos + after + 1)
    return FeatureContext(batch=batch, pos=pos, value=float(acts[batch, pos]), start=start,
                   tokens=tokens[batch, start:end].tolist(), acts=acts[batch, start:end].tolist())


def top_activating_contexts(acts: Tensor, tokens: Tensor, k: int = 20, window: int | tuple[int, int] = (32, 8), *,
                            one_per_sequence: bool = False) -> list[FeatureContext]:
    """The ``k`` tokens with the largest activation, each with ``window = (before, after)`` tokens around it.

    ``acts: [batch pos]`` (one feature), ``tokens: [batch pos]``. Highest first; windows are
    cut at the sequence's ends. ``one_per_sequence`` keeps only each sequence's peak, so one
    long run of a feature does not fill the list with its neighbours.
    """
    _check_acts(acts, tokens)
    before, after = _window(window)
    acts = acts.detach().float().cpu()
    tokens = tokens.detach().cpu()
    if one_per_sequence:
        values, positions = acts.max(dim=1)  # [batch]
        top = values.topk(min(k, len(values)))
        peaks = [(int(b), int(positions[b])) for b in top.indices]
    else:
        top = acts.flatten().topk(min(k, acts.numel()))
        peaks = [divmod(int(i), acts.shape[1]) for i in top.indices]
    return [_context(acts, tokens, b, p, before, after) for b, p in peaks]


def top_context_per_feature(acts: Tensor, tokens: Tensor, window: int | tuple[int, int] = (16, 4)
                            ) -> list[FeatureContext | None]:
    """For each of many features (``acts: [batch pos n_features]``), the context of its largest activation.

    ``None`` for a feature that never rises above 0 (a dead latent).

    >>> acts = torch.tensor([[[0.0, 1.0], [2.0, 0.0]]])              # [batch=1 pos=2 n_features=2]
    >>> [(c.pos, c.value) for c in top_context_per_feature(acts, torch.tensor([[5, 6]]))]
    [(1, 2.0), (0, 1.0)]
    """
    _check_acts(acts, tokens, n_extra=1)
    before, after = _window(window)
    acts = acts.detach().float().cpu()
    values, flat = acts.flatten(0, 1).max(dim=0)  # [n_features]
    out: list[FeatureContext | None] = []
    for feature, (value, index) in enumerate(zip(values.tolist(), flat.tolist())):
        batch, pos = divmod(index, acts.shape[1])
        out.append(None if value <= 0 else _context(acts[..., feature], tokens.cpu(), batch, pos, before, after))
    return out


# ----------------------------------------------------------------------------- histogram
class Histogram(NamedTuple):
    """``counts: [bins]`` of the values between ``edges: [bins + 1]``; ``density`` = share of non-zero values."""

    counts: Tensor
    edges: Tensor
    n_total: int
    n_nonzero: int

    @property
    def density(self) -> float:
        return self.n_nonzero / max(self.n_total, 1)


def activation_histogram(acts: Tensor, bins: int = 30, *, nonzero: bool = True) -> Histogram:
    """A histogram of the activations (``numpy.histogram``'s edges: ``bins`` equal bins from min to max).

    ``nonzero``: count only the tokens where the feature fires (``acts != 0``), as feature
    dashboards do; most of an SAE latent's activations are exactly 0, and its density says how
    many are not.
    """
    values = acts.detach().float().flatten().cpu()
    n_nonzero = int((values != 0).sum())
    if nonzero:
        values = values[values != 0]
    if len(values) == 0:
        return Histogram(torch.zeros(bins, dtype=torch.long), torch.linspace(0, 1, bins + 1), acts.numel(), 0)
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:  # one value: a bin of width 1 around it, as numpy does
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = torch.histogram(values, bins=bins, range=(lo, hi))
    return Histogram(counts.long(), edges, acts.numel(), n_nonzero)


# ------------------------------------------------------------------- activations of a model
def feature_acts(model, tokens: Tensor, hook_name: str, fn: Callable[[Tensor], Tensor] | None = None,
                 batch_size: int = 32) -> Tensor:
    """``fn(activation at hook_name)`` over ``tokens: [batch pos]``, run ``batch_size`` sequences at a time.

    ``fn`` keeps what is needed (one neuron, an SAE's latents) so the whole activation is never
    stored for the whole batch. Returns ``[batch pos ...]`` on the CPU.
    """
    if tokens.ndim == 1:
        tokens = tokens[None]
    store: list[Tensor] = []

    def keep(activation: Tensor, hook) -> None:
        store.append((activation if fn is None else fn(activation)).detach().cpu())

    with torch.no_grad(), model.hooks(fwd_hooks=[(hook_name, keep)]):
        for i in range(0, tokens.shape[0], batch_size):
            model(tokens[i:i + batch_size].to(model.device), return_type=None)
    return torch.cat(store)


def neuron_acts(model, tokens: Tensor, layer: int, neuron: int, batch_size: int = 32) -> Tensor:
    """``blocks.{layer}.mlp.hook_post[..., neuron]`` over ``tokens``: ``[batch pos]``."""
    if not 0 <= neuron < model.cfg.d_mlp:
        raise ValueError(f"neuron {neuron} is out of range: layer {layer} has d_mlp = {model.cfg.d_mlp} neurons")
    return feature_acts(model, tokens, f"blocks.{layer}.mlp.hook_post", lambda a: a[..., neuron], batch_size)


def sae_hook_name(sae, hook_name: str | None = None) -> str:
    """``hook_name``, else the one the SAE records (``sae.cfg.hook_name``, as :class:`minigpt.sae.SAE` does)."""
    hook_name = hook_name or getattr(getattr(sae, "cfg", None), "hook_name", None)
    if not hook_name:
        raise ValueError("which activation does the SAE read? pass hook_name, e.g. 'blocks.0.mlp.hook_post'")
    return hook_name


def latent_acts(model, tokens: Tensor, sae, hook_name: str | None = None, latent: int | None = None,
                batch_size: int = 32) -> Tensor:
    """``sae.encode(activation at hook_name)``: ``[batch pos d_sae]``, or ``[batch pos]`` for one ``latent``.

    ``sae``: anything with ``encode(x) -> [..., d_sae]`` (e.g. :class:`minigpt.sae.SAE`);
    ``hook_name``: the activation it reads (default: :func:`sae_hook_name`).
    """
    def encode(activation: Tensor) -> Tensor:
        latents = sae.encode(activation)
        return latents if latent is None else latents[..., latent]

    return feature_acts(model, tokens, sae_hook_name(sae, hook_name), encode, batch_size)


# ------------------------------------------------------------------- directions and logits
_MLP_POST = re.compile(r"blocks\.(\d+)\.mlp\.hook_post$")
_ATTN_Z = re.compile(r"blocks\.(\d+)\.attn\.hook_z$")
_RESIDUAL = re.compile(r"(blocks\.\d+\.hook_(resid_pre|resid_mid|resid_post|attn_out|mlp_out)"
                       r"|hook_embed|hook_pos_embed)$")


def residual_direction(model, hook_name: str, vector: Tensor) -> Tensor:
    """What ``vector`` (a direction in ``hook_name``'s activation space) writes to the residual: ``[d_model]``.

    ``blocks.{L}.mlp.hook_post`` (``[d_mlp]``): ``vector @ W_out[L]``; ``blocks.{L}.attn.hook_z``
    (``[n_heads * d_head]``, heads flattened): ``sum_h vector[h] @ W_O[L, h]``; a residual hook
    (``hook_resid_pre|mid|post``, ``hook_attn_out``, ``hook_mlp_out``): ``vector`` itself.
    """
    vector = vector.detach()
    cfg = model.cfg
    if m := _MLP_POST.match(hook_name):
        W, size = model.blocks[int(m[1])].mlp.W_out.detach(), cfg.d_mlp  # [d_mlp d_model]
    elif m := _ATTN_Z.match(hook_name):
        W, size = model.blocks[int(m[1])].attn.W_O.detach().flatten(0, 1), cfg.n_heads * cfg.d_head
    elif _RESIDUAL.match(hook_name):
        W, size = None, cfg.d_model
    else:
        raise ValueError(f"no residual direction for {hook_name!r}: use blocks.L.mlp.hook_post, blocks.L.attn.hook_z "
                         "or a residual-stream hook (hook_resid_pre|mid|post, hook_attn_out, hook_mlp_out)")
    if vector.shape != (size,):
        raise ValueError(f"a direction at {hook_name} has shape [{size}], got {list(vector.shape)}")
    return vector.to(model.dtype) if W is None else vector.to(W) @ W


def neuron_direction(model, layer: int, neuron: int) -> Tensor:
    """``W_out[layer][neuron]``, ``[d_model]``: what MLP neuron ``neuron`` adds per unit of its activation."""
    if not 0 <= neuron < model.cfg.d_mlp:
        raise ValueError(f"neuron {neuron} is out of range: layer {layer} has d_mlp = {model.cfg.d_mlp} neurons")
    return model.blocks[layer].mlp.W_out[neuron].detach()


def latent_direction(model, sae, latent: int, hook_name: str | None = None) -> Tensor:
    """``W_dec[latent]`` carried to the residual stream from the space ``hook_name`` holds: ``[d_model]``.

    ``sae``: anything with ``W_dec: [d_sae, d_in]``. For an SAE on ``blocks.L.mlp.hook_post``
    this is ``W_dec[latent] @ W_out[L]`` (see :func:`residual_direction`). ``hook_name``
    defaults to :func:`sae_hook_name`.
    """
    W_dec = sae.W_dec.detach()
    if not 0 <= latent < W_dec.shape[0]:
        raise ValueError(f"latent {latent} is out of range: W_dec has {W_dec.shape[0]} rows [d_sae, d_in]")
    return residual_direction(model, sae_hook_name(sae, hook_name), W_dec[latent])


def direct_logit_effect(model, direction: Tensor) -> Tensor:
    """``[d_vocab]``: what adding ``direction`` (``[d_model]``) to the final residual does to each logit.

    The final LayerNorm is linear but for its ``1/scale``: it centres the direction (subtracts
    its mean over ``d_model``) and multiplies by ``ln_final.w``; then ``W_U`` reads it. Its
    bias and ``b_U`` add the same to every direction and are left out, and so is ``1/scale``
    (one positive number per position: it sizes the effect, never flips or reorders it). This
    is ``direction @ W_U`` of TransformerLens with ``fold_ln`` and centred writing weights.
    """
    if direction.shape != (model.cfg.d_model,):
        raise ValueError(f"expected a residual direction [d_model = {model.cfg.d_model}], "
                         f"got {list(direction.shape)}")
    direction = direction.detach().to(model.W_U)
    if model.cfg.normalization_type in ("LN", "LNPre"):
        direction = direction - direction.mean()
    w = getattr(model.ln_final, "w", None)
    if w is not None:
        direction = direction * w.detach()
    return direction @ model.W_U.detach()  # [d_vocab]


class TokenValue(NamedTuple):
    token: int
    text: str
    value: float


class LogitEffect(NamedTuple):
    """The ``k`` most promoted tokens (largest effect first) and most suppressed (most negative first)."""

    promoted: list[TokenValue]
    suppressed: list[TokenValue]


def _texts(model, ids: list[int]) -> list[str]:
    try:
        return list(model.to_str_tokens(ids))
    except ValueError:  # a model without a tokenizer
        return [f"#{i}" for i in ids]


def logit_effect(model, direction: Tensor, k: int = 10) -> LogitEffect:
    """The top ``k`` promoted and suppressed next tokens of :func:`direct_logit_effect`, with their values."""
    effect = direct_logit_effect(model, direction).float().cpu()
    k = min(k, len(effect))
    sides = []
    for top in (effect.topk(k), (-effect).topk(k)):
        ids = top.indices.tolist()
        sides.append([TokenValue(i, text, float(effect[i])) for i, text in zip(ids, _texts(model, ids))])
    return LogitEffect(*sides)
