"""Chapter 6: superposition and sparse autoencoders.

Fill in every ``raise NotImplementedError(...)`` below. Check each piece as
soon as it is written, in the notebook or a Python shell::

    from minigpt.grading import check
    check("ch06.toy_forward", toy_forward)

and grade the whole file with ``minigpt grade``.

**Toy models** (Elhage et al. 2022, "Toy Models of Superposition"; ARENA 1.3.2). ``n_features``
sparse features go through ``d_hidden < n_features`` dimensions and back, ``x' = ReLU(Wᵀ W x + b)``.
Many models (``n_instances``) train at once, each with its own feature probability:

    x, x'      [batch n_instances n_features]   a feature is present with its probability p,
                                                then uniform in [0, 1); else exactly 0
    W          [n_instances d_hidden n_features] column W[:, i] is feature i's direction
    b_final    [n_instances n_features]
    importance [n_features] or [n_instances n_features]

**Sparse autoencoders** (Towards Monosemanticity, 2023; SAELens's names). An SAE rewrites an
activation ``x [batch d_in]`` as a sparse, non-negative mix of ``d_sae`` directions:

    acts  = ReLU((x - b_dec) W_enc + b_enc)     W_enc [d_in d_sae], b_enc [d_sae]
    x_hat = acts W_dec + b_dec                  W_dec [d_sae d_in], one unit row per latent; b_dec [d_in]

``model`` (``loss_recovered``, ``latent_logit_effect``) is a ``minigpt.GPT``:
``model(tokens, return_type="loss")`` is the mean next-token loss and
``model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(name, fn)])`` runs with
``fn(activation, hook=hook_point)`` replacing the activation ``name`` by what it returns.

Later pieces may call earlier ones (``sae_loss`` and ``loss_recovered`` use ``sae_encode``).
When grading, each piece is run with the reference versions of the pieces it uses, so one
bug costs the points of one exercise only.
"""

from __future__ import annotations

import einops  # noqa: F401  (yours to use)
import torch
from torch import Tensor

# ---------------------------------------------------------------------------
# Toy models of superposition
# ---------------------------------------------------------------------------


def toy_forward(W: Tensor, b_final: Tensor, x: Tensor) -> Tensor:
    """The toy model ``x' = ReLU(Wᵀ W x + b_final)``, one ``W`` per instance: ``[batch n_instances n_features]``.

    ``W: [n_instances, d_hidden, n_features]``, ``b_final: [n_instances, n_features]``,
    ``x: [batch, n_instances, n_features]``. First ``h = W x`` (``[batch n_instances d_hidden]``),
    then back with ``Wᵀ``, add the bias, ReLU.

    >>> W = torch.tensor([[[1.0, -1.0]]])                      # one instance, d_hidden 1, two features
    >>> toy_forward(W, torch.zeros(1, 2), torch.tensor([[[0.5, 0.0]]]))
    tensor([[[0.5000, 0.0000]]])
    """
    raise NotImplementedError("h = einops.einsum(x, W, \"batch inst feat, inst hid feat -> batch inst hid\"); then einops.einsum(h, W, \"batch inst hid, inst hid feat -> batch inst feat\"), + b_final, torch.relu")


def generate_batch(batch_size: int, feature_probability: Tensor, seed: int) -> Tensor:
    """A batch of sparse features, reproducible from ``seed``: ``[batch_size, n_instances, n_features]``.

    ``feature_probability: [n_instances, n_features]``: each feature of each row is present with
    its probability (independently), and then takes a value uniform in ``[0, 1)``; otherwise it
    is exactly 0. With ``g = torch.Generator().manual_seed(seed)``, draw the values first,
    ``torch.rand(shape, generator=g)``, then the presence seeds the same way (``shape`` =
    ``(batch_size, n_instances, n_features)``); a feature is present where its seed is below
    its probability (ARENA's ``generate_batch``).
    """
    raise NotImplementedError("values = torch.rand(shape, generator=g); seeds = torch.rand(shape, generator=g); torch.where(seeds < feature_probability, values, 0.0)")


