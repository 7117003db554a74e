"""Chapter 4: grokking, and reading the algorithm a transformer found in the Fourier basis.

Fill in every ``raise NotImplementedError(...)`` below. Check each piece as
soon as it is written, in the notebook or a Python shell::

    from minigpt.grading import check
    check("ch04.fourier_basis", fourier_basis)

and grade the whole file with ``minigpt grade``. The task is ``a + b mod p``
read as the three tokens ``a b =`` (``=`` is token ``p``). Every pair
``(a, b)`` is listed in one order everywhere: row ``a * p + b``, so a
``[p*p, ...]`` tensor reshapes to ``[p, p, ...]`` indexed by ``a`` then ``b``.

The Fourier basis of ``Z_p`` (``p`` odd) has ``p`` rows: the constant, then
``cos k`` and ``sin k`` for each frequency ``k = 1 .. (p-1)/2`` (rows ``2k - 1``
and ``2k``), each of unit norm. Frequencies are numbered from 1.

Later pieces may call earlier ones (``restricted_loss`` and ``excluded_loss``
can use ``xpy_directions``). When grading, each piece is run with the
reference versions of the pieces it uses, so one bug costs the points of one
exercise only.
"""

from __future__ import annotations

import math

import einops  # noqa: F401  (yours to use)
import torch
import torch.nn.functional as F  # noqa: F401  (yours to use)
from torch import Tensor

# ---------------------------------------------------------------------------
# The task
# ---------------------------------------------------------------------------


def modular_pairs(p: int) -> tuple[Tensor, Tensor]:
    """Every input of ``a + b mod p`` and its answer: ``(tokens [p*p, 3], labels [p*p])``, both int64.

    Row ``a * p + b`` holds the tokens ``[a, b, p]`` (``p`` is the ``=`` token)
    and the label ``(a + b) % p``.

    >>> tokens, labels = modular_pairs(3)
    >>> tokens[:4].tolist(), labels.tolist()
    ([[0, 0, 3], [0, 1, 3], [0, 2, 3], [1, 0, 3]], [0, 1, 2, 1, 2, 0, 2, 0, 1])
    """
    # BEGIN SOLUTION
    # HINT: a = torch.arange(p).repeat_interleave(p) (0,0,0,1,1,1,...), b = torch.arange(p).repeat(p) (0,1,2,0,1,2,...)
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    tokens = torch.stack([a, b, torch.full_like(a, p)], dim=1)
    return tokens, (a + b) % p
    # END SOLUTION


# ---------------------------------------------------------------------------
# The Fourier basis and transforms
# ---------------------------------------------------------------------------


