"""Chapter 3: induction heads, found, measured, switched off and read off the weights.

Fill in every ``raise NotImplementedError(...)`` below. Check each piece as
soon as it is written, in the notebook or a Python shell::

    from minigpt.grading import check
    check("ch03.induction_score", induction_score)

and grade the whole file with ``minigpt grade``. Shapes use minigpt's axis
names (``batch pos d_model n_heads d_head d_vocab query_pos key_pos``) and
TransformerLens's weight shapes:

    W_E: [d_vocab, d_model]     W_U: [d_model, d_vocab]
    W_Q, W_K, W_V: [n_heads, d_model, d_head]     W_O: [n_heads, d_head, d_model]

Repeated sequences are ``[BOS] x_1 .. x_n x_1 .. x_n``: the last ``2 * seq_len``
positions hold a chunk and its copy (with or without one BOS token in front).

Later pieces may call earlier ones (``ablation_scores`` uses
``zero_ablation_hook`` and ``repeat_loss``; ``k_composition_scores`` uses
``composition_score``). When grading, each piece is run with the reference
versions of the pieces it uses, so one bug costs the points of one exercise only.
"""

from __future__ import annotations

import functools  # noqa: F401  (yours to use)

import einops  # noqa: F401  (yours to use)
import torch
from torch import Tensor

# ---------------------------------------------------------------------------
# Repeated tokens and the loss on the repeat
# ---------------------------------------------------------------------------


def repeated_tokens(half: Tensor, bos: int | None = None) -> Tensor:
    """A BOS token, then each row of ``half``, then the same row again.

    ``half: [batch, seq_len]`` (random token ids) -> ``[batch, 1 + 2 * seq_len]``,
    or ``[batch, 2 * seq_len]`` when ``bos`` is ``None``. Keep the dtype.

    >>> repeated_tokens(torch.tensor([[5, 6, 7]]), bos=0)
    tensor([[0, 5, 6, 7, 5, 6, 7]])
    """
    # BEGIN SOLUTION
    # HINT: torch.cat([bos_column, half, half], dim=1), with bos_column = torch.full((batch, 1), bos, dtype=half.dtype)
    parts = [half, half]
    if bos is not None:
        parts.insert(0, torch.full((half.shape[0], 1), bos, dtype=half.dtype))
    return torch.cat(parts, dim=1)
    # END SOLUTION


def repeat_loss(losses: Tensor, seq_len: int) -> Tensor:
    """The mean loss on the part of the copy an induction head can predict (a 0-d tensor).

    ``losses: [batch, pos - 1]`` is the per-token loss of a repeated sequence of
    ``pos`` tokens: ``losses[:, i]`` is the loss of predicting token ``i + 1``.
    The copy is the last ``seq_len`` tokens; its first token cannot be predicted
    (it follows the random first chunk), tokens 2 .. seq_len of it can. Average
    the losses of predicting those ``seq_len - 1`` tokens, over the batch too.

    >>> repeat_loss(torch.tensor([[9.0, 9.0, 9.0, 9.0, 1.0, 3.0]]), seq_len=3)   # BOS + 3 + 3 tokens
    tensor(2.)
    """
    # BEGIN SOLUTION
    # HINT: the copy's tokens 2..seq_len sit at positions pos-seq_len+1 .. pos-1; entry i predicts token i+1
    pos = losses.shape[1] + 1
    return losses[:, pos - seq_len : pos - 1].mean()
    # END SOLUTION


# ---------------------------------------------------------------------------
# Head detectors
# ---------------------------------------------------------------------------


