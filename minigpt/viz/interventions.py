"""Interventions, seen: the logit lens, activation patching and causal tracing as HTML grids.

Three self-contained documents (see :mod:`minigpt.viz.grid`), each with a matplotlib twin in
:mod:`minigpt.viz.intervention_plots`; the data each shows is prepared here, once, for both:

- :func:`logit_lens_view`: layer x position, the lens's top next token in each cell, coloured
  by its probability; hover for the top ``k``. The model's output is the top row.
- :func:`patching_heatmap`: a patching result ``[n_layers, pos]`` or ``[n_layers, n_heads]``
  on a blue-white-red scale symmetric about 0; hover for the value.
- :func:`causal_trace_view`: a :class:`~minigpt.interp.CausalTrace` as the ROME paper draws it,
  tokens down, layers across, subject tokens marked ``*``, white at ``p_corrupted``.

>>> import torch
>>> view = patching_heatmap(torch.tensor([[0.5, -1.0], [0.0, 2.0]]), x_labels=["A", " B"])
>>> view.payload["rows"], view.payload["cols"], view.payload["series"][0]["values"]
(['L0', 'L1'], ['A', ' B'], [0.5, -1.0, 0.0, 2.0])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from minigpt.interp.lens import TunedLens, logit_lens
from minigpt.interp.prompts import as_tokens
from minigpt.viz.grid import GridView, check_labels, grid_view
from minigpt.viz.plots import to_numpy


def token_strings(source, ids: Sequence[int]) -> list[str]:
    """Each id as its text through ``source.to_str_tokens`` (a model), else as ``#id``."""
    ids = [int(i) for i in ids]
    if source is not None and hasattr(source, "to_str_tokens"):
        try:
            return list(source.to_str_tokens(ids))
        except ValueError:  # a model without a tokenizer
            pass
    return [f"#{i}" for i in ids]


# ----------------------------------------------------------------------------- the lens
@dataclass
class LensTop:
    """A lens's top ``k`` next tokens at every layer and position, as both lens views show them."""

    name: str  # "logit lens", "tuned lens"
    str_tokens: list[str]  # [pos]: the input
    rows: list[str]  # [n_layers + 1]: "L0" (reads resid_pre of block 0) ... "out" (the model's output)
    ids: np.ndarray  # [n_layers + 1, pos, k]
    probs: np.ndarray  # [n_layers + 1, pos, k], descending
    vocab: dict[int, str]  # every id in ``ids``, as text


def lens_top_k(model, tokens_or_text, lens=None, k: int = 10) -> LensTop:
    """Run the lens on one sequence and keep its top ``k``.

    ``lens``: None (the logit lens), a :class:`~minigpt.interp.TunedLens` (or anything called
    as ``lens(model, tokens)``), or its log-probs ``[n_layers + 1, (1,) pos, d_vocab]``.
    """
    tokens = as_tokens(model, tokens_or_text)  # [pos]
    name = "logit lens" if lens is None else "tuned lens" if isinstance(lens, TunedLens) else "lens"
    if lens is None:
        log_probs = logit_lens(model, tokens[None])
    elif isinstance(lens, torch.Tensor):
        log_probs = lens
    elif callable(lens):
        with torch.no_grad():
            log_probs = lens(model, tokens[None])
    else:
        raise TypeError(f"lens must be None, a TunedLens or log-probs [n_layers + 1, pos, d_vocab], not {type(lens)}")
    if log_probs.ndim == 4 and log_probs.shape[1] == 1:
        log_probs = log_probs[:, 0]
    expected = (model.cfg.n_layers + 1, tokens.shape[0])
    if log_probs.ndim != 3 or tuple(log_probs.shape[:2]) != expected:
        raise ValueError(f"expected lens log-probs [n_layers + 1 = {expected[0]}, pos = {expected[1]}, d_vocab] "
                         f"for one sequence, got shape {list(log_probs.shape)}")
    top = log_probs.detach().float().topk(min(k, log_probs.shape[-1]), dim=-1)
    ids = top.indices.cpu().numpy()
    unique = sorted(set(ids.ravel().tolist()))
    return LensTop(name=name, str_tokens=token_strings(model, tokens.tolist()),
                   rows=[f"L{layer}" for layer in range(model.cfg.n_layers)] + ["out"], ids=ids,
                   probs=top.values.exp().cpu().numpy(), vocab=dict(zip(unique, token_strings(model, unique))))


def logit_lens_view(model, tokens_or_text, lens=None, k: int = 10, *, title: str | None = None) -> GridView:
    """Layer x position: the lens's top next token in each cell, coloured by its probability.

    ``tokens_or_text``: a string (tokenised with a BOS token first) or ``[pos]`` token ids.
    Row ``L<n>`` reads the residual stream entering block ``n``; the top row, ``out``, is the
    model's own prediction. Hover a cell for the top ``k`` tokens and their probabilities.
    """
    lt = lens_top_k(model, tokens_or_text, lens, k)
    ids, probs = lt.ids[::-1], lt.probs[::-1]  # the output at the top
    order = sorted(lt.vocab)
    index = {token_id: i for i, token_id in enumerate(order)}
    top = {"k": ids.shape[-1], "vocab": [lt.vocab[i] for i in order],
           "ids": [index[i] for i in ids.ravel().tolist()], "probs": probs}
    return grid_view([("top-1 probability", probs[..., 0])], rows=lt.rows[::-1], cols=lt.str_tokens, lo=0.0,
                     hi=1.0, diverging=False, kind="logit_lens",
                     title=title or f"{lt.name}: the top next token at each layer (hover for the top {k})",
                     x_label="input token", y_label="layer", cell_text=[lt.vocab[i] for i in ids[..., 0].ravel()],
                     top=top, token_axis="cols", cell=(72, 22))