def importance_weighted_mse(out: Tensor, batch: Tensor, importance: Tensor) -> Tensor:
    """The toy models' loss, one per instance: ``[n_instances]``.

    ``out, batch: [batch, n_instances, n_features]``; ``importance`` broadcasts to
    ``[n_instances, n_features]`` (``[n_features]`` or the full table). Return the mean over
    the batch and the features of ``importance * (batch - out)²``.

    >>> importance_weighted_mse(torch.zeros(1, 1, 2), torch.ones(1, 1, 2), torch.tensor([1.0, 0.5]))
    tensor([0.7500])
    """
    raise NotImplementedError("(importance * (batch - out) ** 2).mean(dim=(0, 2)): the batch and the features go, the instances stay")


def feature_dimensionality(W: Tensor) -> Tensor:
    """How much of a dimension each feature gets (Elhage et al. §"Geometry"): ``[n_instances, n_features]``.

    ``W: [n_instances, d_hidden, n_features]``; feature ``i``'s direction is the column
    ``W_i = W[:, :, i]`` and ``Ŵ_i = W_i / ||W_i||``. Return
    ``D_i = ||W_i||² / Σ_j (Ŵ_i · W_j)²`` (the sum includes ``j = i``). A zero column (a dropped
    feature) gets 0: clamp both the norms you divide by and the denominator with
    ``.clamp_min(1e-12)``. A feature alone in its dimension has 1; an antipodal pair 1/2 each.

    >>> feature_dimensionality(torch.tensor([[[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]]))
    tensor([[0.5000, 0.5000, 1.0000]])
    """
    raise NotImplementedError("W_hat = W / W.norm(dim=1, keepdim=True).clamp_min(1e-12); overlaps = einops.einsum(W_hat, W, \"inst hid i, inst hid j -> inst i j\")")


# ---------------------------------------------------------------------------
# Sparse autoencoders
# ---------------------------------------------------------------------------


def sae_encode(x: Tensor, W_enc: Tensor, b_enc: Tensor, b_dec: Tensor) -> Tensor:
    """The latents' activations ``ReLU((x - b_dec) W_enc + b_enc)``: ``[..., d_sae]``.

    ``x: [..., d_in]``, ``W_enc: [d_in, d_sae]``, ``b_enc: [d_sae]``, ``b_dec: [d_in]``.
    ``b_dec`` is subtracted first: it centres the data the encoder reads.

    >>> W_enc = torch.tensor([[1.0, -1.0]])                   # d_in 1, d_sae 2
    >>> sae_encode(torch.tensor([[3.0]]), W_enc, b_enc=torch.zeros(2), b_dec=torch.tensor([1.0]))
    tensor([[2., 0.]])
    """
    raise NotImplementedError("torch.relu((x - b_dec) @ W_enc + b_enc)")


def topk_activation(pre: Tensor, k: int) -> Tensor:
    """The TopK SAE's activation (Gao et al. 2024): ``[..., d_sae]``.

    ``pre: [..., d_sae]``, the pre-activations. For each token keep the ``k`` largest entries of
    the last axis (the latents), ReLU'd; every other entry is 0. So at most ``k`` latents fire
    per token.

    >>> topk_activation(torch.tensor([[3.0, -1.0, 2.0, 0.5]]), k=2)
    tensor([[3., 0., 2., 0.]])
    """
    raise NotImplementedError("values, indices = pre.topk(k, dim=-1); torch.zeros_like(pre).scatter(-1, indices, values.relu())")


def sae_loss(x: Tensor, W_enc: Tensor, b_enc: Tensor, W_dec: Tensor, b_dec: Tensor, l1_coeff: float) -> Tensor:
    """A ReLU SAE's training loss on ``x: [batch, d_in]``: a 0-d tensor.

    ``acts = sae_encode(x, W_enc, b_enc, b_dec)`` and ``x_hat = acts W_dec + b_dec``. Return
    ``mse + l1_coeff * l1`` where, averaged over the batch, ``mse`` is ``||x - x_hat||²`` (summed
    over ``d_in``) and ``l1`` is the L1 norm of the **post-ReLU** ``acts`` (summed over
    ``d_sae``). The decoder's rows have unit norm, so this plain L1 is also Anthropic's
    decoder-norm-weighted one.
    """
    raise NotImplementedError("x_hat = acts @ W_dec + b_dec; (x_hat - x).pow(2).sum(-1).mean() + l1_coeff * acts.abs().sum(-1).mean()")