def duplicate_token_score(pattern: Tensor, seq_len: int) -> Tensor:
    """How much each head attends from the copy back to the *same* token in the first chunk.

    ``pattern: [batch n_heads pos pos]`` (one layer's ``cache["pattern", layer]``
    on repeated sequences) -> ``[n_heads]``: the mean, over the batch and over
    the ``seq_len`` queries ``q`` of the copy (the last ``seq_len`` positions),
    of ``pattern[..., q, q - seq_len]``.

    >>> p = torch.zeros(1, 1, 4, 4); p[0, 0, 2, 0] = p[0, 0, 3, 1] = 1.0    # x y x y, looking one chunk back
    >>> duplicate_token_score(p, seq_len=2)
    tensor([1.])
    """
    # BEGIN SOLUTION
    # HINT: pattern.diagonal(offset=-seq_len, dim1=-2, dim2=-1) holds pattern[..., q, q - seq_len]; keep the last seq_len
    stripe = pattern.diagonal(offset=-seq_len, dim1=-2, dim2=-1)  # [batch n_heads pos - seq_len]
    return stripe[..., -seq_len:].mean(dim=(0, -1))
    # END SOLUTION


def induction_score(pattern: Tensor, seq_len: int) -> Tensor:
    """How much each head attends from the copy to the token *after* the earlier occurrence.

    ``pattern: [batch n_heads pos pos]`` on repeated sequences -> ``[n_heads]``:
    the mean, over the batch and over the ``seq_len`` queries ``q`` of the copy
    (the last ``seq_len`` positions), of ``pattern[..., q, q - seq_len + 1]``.
    A perfect induction head scores 1.

    >>> p = torch.zeros(1, 1, 4, 4); p[0, 0, 2, 1] = p[0, 0, 3, 2] = 1.0    # x y x y: at x, look at y
    >>> induction_score(p, seq_len=2)
    tensor([1.])
    """
    # BEGIN SOLUTION
    # HINT: the same as duplicate_token_score, one key later: the diagonal at offset -(seq_len - 1)
    stripe = pattern.diagonal(offset=1 - seq_len, dim1=-2, dim2=-1)  # [batch n_heads pos - seq_len + 1]
    return stripe[..., -seq_len:].mean(dim=(0, -1))
    # END SOLUTION


# ---------------------------------------------------------------------------
# Attribution and ablation
# ---------------------------------------------------------------------------


def logit_attribution(components: Tensor, W_U: Tensor, tokens: Tensor) -> Tensor:
    """Each component's direct contribution to the logit of the correct next token.

    ``components: [n_components, batch, pos, d_model]`` are what each part of
    the model wrote to the final residual stream (they sum to it);
    ``W_U: [d_model, d_vocab]``; ``tokens: [batch, pos]``. Returns
    ``[n_components, batch, pos - 1]``: entry ``[c, b, p]`` is
    ``components[c, b, p] @ W_U[:, tokens[b, p + 1]]`` (the last position has
    no next token).
    """
    # BEGIN SOLUTION
    # HINT: W_U[:, tokens[:, 1:]] is [d_model batch pos-1]: the unembedding of each correct next token
    directions = W_U[:, tokens[:, 1:]]  # [d_model batch pos-1]
    return einops.einsum(components[:, :, :-1], directions, "c b p d, d b p -> c b p")
    # END SOLUTION


def zero_ablation_hook(z: Tensor, head: int, hook=None) -> Tensor:
    """A ``blocks.{L}.attn.hook_z`` hook that switches one head off.

    ``z: [batch pos n_heads d_head]`` -> the same shape, with head ``head``'s
    vectors set to zero at every position. Return a new tensor (leave ``z``
    alone). Use it as ``functools.partial(zero_ablation_hook, head=2)``.
    """
    # BEGIN SOLUTION
    # HINT: z = z.clone(), then z[:, :, head] = 0 (the third axis is the heads)
    z = z.clone()
    z[:, :, head] = 0.0
    return z
    # END SOLUTION