# ------------------------------------------------------------------------ patching
PATCHING_AXES = {"layer_pos": "position", "layer_head": "head"}


def patching_grid(results, x_labels: Sequence[str] | None, y_labels: Sequence[str] | None,
                  kind: str) -> tuple[np.ndarray, list[str], list[str], str]:
    """Check a patching result ``[n_layers, pos]`` / ``[n_layers, n_heads]``; (values, x labels, y labels, x axis)."""
    if kind not in PATCHING_AXES:
        raise ValueError(f"kind must be one of {sorted(PATCHING_AXES)}, got {kind!r}")
    values = to_numpy(results)
    if values.ndim != 2 or 0 in values.shape:
        shape = "[n_layers, pos]" if kind == "layer_pos" else "[n_layers, n_heads]"
        raise ValueError(f"expected patching results {shape} for kind={kind!r}, got shape {tuple(values.shape)}")
    if not np.isfinite(values).all():
        raise ValueError("the patching results hold NaN or inf")
    n_layers, n_cols = values.shape
    default = [str(i) for i in range(n_cols)] if kind == "layer_pos" else [f"H{h}" for h in range(n_cols)]
    return (values, check_labels(x_labels, n_cols, "x_labels", default),
            check_labels(y_labels, n_layers, "y_labels", [f"L{layer}" for layer in range(n_layers)]),
            PATCHING_AXES[kind])


def patching_heatmap(results, x_labels: Sequence[str] | None = None, y_labels: Sequence[str] | None = None,
                     title: str = "activation patching", kind: str = "layer_pos", *,
                     label: str = "patched metric") -> GridView:
    """A patching result on a blue-white-red scale symmetric about 0; hover a cell for its value.

    ``results``: ``[n_layers, pos]`` (``kind="layer_pos"``; ``x_labels`` e.g. the string tokens)
    or ``[n_layers, n_heads]`` (``kind="layer_head"``), e.g. from
    ``minigpt.interp.patching.get_act_patch_resid_pre``. ``label``: what the values are.
    """
    values, x, y, x_axis = patching_grid(results, x_labels, y_labels, kind)
    lim = float(np.abs(values).max()) or 1.0
    return grid_view([(label, values)], rows=y, cols=x, lo=-lim, hi=lim, diverging=True, kind="patching",
                     title=title, x_label=x_axis, y_label="layer",
                     token_axis=None if x_labels is None else "cols", cell=(40 if values.shape[1] <= 24 else 24, 24))


# ------------------------------------------------------------------- causal tracing
def trace_labels(trace, str_tokens=None, answer: str | None = None) -> tuple[list[str], str]:
    """The prompt's tokens with ``*`` after each subject token (as the ROME paper marks them), and the answer.

    ``str_tokens``: a model (its ``to_str_tokens``), the strings themselves, or None (ids as ``#id``).
    """
    ids = to_numpy(trace.tokens).astype(np.int64).tolist()
    if str_tokens is None or hasattr(str_tokens, "to_str_tokens"):
        toks = token_strings(str_tokens, ids)
        answer = token_strings(str_tokens, [trace.answer])[0] if answer is None else answer
    else:
        toks = check_labels(str_tokens, len(ids), "str_tokens", [])
        answer = f"#{trace.answer}" if answer is None else answer
    subject = set(trace.subject_positions)
    return [tok + "*" if i in subject else tok for i, tok in enumerate(toks)], answer


def trace_axis(trace) -> str:
    """What a column of the trace is: one restored layer, or the centre of a window of them."""
    if trace.kind == "resid" or trace.window == 1:
        return f"restored layer ({trace.kind})"
    return f"centre of {trace.window} restored {trace.kind} layers"


def trace_title(trace, answer: str) -> str:
    return (f"causal trace ({trace.kind}) of p({answer!r}), * = subject: p_clean = {trace.p_clean:.3g}, "
            f"p_corrupted = {trace.p_corrupted:.3g}")


def causal_trace_view(trace, str_tokens=None, *, answer: str | None = None, title: str | None = None) -> GridView:
    """Tokens x layers: P(answer) with one state restored, white at ``p_corrupted``; subject tokens ``*``.

    ``trace``: the result of :func:`minigpt.interp.causal_trace`. ``str_tokens``: the model
    (for the token texts) or the strings; ``answer``: the answer's text (else read from the
    model). Hover a cell for ``p_restored`` and the indirect effect ``p_restored - p_corrupted``.
    """
    rows, answer = trace_labels(trace, str_tokens, answer)
    restored = to_numpy(trace.p_restored).T  # [pos n_layers]
    effects = to_numpy(trace.effects).T  # [pos n_layers]
    lo = float(trace.p_corrupted)
    return grid_view([(f"p({answer!r}) restored", restored), ("indirect effect", effects)], rows=rows,
                     cols=[str(layer) for layer in range(restored.shape[1])], lo=lo,
                     hi=max(float(restored.max()), lo + 1e-6), diverging=False, kind="causal_trace",
                     title=title or trace_title(trace, answer), x_label=trace_axis(trace),
                     y_label="token", legend=f"p({answer!r})", token_axis="rows", cell=(28, 22))
