"""BertViz's neuron view: how one head's attention score is built from a query and a key.

For a head, a query position ``i`` and every key position ``j``:

    score[i, j]   = (q_i · k_j) / attn_scale = sum_d q_i[d] k_j[d] / sqrt(d_head)   (j <= i)
    score[i, j]   = -inf                                                              (j > i: the causal mask)
    pattern[i, :] = softmax_j(score[i, :])

The page shows ``q_i``, each ``k_j``, their elementwise product ``q_i ∘ k_j`` (each cell coloured
by its sign and size: the product's sum is the dot product), the dot product, the score and
the softmax weight. Click a token (or pick one in the selector) to make it the query; click a
key's row to see its sum written out. The numbers are computed in the page from the model's own
``hook_q`` and ``hook_k``; :func:`score_parts` computes them here the same way, and the tests hold
both to the model's ``hook_attn_scores`` and ``hook_pattern``.

>>> from minigpt.checkpoints import load_checkpoint
>>> model = load_checkpoint("stdlib-bytes")
>>> parts = score_parts(model, "def f(x):\\n    return x", layer=1, head=2)
>>> parts.q.shape, parts.scores.shape                 # [pos d_head], [query_pos key_pos]
(torch.Size([23, 32]), torch.Size([23, 23]))
>>> parts.scores[0, 1].item()                         # key 1 comes after query 0: masked
-inf
>>> key = int(parts.pattern[-1].argmax())             # the last "x" looks at the token before it
>>> key, parts.str_tokens[key], round(parts.pattern[-1, key].item(), 2)
(21, ' ', 0.78)
>>> view = neuron_view(model, "def f(x):\\n    return x", layer=1, head=2)
>>> view.payload["query"], view.payload["key"]        # at first: the last token, and the key it attends to most
(22, 21)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from minigpt.interp.prompts import as_tokens
from minigpt.viz.grid import GridView
from minigpt.viz.interventions import token_strings
from minigpt.viz.payload_view import payload_view


@dataclass
class ScoreParts:
    """One head on one sequence: ``q``, ``k`` (``[pos d_head]``, the model's hook_q/hook_k), the
    ``scores`` and ``pattern`` built from them (``[query_pos key_pos]``), ``scale`` = ``attn_scale``."""

    str_tokens: list[str]
    q: Tensor
    k: Tensor
    scale: float
    scores: Tensor
    pattern: Tensor

    def products(self, query: int) -> Tensor:
        """``q[query] ∘ k``: ``[key_pos d_head]``; row ``j`` sums to ``q[query] · k[j]``."""
        return self.q[query] * self.k


def score_parts(model, tokens_or_text, layer: int, head: int) -> ScoreParts:
    """Run ``model`` on one sequence (text gets a BOS first) and build ``head``'s scores from its q and k."""
    cfg = model.cfg
    if not (0 <= layer < cfg.n_layers and 0 <= head < cfg.n_heads):
        raise ValueError(f"layer {layer}, head {head} out of range for {cfg.n_layers} layers x {cfg.n_heads} heads")
    tokens = as_tokens(model, tokens_or_text)  # [pos]
    names = [f"blocks.{layer}.attn.hook_q", f"blocks.{layer}.attn.hook_k"]
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens[None], names_filter=names)
    q = cache[names[0]][0, :, head].float().cpu()  # [pos d_head]
    k = cache[names[1]][0, :, head].float().cpu()  # [pos d_head]
    scores = torch.einsum("q d, k d -> q k", q, k) / cfg.attn_scale  # [query_pos key_pos]
    future = torch.ones_like(scores, dtype=torch.bool).triu(diagonal=1)
    scores = scores.masked_fill(future, float("-inf"))
    return ScoreParts(str_tokens=token_strings(model, tokens.tolist()), q=q, k=k, scale=float(cfg.attn_scale),
                      scores=scores, pattern=scores.softmax(dim=-1))


def _rows(x: Tensor) -> list[list[float]]:
    """Eight significant digits: a float32 read back exactly enough (relative error < 1e-8)."""
    return [[float(f"{v:.8g}") for v in row] for row in x.tolist()]


def neuron_view(model, tokens_or_text, layer: int = 0, head: int = 0, *, query: int | None = None,
                key: int | None = None, title: str | None = None) -> GridView:
    """The neuron view of ``head`` in ``layer`` on one sequence (a string, or ``[pos]`` token ids).

    ``query``: the query position shown first (the last token by default); ``key``: the key
    whose sum is written out (the one the query attends to most by default). In the page,
    ``window.minigptViews[id].select(query, key)`` does what a click does and ``.shown`` holds
    the numbers on screen.
    """
    parts = score_parts(model, tokens_or_text, layer, head)
    n = len(parts.str_tokens)
    query = n - 1 if query is None else query
    if not 0 <= query < n:
        raise ValueError(f"query {query} is out of range: the sequence has {n} tokens")
    key = int(parts.pattern[query].argmax()) if key is None else key
    if not 0 <= key <= query:
        raise ValueError(f"key {key} is out of range: query {query} sees keys 0..{query} (causal mask)")
    title = title or f"neuron view: layer {layer}, head {head}"
    payload = {
        "kind": "neuron", "title": title, "layer": layer, "head": head, "tokens": parts.str_tokens, "query": query,
        "key": key, "scale": parts.scale, "d_head": parts.q.shape[1], "q": _rows(parts.q), "k": _rows(parts.k),
    }
    return payload_view(payload, render="minigptNeuronView", asset="neuron.js", title=title,
                        height=200 + 22 * n)