def fourier_basis(p: int) -> Tensor:
    """The Fourier basis of ``Z_p`` (``p`` odd) as rows of a ``[p, p]`` float32 matrix, orthonormal.

    Row ``0`` is constant; rows ``2k - 1`` and ``2k`` are ``cos(2π k x / p)`` and
    ``sin(2π k x / p)`` over ``x = 0 .. p-1``, for ``k = 1 .. (p-1)/2``. Every
    row has norm 1, so ``basis @ basis.T`` is the identity.

    >>> basis = fourier_basis(5)
    >>> basis[0]
    tensor([0.4472, 0.4472, 0.4472, 0.4472, 0.4472])
    >>> torch.allclose(basis @ basis.T, torch.eye(5), atol=1e-6)
    True
    """
    # BEGIN SOLUTION
    # HINT: build each row over x = torch.arange(p); then divide every row by its own norm (row.norm())
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.ones(p, dtype=torch.float64)]
    for k in range(1, (p - 1) // 2 + 1):
        rows.append(torch.cos(2 * math.pi * k * x / p))
        rows.append(torch.sin(2 * math.pi * k * x / p))
    basis = torch.stack(rows)
    return (basis / basis.norm(dim=1, keepdim=True)).float()
    # END SOLUTION


def fft1d(x: Tensor, basis: Tensor) -> Tensor:
    """Coefficients of ``x [p, ...]`` in the Fourier ``basis [p, p]`` along its first axis: ``[p, ...]``.

    Coefficient ``i`` is the dot product of basis row ``i`` with ``x`` along
    the first axis (for ``W_E[:p]``, ``[p, d_model]``: how much each of the
    ``d_model`` directions varies like basis function ``i`` over the tokens).

    >>> basis = torch.eye(3)[[2, 0, 1]]                   # any orthonormal rows
    >>> fft1d(torch.tensor([[1.0], [2.0], [3.0]]), basis)
    tensor([[3.],
            [1.],
            [2.]])
    """
    # BEGIN SOLUTION
    # HINT: a change of basis along the first axis: torch.tensordot(basis, x, dims=1), or einsum "i a, a ... -> i ..."
    return torch.tensordot(basis, x, dims=1)
    # END SOLUTION


def fft2d(x: Tensor, basis: Tensor) -> Tensor:
    """Coefficients of ``x [p, p, ...]`` (indexed by ``a`` then ``b``) in the basis along both first axes.

    Entry ``[i, j, ...]`` is ``sum over a, b of basis[i, a] * basis[j, b] * x[a, b, ...]``:
    basis function ``i`` of ``a`` times basis function ``j`` of ``b``.

    >>> basis = torch.eye(2)[[1, 0]]                     # swaps the two coordinates
    >>> fft2d(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), basis)
    tensor([[4., 3.],
            [2., 1.]])
    """
    # BEGIN SOLUTION
    # HINT: one axis at a time: torch.einsum("ia,ab...->ib...", basis, x), then the same on the b axis ("jb,ib...->ij...")
    # HINT: (a single einsum of the three tensors builds a [p, p, p, p] intermediate: slow for p = 113)
    along_a = torch.einsum("ia,ab...->ib...", basis, x)
    return torch.einsum("jb,ib...->ij...", basis, along_a)
    # END SOLUTION


def key_frequencies(coeffs: Tensor, rel_threshold: float = 0.1) -> list[int]:
    """The key frequencies of 1-D Fourier coefficients ``coeffs [p, ...]``, strongest first.

    The power of frequency ``k`` is the sum of the squares of rows ``2k - 1``
    (cos) and ``2k`` (sin) over every other axis; row ``0`` (the constant) is
    not a frequency. Return the frequencies ``k`` (numbered from 1) whose power
    is at least ``rel_threshold`` times the largest power, as a list of ints,
    sorted by power, largest first.

    >>> coeffs = torch.zeros(7, 2)
    >>> coeffs[3, 0], coeffs[6, 1], coeffs[2, 1] = 3.0, 2.0, 0.5   # cos 2, sin 3, sin 1
    >>> key_frequencies(coeffs)
    [2, 3]
    """
    # BEGIN SOLUTION
    # HINT: power = (coeffs[1::2] ** 2) + (coeffs[2::2] ** 2), summed over the other axes: index i is frequency i + 1
    sq = coeffs.pow(2).reshape(coeffs.shape[0], -1).sum(-1)
    power = sq[1::2] + sq[2::2]
    order = torch.argsort(power, descending=True, stable=True)
    return [int(i) + 1 for i in order if power[i] >= rel_threshold * power[order[0]]]
    # END SOLUTION


def embedding_svd(W_E: Tensor, basis: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """The singular values of the residues' embedding, and the frequency of its top ``n`` singular vectors.

    ``W_E [d_vocab, d_model]`` is the whole embedding (rows ``0 .. p-1`` are the residues, then
    ``=``); ``basis [p, p]`` is the Fourier basis, so ``p = basis.shape[0]``. Keep the residues'
    rows, remove their mean over the tokens (centre each column), and take the SVD
    ``U S Vh`` (``torch.linalg.svd``, ``full_matrices=False``). Return

    - ``S``, the singular values, ``[min(p, d_model)]``, largest first;
    - for each of the first ``n`` columns of ``U`` (a function of the token, ``[p]``), the
      frequency ``k`` (numbered from 1) with the most power ``cos k² + sin k²`` in its 1-D
      Fourier coefficients (``fft1d``): int64 ``[n]``.

    Singular vectors are defined up to sign (and, for equal singular values, up to a rotation
    within their plane): the power per frequency does not care.

    >>> x = torch.arange(5.0)
    >>> wave = torch.stack([torch.cos(2 * math.pi * 2 * x / 5), torch.sin(2 * math.pi * 2 * x / 5)], dim=1)
    >>> W_E = torch.cat([wave + 1.0, torch.tensor([[9.0, 9.0]])])   # frequency 2 plus a mean, then the = token
    >>> embedding_svd(W_E, fourier_basis(5), 2)
    (tensor([1.5811, 1.5811]), tensor([2, 2]))
    """
    # BEGIN SOLUTION
    # HINT: X = W_E[:p] - W_E[:p].mean(dim=0); U, S, Vh = torch.linalg.svd(X, full_matrices=False).
    # HINT: The columns U[:, i] are functions of the token: coefficients basis @ U[:, :n], power rows 2k-1 and 2k
    p = basis.shape[0]
    residues = W_E[:p]
    U, S, _ = torch.linalg.svd(residues - residues.mean(dim=0, keepdim=True), full_matrices=False)
    coeffs = fft1d(U[:, :n], basis)  # [p, n]
    power = coeffs[1::2].pow(2) + coeffs[2::2].pow(2)  # [(p-1)/2, n]: index i is frequency i + 1
    return S, power.argmax(dim=0) + 1
    # END SOLUTION


def project_onto_frequency(x: Tensor, freq: int, basis: Tensor) -> Tensor:
    """The part of ``x [p, ...]`` that oscillates at frequency ``freq`` along the first axis: ``[p, ...]``.

    Keep the ``cos freq`` and ``sin freq`` coefficients of ``x`` (rows
    ``2 freq - 1`` and ``2 freq`` of the basis), drop all the others, and go
    back to the original coordinates.

    >>> basis = fourier_basis(5)
    >>> x = torch.cos(2 * math.pi * 2 * torch.arange(5) / 5) + 1.0   # frequency 2, plus a constant
    >>> project_onto_frequency(x, 2, basis)
    tensor([ 1.0000, -0.8090,  0.3090,  0.3090, -0.8090])
    """
    # BEGIN SOLUTION
    # HINT: B = basis[2*freq - 1 : 2*freq + 1] ([2, p]); coefficients B @ x along the first axis, then back: B.T @ them
    rows = basis[2 * freq - 1: 2 * freq + 1]
    return torch.tensordot(rows.T, torch.tensordot(rows, x, dims=1), dims=1)
    # END SOLUTION


def neuron_frequency_clusters(coeffs: Tensor, threshold: float = 0.85) -> Tensor:
    """Each neuron's frequency, from the 2-D Fourier coefficients of its activations: ``[d_mlp]`` int64.

    ``coeffs [p, p, d_mlp]`` is ``fft2d`` of the neuron activations over ``(a, b)``.
    A neuron's variance is the sum of its squared coefficients except
    ``[0, 0]`` (the mean). Frequency ``k`` explains the terms made of
    ``{const, cos k, sin k}`` of ``a`` times ``{const, cos k, sin k}`` of ``b``,
    i.e. the 3×3 block of rows/columns ``0, 2k-1, 2k`` (again without ``[0, 0]``).
    Return, for each neuron, the frequency that explains the largest fraction of
    its variance when that fraction is at least ``threshold``, else ``0``.

    >>> coeffs = torch.zeros(5, 5, 2)
    >>> coeffs[3, 4, 0], coeffs[0, 0, 0] = 1.0, 9.0   # neuron 0: cos 2 (a) × sin 2 (b), and a mean
    >>> coeffs[1, 0, 1], coeffs[0, 3, 1] = 1.0, 1.0   # neuron 1: cos 1 (a) + cos 2 (b): half and half
    >>> neuron_frequency_clusters(coeffs)
    tensor([2, 0])
    """
    # BEGIN SOLUTION
    # HINT: sq = coeffs ** 2 with sq[0, 0] = 0; for k: idx = [0, 2k-1, 2k], block = sq[idx][:, idx].sum((0, 1))
    sq = coeffs.pow(2).clone()
    sq[0, 0] = 0
    total = sq.sum((0, 1))
    fractions = []
    for k in range(1, (coeffs.shape[0] - 1) // 2 + 1):
        idx = torch.tensor([0, 2 * k - 1, 2 * k])
        fractions.append(sq[idx][:, idx].sum((0, 1)) / total)
    best, arg = torch.stack(fractions).max(dim=0)
    return torch.where(best >= threshold, arg + 1, torch.zeros_like(arg))
    # END SOLUTION


# ---------------------------------------------------------------------------
# Reading the weights
# ---------------------------------------------------------------------------


def effective_weights(W_E: Tensor, W_V: Tensor, W_O: Tensor, W_in: Tensor, W_out: Tensor, W_U: Tensor,
                      p: int) -> tuple[Tensor, Tensor]:
    """The maps from input tokens to the MLP neurons, and from the neurons to the answers: ``(W_neur, W_logit)``.

    ``W_E [d_vocab, d_model]``, ``W_V [n_heads, d_model, d_head]``, ``W_O [n_heads, d_head, d_model]``,
    ``W_in [d_model, d_mlp]``, ``W_out [d_mlp, d_model]``, ``W_U [d_model, d_vocab]``; tokens ``0 .. p-1``
    are the residues (``=`` is token ``p``: leave it out on both sides).

    - ``W_neur [n_heads, p, d_mlp]``: ``W_neur[h] = W_E[:p] @ W_V[h] @ W_O[h] @ W_in``, what head ``h``
      carries from residue ``a`` to each neuron's input when it attends to ``a`` only;
    - ``W_logit [d_mlp, p]``: ``W_out @ W_U[:, :p]``, what each neuron adds to each answer's logit.

    >>> W_E = torch.tensor([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])      # p = 2 residues, then =
    >>> eye = torch.eye(2)[None]                                      # one head with W_V = W_O = identity
    >>> W_neur, W_logit = effective_weights(W_E, eye, eye, torch.ones(2, 3), torch.ones(3, 2), torch.eye(2, 3), p=2)
    >>> W_neur.shape, W_logit.shape
    (torch.Size([1, 2, 3]), torch.Size([3, 2]))
    """
    # BEGIN SOLUTION
    # HINT: W_OV = W_V @ W_O is [n_heads, d_model, d_model] (matmul broadcasts over the head axis).
    # HINT: W_neur = W_E[:p] @ W_OV @ W_in; W_logit = W_out @ W_U[:, :p] (the = column is not an answer).
    W_OV = W_V @ W_O  # [n_heads, d_model, d_model]: read from the residue's embedding, write to the stream at =
    W_neur = W_E[:p] @ W_OV @ W_in  # [n_heads, p, d_mlp]
    W_logit = W_out @ W_U[:, :p]  # [d_mlp, p]
    return W_neur, W_logit
    # END SOLUTION


def frequency_ablation(logits: Tensor, neurons: Tensor, W_logit: Tensor, clusters: Tensor, labels: Tensor,
                       freqs: list[int]) -> tuple[Tensor, Tensor]:
    """Loss and accuracy once the neurons of each frequency are mean-ablated: two float64 ``[len(freqs)]``.

    ``logits [n, p]``: the model's logits at ``=`` over the residues, one row per pair;
    ``neurons [n, d_mlp]``: the MLP activations at ``=`` for the same pairs; ``W_logit [d_mlp, p]``
    (``effective_weights``); ``clusters [d_mlp]`` int64: each neuron's frequency, ``0`` for none
    (``neuron_frequency_clusters``); ``labels [n]``.

    For each ``k`` in ``freqs``, replace the activations of the neurons with ``clusters == k`` by
    their mean over the ``n`` pairs (a *mean ablation*). The logits are linear in the activations
    (one layer, nothing after the MLP but ``W_out`` and ``W_U``), so the ablated logits are
    ``logits - (neurons[:, S] - neurons[:, S].mean(0)) @ W_logit[S]`` for those neurons ``S``.
    Return the mean cross-entropy of the ablated logits (float64) against ``labels``, and their
    accuracy (the fraction of pairs whose largest logit is the label, float64), one entry per ``k``.

    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])          # two pairs, both right (loss 0.127)
    >>> neurons, W_logit = torch.tensor([[1.0], [0.0]]), torch.tensor([[2.0, 0.0]])   # one neuron, frequency 1
    >>> frequency_ablation(logits, neurons, W_logit, torch.tensor([1]), torch.tensor([0, 1]), [1])
    (tensor([0.3133], dtype=torch.float64), tensor([1.], dtype=torch.float64))
    """
    # BEGIN SOLUTION
    # HINT: for k: S = clusters == k; delta = neurons[:, S] - neurons[:, S].mean(dim=0) ([n, |S|]), over the pairs.
    # HINT: Ablated = logits - delta @ W_logit[S] (all in float64); F.cross_entropy(ablated, labels), argmax(-1)
    logits, neurons, W_logit = logits.double(), neurons.double(), W_logit.double()
    losses, accuracies = [], []
    for k in freqs:
        members = clusters == k
        delta = neurons[:, members] - neurons[:, members].mean(dim=0, keepdim=True)  # [n, members]
        ablated = logits - delta @ W_logit[members]
        losses.append(F.cross_entropy(ablated, labels))
        accuracies.append((ablated.argmax(dim=-1) == labels).double().mean())
    return torch.stack(losses), torch.stack(accuracies)
    # END SOLUTION


# ---------------------------------------------------------------------------
# Progress measures
# ---------------------------------------------------------------------------


def xpy_directions(freq: int, p: int) -> tuple[Tensor, Tensor]:
    """``cos(w(a+b))`` and ``sin(w(a+b))`` over every pair, as unit vectors ``[p*p]`` (float64), ``w = 2π freq / p``.

    Row ``a * p + b`` is the value at the pair ``(a, b)``; divide each vector by its norm.

    >>> cos, sin = xpy_directions(1, 3)
    >>> cos.reshape(3, 3)
    tensor([[ 0.4714, -0.2357, -0.2357],
            [-0.2357, -0.2357,  0.4714],
            [-0.2357,  0.4714, -0.2357]], dtype=torch.float64)
    """
    # BEGIN SOLUTION
    # HINT: s = (a + b) for a = arange(p).repeat_interleave(p), b = arange(p).repeat(p); cos(2π freq s / p) / its norm
    a = torch.arange(p, dtype=torch.float64).repeat_interleave(p)
    b = torch.arange(p, dtype=torch.float64).repeat(p)
    angle = 2 * math.pi * freq * (a + b) / p
    cos, sin = torch.cos(angle), torch.sin(angle)
    return cos / cos.norm(), sin / sin.norm()
    # END SOLUTION


def restricted_loss(logits: Tensor, labels: Tensor, freqs: list[int]) -> Tensor:
    """The loss of the logits kept to the key frequencies, over every pair: a float64 scalar.

    ``logits [p*p, p]`` (row ``a * p + b``, column: the answer ``c``), ``labels [p*p]``.
    The restricted logits are each column's mean over the pairs plus, for each
    ``k`` in ``freqs``, the projections of the column onto the unit vectors
    ``cos(w_k(a+b))`` and ``sin(w_k(a+b))`` (``xpy_directions``). Return the mean
    cross-entropy of the restricted logits (in float64) against ``labels``.

    >>> logits = torch.zeros(9, 3, dtype=torch.float64)
    >>> restricted_loss(logits, torch.zeros(9, dtype=torch.long), [1])    # uniform: log 3
    tensor(1.0986, dtype=torch.float64)
    """
    # BEGIN SOLUTION
    # HINT: for each direction d ([p*p]): logits_r += outer(d, d @ logits); start from logits.mean(0, keepdim=True)
    logits = logits.double()
    p = logits.shape[1]
    restricted = logits.mean(dim=0, keepdim=True).expand_as(logits).clone()
    for k in freqs:
        for d in xpy_directions(k, p):
            restricted += torch.outer(d, d @ logits)
    return F.cross_entropy(restricted, labels)
    # END SOLUTION


def excluded_loss(logits: Tensor, labels: Tensor, freqs: list[int], train_idx: Tensor) -> Tensor:
    """The loss on the training pairs once the key frequencies are removed: a float64 scalar.

    Subtract from every column of ``logits [p*p, p]`` its projections onto
    ``cos(w_k(a+b))`` and ``sin(w_k(a+b))`` for each ``k`` in ``freqs`` (and
    nothing else), then return the mean cross-entropy (float64) on the rows
    ``train_idx`` only.

    >>> logits = torch.zeros(9, 3, dtype=torch.float64)
    >>> excluded_loss(logits, torch.zeros(9, dtype=torch.long), [1], torch.arange(4))
    tensor(1.0986, dtype=torch.float64)
    """
    # BEGIN SOLUTION
    # HINT: excluded = logits - sum over k and d of outer(d, d @ logits); cross-entropy on excluded[train_idx]
    logits = logits.double()
    p = logits.shape[1]
    excluded = logits.clone()
    for k in freqs:
        for d in xpy_directions(k, p):
            excluded -= torch.outer(d, d @ logits)
    return F.cross_entropy(excluded[train_idx], labels[train_idx])
    # END SOLUTION


def sum_sq_weights(params: dict[str, Tensor]) -> Tensor:
    """The sum of the squares of every entry of every tensor in ``params`` (a state dict): a scalar.

    What weight decay pulls down: ``Σ w²`` over all parameters, biases included.

    >>> sum_sq_weights({"W": torch.tensor([[1.0, 2.0]]), "b": torch.tensor([2.0])})
    tensor(9.)
    """
    # BEGIN SOLUTION
    # HINT: sum(t.pow(2).sum() for t in params.values())
    return sum(t.pow(2).sum() for t in params.values())
    # END SOLUTION
