"""Chapter 4 checks: reading the weights (the SVD of ``W_E``, ``W_neur`` and ``W_logit``) and ablating a frequency.

Each mutant is a mistake a learner makes on the way (the mean left in, the ``=`` token kept, the
OV circuit read backwards, a zero ablation for a mean one, ...), and the cases tell every mutant
apart from the reference and from the others.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import _basis, register_exercise

# ---------------------------------------------------------------------------
# embedding_svd
# ---------------------------------------------------------------------------


def _wave_embedding(g: torch.Generator, p: int, d_model: int, amplitudes: dict[int, float], mean: float,
                    eq_row: float) -> torch.Tensor:
    """``W_E [p + 1, d_model]``: a circle per frequency (``{k: amplitude}``), noise, a mean, and the ``=`` row."""
    x = torch.arange(p, dtype=torch.float64)
    W_E = _randn(g, p, d_model, scale=0.05).double() + mean * _randn(g, 1, d_model).double()
    for k, amplitude in amplitudes.items():
        u, v = torch.linalg.qr(_randn(g, d_model, 2).double())[0].T  # two orthonormal directions
        angle = 2 * math.pi * k * x / p
        W_E += amplitude * (torch.cos(angle)[:, None] * u + torch.sin(angle)[:, None] * v)
    return torch.cat([W_E, eq_row * _randn(g, 1, d_model).double()]).float()


def svd_cases() -> list[Case]:
    g = torch.Generator().manual_seed(413)
    return [
        dict(W_E=_wave_embedding(g, 7, 8, {2: 3.0, 3: 1.5}, mean=2.0, eq_row=4.0), basis=_basis(7), n=4),
        dict(W_E=_wave_embedding(g, 11, 12, {3: 4.0, 1: 2.5, 5: 1.2}, mean=1.0, eq_row=5.0), basis=_basis(11), n=6),
        dict(W_E=_wave_embedding(g, 5, 6, {1: 2.0}, mean=3.0, eq_row=3.0), basis=_basis(5), n=3),
    ]


def _freq_of_columns(vectors, basis, offset=1, index=False):
    coeffs = basis @ vectors  # [p, n]
    if index:  # the row of the largest coefficient, not its frequency
        return coeffs.pow(2)[1:].argmax(dim=0) + 1
    power = coeffs[1::2].pow(2) + coeffs[2::2].pow(2)
    return power.argmax(dim=0) + offset


def _svd(W_E, basis, n, centre=True, rows=None, columns=True, index=False, squared=False):
    p = basis.shape[0]
    X = W_E[:p] if rows is None else W_E[:rows]
    if centre:
        X = X - X.mean(dim=0, keepdim=True)
    U, S, _ = torch.linalg.svd(X, full_matrices=False)
    vectors = U[:p, :n] if columns else U[:n, :p].T
    return (S.pow(2) if squared else S), _freq_of_columns(vectors, basis, index=index)


def _svd_not_centred(W_E, basis, n):
    return _svd(W_E, basis, n, centre=False)


def _svd_keeps_equals(W_E, basis, n):
    return _svd(W_E, basis, n, rows=basis.shape[0] + 1)


def _svd_rows_of_u(W_E, basis, n):
    return _svd(W_E, basis, n, columns=False)


def _svd_coefficient_index(W_E, basis, n):
    return _svd(W_E, basis, n, index=True)


def _svd_squared(W_E, basis, n):
    return _svd(W_E, basis, n, squared=True)


register_exercise(
    id="ch04.embedding_svd", name="embedding_svd", title="The SVD of the embedding", points=2, difficulty=2,
    hints=["X = W_E[:p] - W_E[:p].mean(dim=0) (the residues only, centred); U, S, Vh = torch.linalg.svd(X, "
           "full_matrices=False).",
           "Singular vector i is the column U[:, i], a function of the token: coeffs = fft1d(U[:, :n], basis).",
           "power = coeffs[1::2]**2 + coeffs[2::2]**2 ([(p-1)/2, n]); its argmax over frequencies, plus 1."],
    make_cases=svd_cases,
    mutants=[
        Mutant("not-centred", "the embedding is not centred: the mean over the tokens (the constant) takes a "
               "singular direction of its own. Subtract W_E[:p].mean(dim=0) first.", _svd_not_centred),
        Mutant("keeps-equals", "the '=' token's row is in the SVD; keep the residues only, W_E[:p] (p = "
               "basis.shape[0]).", _svd_keeps_equals),
        Mutant("rows-of-U", "the frequencies come from rows of U; singular vector i is the column U[:, i] (one "
               "entry per token).", _svd_rows_of_u),
        Mutant("coefficient-index", "this is the index of the largest Fourier coefficient (a basis row: 2k - 1 for "
               "cos k, 2k for sin k); return the frequency k, adding the cos and sin power of each k.",
               _svd_coefficient_index),
        Mutant("squared", "these are the squared singular values (the variances, or the eigenvalues of X^T X); "
               "return S itself.", _svd_squared),
    ],
    depends_on=["ch04.fft1d"],
)

# ---------------------------------------------------------------------------
# effective_weights
# ---------------------------------------------------------------------------


def _weights(g: torch.Generator, p: int, d_model: int, n_heads: int, d_head: int, d_mlp: int) -> Case:
    d_vocab = p + 1
    return dict(W_E=_randn(g, d_vocab, d_model), W_V=_randn(g, n_heads, d_model, d_head, scale=0.5),
                W_O=_randn(g, n_heads, d_head, d_model, scale=0.5), W_in=_randn(g, d_model, d_mlp, scale=0.5),
                W_out=_randn(g, d_mlp, d_model, scale=0.5), W_U=_randn(g, d_model, d_vocab), p=p)


def effective_cases() -> list[Case]:
    g = torch.Generator().manual_seed(414)
    return [_weights(g, p=5, d_model=4, n_heads=2, d_head=3, d_mlp=6),
            _weights(g, p=7, d_model=6, n_heads=3, d_head=2, d_mlp=5),
            _weights(g, p=3, d_model=4, n_heads=1, d_head=4, d_mlp=8)]


def _ew(W_E, W_V, W_O, W_in, W_out, W_U, p):
    return W_E[:p] @ (W_V @ W_O) @ W_in, W_out @ W_U[:, :p]


def _ew_direct(W_E, W_V, W_O, W_in, W_out, W_U, p):
    return W_E[:p] @ W_in, W_out @ W_U[:, :p]


def _ew_heads_summed(W_E, W_V, W_O, W_in, W_out, W_U, p):
    return (W_E[:p] @ (W_V @ W_O) @ W_in).sum(dim=0), W_out @ W_U[:, :p]


def _ew_keeps_equals_row(W_E, W_V, W_O, W_in, W_out, W_U, p):
    return W_E @ (W_V @ W_O) @ W_in, W_out @ W_U[:, :p]


def _ew_keeps_equals_column(W_E, W_V, W_O, W_in, W_out, W_U, p):
    return W_E[:p] @ (W_V @ W_O) @ W_in, W_out @ W_U


def _ew_ov_transposed(W_E, W_V, W_O, W_in, W_out, W_U, p):
    return W_E[:p] @ (W_V @ W_O).transpose(-1, -2) @ W_in, W_out @ W_U[:, :p]


register_exercise(
    id="ch04.effective_weights", name="effective_weights", title="The effective weights W_neur and W_logit",
    points=2, difficulty=2,
    hints=["W_OV = W_V @ W_O ([n_heads, d_model, d_model]; @ broadcasts over the head axis).",
           "W_neur = W_E[:p] @ W_OV @ W_in, W_logit = W_out @ W_U[:, :p]: the '=' token is neither an input "
           "residue nor an answer."],
    make_cases=effective_cases,
    mutants=[
        Mutant("direct-path", "this is W_E @ W_in, the path that skips attention; the neurons at '=' see a and b "
               "only through the heads: W_E[:p] @ W_V[h] @ W_O[h] @ W_in, one map per head.", _ew_direct),
        Mutant("heads-summed", "the heads are summed into one [p, d_mlp] map; keep one per head, "
               "[n_heads, p, d_mlp] (each head attends to a and b in its own proportions).", _ew_heads_summed),
        Mutant("keeps-equals-row", "W_neur has a row for the '=' token; the inputs are the residues: W_E[:p].",
               _ew_keeps_equals_row),
        Mutant("keeps-equals-column", "W_logit has a column for the '=' token; the answers are the residues: "
               "W_U[:, :p].", _ew_keeps_equals_column),
        Mutant("ov-transposed", "the OV circuit is transposed: a head reads with W_V then writes with W_O, "
               "x @ W_V[h] @ W_O[h] (row vectors, as everywhere in minigpt).", _ew_ov_transposed),
    ],
)

# ---------------------------------------------------------------------------
# frequency_ablation
# ---------------------------------------------------------------------------


def _ablation_case(g: torch.Generator, p: int, d_mlp: int, clusters: list[int], freqs: list[int],
                   bias: float) -> Case:
    n = p * p
    neurons = torch.relu(_randn(g, n, d_mlp, shift=0.3))
    W_logit = _randn(g, d_mlp, p)
    labels = torch.randint(0, p, (n,), generator=g)
    logits = _randn(g, n, p) + neurons @ W_logit + bias * F.one_hot(labels, p)
    return dict(logits=logits, neurons=neurons, W_logit=W_logit, clusters=torch.tensor(clusters), labels=labels,
                freqs=freqs)


def ablation_cases() -> list[Case]:
    g = torch.Generator().manual_seed(415)
    return [_ablation_case(g, 5, 8, [1, 1, 2, 0, 2, 1, 0, 2], [1, 2], bias=3.0),
            _ablation_case(g, 7, 6, [3, 0, 3, 1, 1, 3], [3, 1, 0], bias=2.0),
            _ablation_case(g, 5, 5, [2, 2, 0, 0, 1], [2], bias=4.0)]


def _fa(logits, neurons, W_logit, clusters, labels, freqs, how="mean"):
    logits, neurons, W_logit = logits.double(), neurons.double(), W_logit.double()
    losses, accuracies = [], []
    for k in freqs:
        members = clusters != k if how == "rest" else clusters == k
        acts = neurons[:, members]
        if how == "zero":
            delta = acts
        elif how == "neuron-axis":
            delta = acts - acts.mean(dim=1, keepdim=True)
        else:
            delta = acts - acts.mean(dim=0, keepdim=True)
        ablated = logits + delta @ W_logit[members] if how == "added" else logits - delta @ W_logit[members]
        losses.append(F.cross_entropy(ablated, labels))
        accuracies.append((ablated.argmax(dim=-1) == labels).double().mean())
    return torch.stack(losses), torch.stack(accuracies)


def _fa_zero(logits, neurons, W_logit, clusters, labels, freqs):
    return _fa(logits, neurons, W_logit, clusters, labels, freqs, how="zero")


def _fa_rest(logits, neurons, W_logit, clusters, labels, freqs):
    return _fa(logits, neurons, W_logit, clusters, labels, freqs, how="rest")


def _fa_added(logits, neurons, W_logit, clusters, labels, freqs):
    return _fa(logits, neurons, W_logit, clusters, labels, freqs, how="added")


def _fa_neuron_axis(logits, neurons, W_logit, clusters, labels, freqs):
    return _fa(logits, neurons, W_logit, clusters, labels, freqs, how="neuron-axis")


register_exercise(
    id="ch04.frequency_ablation", name="frequency_ablation", title="Ablating a frequency's neurons",
    points=2, difficulty=2,
    hints=["For each k: members = clusters == k; delta = neurons[:, members] - neurons[:, members].mean(dim=0), "
           "the activations' departure from their mean over the pairs.",
           "ablated = logits - delta @ W_logit[members], in float64; F.cross_entropy(ablated, labels) and "
           "(ablated.argmax(-1) == labels).double().mean()."],
    make_cases=ablation_cases,
    mutants=[
        Mutant("zero-ablation", "the activations are set to zero, which also removes their mean contribution "
               "(a constant the other neurons rely on); mean-ablate: replace them by their mean over the pairs, "
               "delta = acts - acts.mean(dim=0).", _fa_zero),
        Mutant("ablates-the-rest", "every neuron except frequency k's is ablated; ablate the neurons with "
               "clusters == k only.", _fa_rest),
        Mutant("added", "the neurons' part is added again instead of removed: ablated = logits - delta @ "
               "W_logit[members].", _fa_added),
        Mutant("mean-over-neurons", "the mean is over the neurons of each pair (dim=1); a mean ablation uses each "
               "neuron's mean over the pairs, neurons[:, members].mean(dim=0).", _fa_neuron_axis),
    ],
)