def mean_ablation_hook(z: Tensor, head: int, hook=None) -> Tensor:
    """A ``hook_z`` hook that replaces one head's output by its mean over the batch, at each position.

    ``z: [batch pos n_heads d_head]`` -> the same shape: ``z[b, p, head]``
    becomes ``z[:, p, head].mean()`` over the batch (per position and
    dimension); other heads unchanged. Return a new tensor.
    """
    # BEGIN SOLUTION
    # HINT: z[:, :, head].mean(dim=0, keepdim=True) is [1 pos d_head]; it broadcasts back over the batch
    z = z.clone()
    z[:, :, head] = z[:, :, head].mean(dim=0, keepdim=True)
    return z
    # END SOLUTION


def ablation_scores(model, tokens: Tensor, seq_len: int) -> Tensor:
    """How much the loss on the repeat rises when each head alone is zero-ablated: ``[n_layers, n_heads]``.

    ``model`` is a ``minigpt.GPT``; ``tokens: [batch, pos]`` repeated
    sequences. For every ``(layer, head)``: run the model with
    ``zero_ablation_hook`` on ``blocks.{layer}.attn.hook_z``
    (``model.run_with_hooks(tokens, return_type="loss", loss_per_token=True,
    fwd_hooks=[(name, fn)])`` gives the per-token loss ``[batch, pos - 1]``),
    take ``repeat_loss`` of it, and subtract the clean model's ``repeat_loss``.
    """
    # BEGIN SOLUTION
    # HINT: clean = repeat_loss(model(tokens, return_type="loss", loss_per_token=True), seq_len); loop layers and heads
    with torch.no_grad():
        clean = repeat_loss(model(tokens, return_type="loss", loss_per_token=True), seq_len)
        scores = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
        for layer in range(model.cfg.n_layers):
            for head in range(model.cfg.n_heads):
                hook = (f"blocks.{layer}.attn.hook_z", functools.partial(zero_ablation_hook, head=head))
                losses = model.run_with_hooks(tokens, return_type="loss", loss_per_token=True, fwd_hooks=[hook])
                scores[layer, head] = repeat_loss(losses, seq_len) - clean
    return scores
    # END SOLUTION


# ---------------------------------------------------------------------------
# Circuits: reading the algorithm off the weights
# ---------------------------------------------------------------------------


def full_ov_circuit(W_E: Tensor, W_V: Tensor, W_O: Tensor, W_U: Tensor) -> Tensor:
    """Each head's full OV circuit ``W_E @ W_V[h] @ W_O[h] @ W_U``: ``[n_heads, d_vocab, d_vocab]``.

    ``W_E: [d_vocab, d_model]``, ``W_V: [n_heads, d_model, d_head]``,
    ``W_O: [n_heads, d_head, d_model]``, ``W_U: [d_model, d_vocab]``. Row ``s``
    of head ``h``'s matrix is how each logit changes when ``h`` attends to
    token ``s``: rows are the attended (source) token, columns the logits.
    """
    # BEGIN SOLUTION
    # HINT: matmul broadcasts over the head axis: W_E @ W_V is [n_heads d_vocab d_head]
    return W_E @ W_V @ W_O @ W_U
    # END SOLUTION


def top1_accuracy(matrix: Tensor) -> Tensor:
    """The fraction of rows whose largest entry is on the diagonal (a 0-d float tensor).

    ``matrix: [n, n]``. For a full OV circuit: how often attending to token
    ``s`` raises logit ``s`` more than any other, i.e. how well the head copies.

    >>> top1_accuracy(torch.tensor([[3.0, 1.0], [5.0, 2.0]]))
    tensor(0.5000)
    """
    # BEGIN SOLUTION
    # HINT: matrix.argmax(dim=-1) is each row's winner; compare it with torch.arange(n)
    hits = matrix.argmax(dim=-1) == torch.arange(matrix.shape[0], device=matrix.device)
    return hits.float().mean()
    # END SOLUTION