def normalise_decoder(W_dec: Tensor) -> Tensor:
    """``W_dec: [d_sae, d_in]`` with each row (one latent's direction) divided by its norm: ``[d_sae, d_in]``.

    Without this, an L1 penalty is dodged by shrinking ``acts`` and growing ``W_dec``. Return a
    new tensor.

    >>> normalise_decoder(torch.tensor([[3.0, 4.0], [0.0, 2.0]]))
    tensor([[0.6000, 0.8000],
            [0.0000, 1.0000]])
    """
    raise NotImplementedError("W_dec / W_dec.norm(dim=-1, keepdim=True): one norm per row")


def remove_parallel_grad(W_dec: Tensor, grad: Tensor) -> Tensor:
    """``grad: [d_sae, d_in]`` (the gradient of ``W_dec``) less its component along each row: ``[d_sae, d_in]``.

    With ``w`` row ``i`` of ``W_dec`` divided by its norm, row ``i`` of the answer is
    ``grad_i - (grad_i · w) w``: what is left can turn a row but not stretch it. ``W_dec``'s rows
    need not be unit here (Adam's steps let them drift). Return a new tensor.

    >>> remove_parallel_grad(torch.tensor([[3.0, 4.0]]), torch.tensor([[3.0, 1.0]]))
    tensor([[ 1.4400, -1.0800]])
    """
    raise NotImplementedError("unit = W_dec / W_dec.norm(dim=-1, keepdim=True); grad - (grad * unit).sum(-1, keepdim=True) * unit")


def resample_dead(W_enc: Tensor, b_enc: Tensor, W_dec: Tensor, x: Tensor, x_hat: Tensor, dead: Tensor, seed: int,
                  encoder_scale: float = 0.2) -> tuple[Tensor, Tensor, Tensor]:
    """Re-aim the dead latents at inputs the SAE reconstructs badly: new ``(W_enc, b_enc, W_dec)``.

    ``x, x_hat: [n, d_in]`` (inputs and their reconstructions), ``dead: [d_sae]`` (bool; at
    least one latent dead and one alive). Towards Monosemanticity's resampling:

    1. each input's loss is ``||x - x_hat||²``; draw one input per dead latent with probability
       proportional to the **square** of its loss: ``rows = torch.multinomial(loss ** 2,
       n_dead, replacement=True, generator=torch.Generator().manual_seed(seed))``;
    2. the ``j``-th dead latent (in index order) takes ``rows[j]``'s residual ``x - x_hat``,
       divided by its norm, as its decoder row;
    3. its encoder column is that direction times ``encoder_scale`` times the mean norm of the
       *alive* latents' encoder columns, and its ``b_enc`` entry is 0.

    Leave the alive latents alone; return new tensors (clone; do not change the inputs).
    """
    raise NotImplementedError("index = dead.nonzero().squeeze(-1); residual = x - x_hat; loss = residual.pow(2).sum(-1); W_dec[index] = direction; W_enc[:, index] = (direction * encoder_scale * alive_norm).T; b_enc[index] = 0")


# ---------------------------------------------------------------------------
# How good an SAE is
# ---------------------------------------------------------------------------


def l0(acts: Tensor) -> float:
    """The mean number of latents that fire (are non-zero) per token: a float.

    ``acts: [..., d_sae]`` (``[batch, d_sae]`` or ``[batch, pos, d_sae]``): count over the last
    axis, average over every token.

    >>> l0(torch.tensor([[0.0, 2.0, 1.0], [0.0, 0.0, 3.0]]))
    1.5
    """
    raise NotImplementedError("(acts != 0).float().sum(dim=-1).mean().item()")


