"""QK and OV circuits of attention heads, as :class:`FactoredMatrix` objects.

A head does two separable things (Elhage et al., *A Mathematical Framework
for Transformer Circuits*):

- its **QK circuit** ``W_Q @ W_K.T: [d_model, d_model]`` decides *where* to
  look: the attention score from a query residual ``x_q`` to a key residual
  ``x_k`` is ``x_q @ W_Q @ W_K.T @ x_k`` (before the ``1/sqrt(d_head)`` scale);
- its **OV circuit** ``W_V @ W_O: [d_model, d_model]`` decides *what* it
  writes: attending to ``x_k`` adds ``x_k @ W_V @ W_O`` to the residual.

Put the embedding and unembedding on either side and a circuit speaks in
tokens: the **full OV circuit** ``W_E W_V W_O W_U: [d_vocab, d_vocab]`` says
which logits go up when the head attends to each token (a copying head has a
large diagonal); the **full QK circuit** ``W_E W_Q W_K.T W_E.T`` says which
query tokens attend to which key tokens; :func:`pos_qk_circuit` does the same
for positions, and :func:`k_composition_circuit` for keys seen through an
earlier head's OV circuit (the induction mechanism).

Every function takes ``head=None`` for all heads of the layer at once
(``[n_heads, ...]``). Biases are left out. A model with LayerNorm weights
(``normalization_type="LN"``) has them folded in first
(:func:`minigpt.weights.processing.fold_ln`); the LayerNorm *scale* cannot be, so for
such models the circuits hold up to a per-position factor.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .factored import FactoredMatrix

__all__ = [
    "analysis_model", "copying_score", "full_ov_circuit", "full_qk_circuit", "k_composition_circuit", "ov_circuit",
    "pos_qk_circuit", "qk_circuit", "top1_accuracy",
]


def analysis_model(model):
    """``model`` with its LayerNorm weights folded into the weights that read them (unchanged without any)."""
    if model.cfg.normalization_type == "LN":
        from ..weights.processing import fold_ln

        return fold_ln(model, center_weights=False)
    return model


def _heads(W: Tensor, head: int | None) -> Tensor:
    return W if head is None else W[head]


def _attn(model, layer: int):
    if not -model.cfg.n_layers <= layer < model.cfg.n_layers:
        raise IndexError(f"layer {layer} out of range for a model with {model.cfg.n_layers} layers")
    return model.blocks[layer].attn


@torch.no_grad()
def ov_circuit(model, layer: int, head: int | None = None) -> FactoredMatrix:
    """``W_V @ W_O``: ``[d_model, d_model]`` (``[n_heads, d_model, d_model]`` for ``head=None``)."""
    attn = _attn(analysis_model(model), layer)
    return FactoredMatrix(_heads(attn.W_V, head).detach(), _heads(attn.W_O, head).detach())


@torch.no_grad()
def qk_circuit(model, layer: int, head: int | None = None) -> FactoredMatrix:
    """``W_Q @ W_K.T``: ``[d_model, d_model]``, query side on the rows (``[n_heads, ...]`` for ``head=None``)."""
    attn = _attn(analysis_model(model), layer)
    return FactoredMatrix(_heads(attn.W_Q, head).detach(), _heads(attn.W_K, head).detach().transpose(-2, -1))


@torch.no_grad()
def full_ov_circuit(model, layer: int, head: int | None = None) -> FactoredMatrix:
    """``W_E @ W_V @ W_O @ W_U``: ``[d_vocab (attended token), d_vocab (logit)]``.

    Row ``s`` is how each logit changes when the head attends (fully) to token
    ``s``. A head that copies has its largest entry of each row on the
    diagonal (:func:`top1_accuracy`) and mostly positive eigenvalues (:func:`copying_score`).
    """
    m = analysis_model(model)
    attn = _attn(m, layer)
    W_E, W_U = m.W_E.detach(), m.W_U.detach()
    return FactoredMatrix(W_E @ _heads(attn.W_V, head).detach(), _heads(attn.W_O, head).detach() @ W_U)


@torch.no_grad()
def full_qk_circuit(model, layer: int, head: int | None = None) -> FactoredMatrix:
    """``W_E @ W_Q @ W_K.T @ W_E.T``: ``[d_vocab (query token), d_vocab (key token)]`` attention scores."""
    m = analysis_model(model)
    attn = _attn(m, layer)
    W_E = m.W_E.detach()
    keys = W_E @ _heads(attn.W_K, head).detach()  # [..., d_vocab d_head]
    return FactoredMatrix(W_E @ _heads(attn.W_Q, head).detach(), keys.transpose(-2, -1))


@torch.no_grad()
def pos_qk_circuit(model, layer: int, head: int | None = None) -> FactoredMatrix:
    """``W_pos @ W_Q @ W_K.T @ W_pos.T``: ``[n_ctx (query position), n_ctx (key position)]`` attention scores.

    A previous-token head in layer 0 shows a bright stripe just below the
    diagonal (only the causal lower triangle matters).
    """
    m = analysis_model(model)
    if not m.cfg.positional_embedding:
        raise ValueError("this model has no positional embedding (cfg.positional_embedding=False)")
    attn = _attn(m, layer)
    W_pos = m.W_pos.detach()
    return FactoredMatrix(W_pos @ _heads(attn.W_Q, head).detach(),
                          (W_pos @ _heads(attn.W_K, head).detach()).transpose(-2, -1))


@torch.no_grad()
def k_composition_circuit(model, layer: int, head: int | None, prev_layer: int, prev_head: int) -> FactoredMatrix:
    """Scores from query tokens to key tokens *moved by an earlier head*: ``[d_vocab, d_vocab]``.

    ``W_E W_Q W_K.T (W_E W_V' W_O').T`` where ``'`` marks head ``prev_head`` of
    ``prev_layer``. If that head is a previous-token head, entry ``[t, s]`` is
    how much a query ``t`` attends to a position whose *previous* token was
    ``s``; an induction head makes it large on the diagonal.
    """
    m = analysis_model(model)
    attn, prev = _attn(m, layer), _attn(m, prev_layer)
    W_E = m.W_E.detach()
    moved = W_E @ prev.W_V[prev_head].detach() @ prev.W_O[prev_head].detach()  # [d_vocab d_model]
    return FactoredMatrix(W_E @ _heads(attn.W_Q, head).detach(),
                          (moved @ _heads(attn.W_K, head).detach()).transpose(-2, -1))


@torch.no_grad()
def top1_accuracy(matrix: Tensor | FactoredMatrix, rows_per_chunk: int = 1024) -> Tensor:
    """The fraction of rows whose largest entry is on the diagonal: ``[...]`` for ``[..., n, n]``.

    Works on a :class:`FactoredMatrix` a chunk of rows at a time, so a
    ``[d_vocab, d_vocab]`` circuit never needs to exist in full.

    >>> top1_accuracy(torch.tensor([[3.0, 1.0], [5.0, 2.0]]))   # row 0 peaks on the diagonal, row 1 does not
    tensor(0.5000)
    """
    n = matrix.shape[-2]
    if matrix.shape[-1] != n:
        raise ValueError(f"top1_accuracy needs square matrices [..., n, n], got {tuple(matrix.shape)}")
    hits = []
    for start in range(0, n, rows_per_chunk):
        stop = min(n, start + rows_per_chunk)
        if isinstance(matrix, FactoredMatrix):
            rows = matrix.A[..., start:stop, :] @ matrix.B
        else:
            rows = matrix[..., start:stop, :]
        hits.append(rows.argmax(dim=-1) == torch.arange(start, stop, device=rows.device))
    return torch.cat(hits, dim=-1).float().mean(dim=-1)


@torch.no_grad()
def copying_score(matrix: Tensor | FactoredMatrix) -> Tensor:
    """``Σλ / Σ|λ|`` over the eigenvalues ``λ`` of a square circuit: ``[...]`` for ``[..., n, n]``, in ``[-1, 1]``.

    Elhage et al. (2021) summarise a full OV circuit this way: a head that
    copies (attending to token ``s`` raises logit ``s``) has mostly positive
    eigenvalues and scores near 1; one that suppresses the token it attends to
    scores near -1. The eigenvalues of a real matrix are complex in general;
    ``|λ|`` is their modulus, and the ratio's real part is returned (the
    imaginary parts cancel: they come in conjugate pairs). A
    :class:`FactoredMatrix` ``A @ B`` uses the ``mdim`` eigenvalues of
    ``B @ A``, the non-zero ones of ``A @ B`` (zeros add nothing to either
    sum). A zero matrix gives ``nan``.

    >>> copying_score(torch.eye(3)), copying_score(-torch.eye(3))
    (tensor(1.), tensor(-1.))
    >>> copying_score(torch.tensor([[0.0, 1.0], [-1.0, 0.0]]))   # a rotation by 90°: eigenvalues ±i
    tensor(0.)
    """
    eigenvalues = matrix.eigenvalues if isinstance(matrix, FactoredMatrix) else torch.linalg.eigvals(matrix)
    return (eigenvalues.sum(dim=-1) / eigenvalues.abs().sum(dim=-1)).real