def composition_score(W_A: Tensor, W_B: Tensor) -> Tensor:
    """How much of ``W_A`` survives into ``W_B``: ``||W_A @ W_B||_F / (||W_A||_F * ||W_B||_F)``.

    ``W_A, W_B: [..., d, d]`` (leading axes batch) -> ``[...]``. ``||M||_F`` is
    the Frobenius norm, ``sqrt(sum of M**2)`` over the last two axes. The score
    is between 0 and 1.

    >>> composition_score(torch.eye(4), torch.eye(4))
    tensor(0.5000)
    """
    # BEGIN SOLUTION
    # HINT: torch.linalg.matrix_norm(M) is the Frobenius norm over the last two axes
    norm = torch.linalg.matrix_norm
    return norm(W_A @ W_B) / (norm(W_A) * norm(W_B))
    # END SOLUTION


def k_composition_scores(W_V0: Tensor, W_O0: Tensor, W_Q1: Tensor, W_K1: Tensor) -> Tensor:
    """K-composition score of every layer-0 head with every layer-1 head: ``[n_heads_0, n_heads_1]``.

    ``W_V0, W_Q1, W_K1: [n_heads, d_model, d_head]``, ``W_O0: [n_heads, d_head, d_model]``.
    Layer-0 head ``i`` writes ``x @ W_OV[i]`` with ``W_OV = W_V0 @ W_O0``; layer-1
    head ``j``'s keys read the residual through ``W_QK[j].T`` with
    ``W_QK = W_Q1 @ W_K1.T`` (the key side is on the right of ``W_QK``). Entry
    ``[i, j]`` is ``composition_score(W_OV[i], W_QK[j].T)``.
    """
    # BEGIN SOLUTION
    # HINT: W_OV[:, None] is [n0 1 d d] and W_QK.transpose(-1, -2)[None] is [1 n1 d d]: composition_score broadcasts
    W_OV = W_V0 @ W_O0  # [n_heads_0 d_model d_model]
    W_QK = W_Q1 @ W_K1.transpose(-1, -2)  # [n_heads_1 d_model d_model]
    return composition_score(W_OV[:, None], W_QK.transpose(-1, -2)[None])
    # END SOLUTION


def factored_singular_values(A: Tensor, B: Tensor) -> Tensor:
    """The singular values of ``A @ B`` without forming it: ``[k]``, largest first.

    ``A: [m, k]``, ``B: [k, n]`` with ``k`` small (a head's ``d_head``), ``m, n``
    large (``d_vocab``). ``A = U_A S_A Vh_A`` and ``B = U_B S_B Vh_B`` (thin
    SVDs); then ``A @ B = U_A (S_A Vh_A U_B S_B) Vh_B``, and since ``U_A`` and
    ``Vh_B`` have orthonormal columns / rows, ``A @ B`` has the singular values
    of the small ``k x k`` middle matrix. Return those ``k`` values.
    """
    # BEGIN SOLUTION
    # HINT: torch.linalg.svd(A, full_matrices=False); the middle is torch.diag(S_A) @ Vh_A @ U_B @ torch.diag(S_B)
    _, S_A, Vh_A = torch.linalg.svd(A, full_matrices=False)
    U_B, S_B, _ = torch.linalg.svd(B, full_matrices=False)
    middle = torch.diag(S_A) @ Vh_A @ U_B @ torch.diag(S_B)
    return torch.linalg.svdvals(middle)
    # END SOLUTION


# ---------------------------------------------------------------------------
# Reading one head: eigenvalues of its OV circuit, its queries and keys by component
# ---------------------------------------------------------------------------