def fraction_variance_explained(x: Tensor, x_hat: Tensor) -> float:
    """``1 - Σ ||x - x_hat||² / Σ ||x - mean(x)||²`` over every token: a float.

    ``x, x_hat: [..., d_in]``. ``mean(x)`` is the mean activation vector over all tokens
    (``[d_in]``); both sums run over all tokens and ``d_in`` (pooled, not a mean of per-token
    ratios). 1 is a perfect reconstruction; 0 is no better than always answering ``mean(x)``.

    >>> fraction_variance_explained(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), torch.tensor([[0.5, 0.0], [-0.5, 0.0]]))
    0.75
    """
    raise NotImplementedError("flatten the tokens: x.reshape(-1, d_in); the baseline is x.mean(dim=0), the mean over tokens")


# ---------------------------------------------------------------------------
# An SAE on a real model
# ---------------------------------------------------------------------------


def top_activating_contexts(acts: Tensor, tokens: Tensor, k: int, before: int,
                            after: int) -> list[tuple[int, int, float, list[int]]]:
    """The ``k`` sequences where a feature peaks highest, each with a window around its peak.

    ``acts: [batch, pos]`` (one feature), ``tokens: [batch, pos]``. One context per sequence
    (its peak, the position of its largest activation), so one long run of the feature does
    not fill the list. Return a list of ``k`` tuples ``(batch, pos, value, window)``, highest
    first, where ``window`` is the list of token ids from ``pos - before`` to ``pos + after``
    (both included), cut at the sequence's ends.

    >>> acts = torch.tensor([[0.0, 2.0, 0.5], [3.0, 0.0, 1.0]]); tokens = torch.tensor([[10, 11, 12], [20, 21, 22]])
    >>> top_activating_contexts(acts, tokens, k=2, before=1, after=1)
    [(1, 0, 3.0, [20, 21]), (0, 1, 2.0, [10, 11, 12])]
    """
    raise NotImplementedError("values, peaks = acts.max(dim=1) ([batch] each); values.topk(k); start = max(0, pos - before)")


def latent_logit_effect(model, layer: int, W_dec: Tensor, latent: int) -> Tensor:
    """What SAE latent ``latent`` writes, directly, to each logit: ``[d_vocab]``.

    The SAE reads ``blocks.{layer}.mlp.hook_post`` (``W_dec: [d_sae, d_mlp]``). Its row
    ``W_dec[latent]`` reaches the residual stream through the MLP's output matrix
    ``model.blocks[layer].mlp.W_out`` (``[d_mlp, d_model]``). The final LayerNorm then centres
    it (subtract its mean over ``d_model``) and multiplies by ``model.ln_final.w``, and
    ``model.W_U`` (``[d_model, d_vocab]``) reads it. Leave out the biases and LayerNorm's
    ``1/scale`` (the same for every direction at a position).
    """
    raise NotImplementedError("direction = W_dec[latent] @ model.blocks[layer].mlp.W_out; ((direction - direction.mean()) * model.ln_final.w) @ model.W_U")


def loss_recovered(model, tokens: Tensor, hook_name: str, W_enc: Tensor, b_enc: Tensor, W_dec: Tensor,
                   b_dec: Tensor) -> float:
    """How much of the loss an SAE keeps when spliced into the model: a float.

    ``tokens: [batch, pos]``; the SAE (``W_enc, b_enc, W_dec, b_dec``) reads the activation
    ``hook_name``. Three mean next-token losses on ``tokens``: ``L_clean`` (the model as it is),
    ``L_spliced`` (the activation replaced by its reconstruction
    ``sae_encode(act, ...) @ W_dec + b_dec``) and ``L_zero`` (the activation replaced by zeros).
    Return ``(L_zero - L_spliced) / (L_zero - L_clean)``: 1 when the SAE costs nothing, 0 when
    it is as bad as deleting the activation (SAELens's ``ce_loss_score``).
    """
    raise NotImplementedError("model.run_with_hooks(tokens, return_type=\"loss\", fwd_hooks=[(hook_name, fn)]) with fn(act, hook) returning the reconstruction, then torch.zeros_like(act)")