def copying_score(A: Tensor, B: Tensor) -> Tensor:
    """How much a circuit ``A @ B`` copies: ``Σλ / Σ|λ|`` over its eigenvalues ``λ``, ``[...]``.

    ``A: [..., n, k]``, ``B: [..., k, n]`` with ``k`` small (a full OV circuit:
    ``A = W_E W_V: [d_vocab, d_head]``, ``B = W_O W_U: [d_head, d_vocab]``).
    ``A @ B`` has at most ``k`` non-zero eigenvalues, and they are the
    eigenvalues of the small ``B @ A: [k, k]``. They are complex in general:
    ``|λ|`` is the modulus, and the ratio's real part is the score (the
    imaginary parts cancel, in conjugate pairs). It lies in ``[-1, 1]``: 1 when
    every eigenvalue is real and positive (attending to a token raises its own
    logit: the head copies), -1 when every one is negative (Elhage et al., 2021).

    >>> copying_score(torch.eye(3, 2), torch.eye(2, 3))   # a projection: eigenvalues 1, 1 (and 0)
    tensor(1.)
    """
    # BEGIN SOLUTION
    # HINT: torch.linalg.eigvals(B @ A) is [..., k] complex; (eig.sum(-1) / eig.abs().sum(-1)).real
    eigenvalues = torch.linalg.eigvals(B @ A)  # [..., k], complex
    return (eigenvalues.sum(dim=-1) / eigenvalues.abs().sum(dim=-1)).real
    # END SOLUTION


def decompose_q(components: Tensor, scale: Tensor, W_Q: Tensor, b_Q: Tensor) -> Tensor:
    """One head's queries split by the component they read: ``[n_components + 1, batch, pos, d_head]``.

    ``components: [n_components, batch, pos, d_model]`` is what each earlier
    component (embedding, positional embedding, each earlier head, ...) wrote;
    they sum to the residual stream ``x`` the head's LayerNorm reads.
    ``scale: [batch, pos, 1]`` is that LayerNorm's divisor ``sqrt(var(x) + eps)``
    at each position, as the forward pass computed it
    (``cache["blocks.{L}.ln1.hook_scale"]``). ``W_Q: [d_model, d_head]`` and
    ``b_Q: [d_head]`` are the head's query weights with the LayerNorm's ``w``
    and ``b`` folded in, so its queries are ``(x - mean(x)) / scale @ W_Q + b_Q``
    (``mean`` over ``d_model``).

    The mean is linear and the scale is held fixed, so the query splits:
    component ``c``'s part is ``(c - mean(c)) / scale @ W_Q``. Return those
    ``n_components`` parts and, last, ``b_Q`` at every position: they sum to
    the queries.

    >>> components = torch.tensor([[[[1.0, 3.0]]], [[[2.0, 2.0]]]])   # 2 components, batch 1, pos 1, d_model 2
    >>> decompose_q(components, torch.tensor([[[2.0]]]), torch.eye(2), torch.tensor([0.5, 0.5]))[:, 0, 0]
    tensor([[-0.5000,  0.5000],
            [ 0.0000,  0.0000],
            [ 0.5000,  0.5000]])
    """
    # BEGIN SOLUTION
    # HINT: centred = components - components.mean(dim=-1, keepdim=True); (centred / scale) @ W_Q, then the bias part
    centred = components - components.mean(dim=-1, keepdim=True)  # [component batch pos d_model]
    parts = (centred / scale) @ W_Q  # [component batch pos d_head]
    return torch.cat([parts, b_Q.expand_as(parts[0])[None]])
    # END SOLUTION


def decompose_k(components: Tensor, scale: Tensor, W_K: Tensor, b_K: Tensor) -> Tensor:
    """The same head's keys, one part per component: ``[n_components + 1, batch, pos, d_head]``.

    The arguments are ``decompose_q``'s, with the head's key weights
    ``W_K: [d_model, d_head]`` and ``b_K: [d_head]`` (LayerNorm folded in). A key
    reads the residual stream exactly as a query does: component ``c``'s part is
    ``(c - mean(c)) / scale @ W_K``, and ``b_K`` comes last; they sum to the keys.
    """
    # BEGIN SOLUTION
    # HINT: a key is read like a query, through W_K and b_K: one call to decompose_q
    return decompose_q(components, scale, W_K, b_K)
    # END SOLUTION
