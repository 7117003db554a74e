# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 6 — Superposition and sparse autoencoders
#
# Read one neuron of a neural network and it often answers to several unrelated things at once. Such
# neurons are called **polysemantic**, and they are the rule rather than the exception: Olah et al.
# (2020) found them in vision models, Bricken et al. (2023) in most of a small transformer's MLP. Why
# would a model do that?
#
# Elhage et al. (2022, *Toy Models of Superposition*) gave an answer with a model small enough to
# train in a second. If the world has more **features** (things worth knowing about the input) than
# the model has dimensions, and each feature is **sparse** (rarely present), the model can store
# *more features than dimensions*, at angles to one another, and live with a little interference.
# This is **superposition**. It explains polysemantic neurons, and it says where to look instead:
# for the directions, not the neurons.
#
# A **sparse autoencoder** (SAE; Bricken et al., 2023, *Towards Monosemanticity*; Cunningham et al.,
# 2023) looks for those directions. It rewrites an activation as a sparse, non-negative mix of many
# learned directions, more than the activation has dimensions, in the hope that each one is a
# feature a person can name.
#
# The chapter has two halves:
#
# 1. **Toy models** (sections 1-5), trained here in seconds: importance and sparsity, five features
#    in two dimensions (the pentagon), feature dimensionality, the phase diagram, neurons versus
#    features.
# 2. **Sparse autoencoders** (sections 6-11): the pieces, written by you; an SAE on the toy model and
#    on planted features, where the truth is known; then an SAE shipped with minigpt on the MLP of
#    `stdlib-bytes` (chapter 2's byte-level model of Python source): its scores, its features named
#    from where they fire and checked against Python's own tokenizer, a feature's effect on the
#    logits, a map of all of them, and the loss the SAE costs when spliced into the model.
#
# Your code goes in `exercises/ch06_superposition.py`; each piece is checked right after it is
# introduced, and later cells use yours once it passes.
#
# | exercise | what | difficulty |
# | --- | --- | --- |
# | `toy_forward` | the toy model `ReLU(WᵀWx + b)` | 1 |
# | `generate_batch` | sparse features | 1 |
# | `importance_weighted_mse` | the toy model's loss | 1 |
# | `feature_dimensionality` | how much of a dimension each feature gets | 2 |
# | `sae_encode` | the SAE's encoder | 1 |
# | `topk_activation` | the TopK activation | 2 |
# | `sae_loss` | reconstruction + L1 | 2 |
# | `normalise_decoder`, `remove_parallel_grad` | unit decoder rows | 1, 1 |
# | `resample_dead` | bring dead latents back | 3 |
# | `l0`, `fraction_variance_explained` | how sparse, how faithful | 1, 1 |
# | `top_activating_contexts` | where a feature fires hardest | 2 |
# | `latent_logit_effect` | what a feature does to the logits | 2 |
# | `loss_recovered` | what splicing the SAE in costs | 2 |

# %%
# True: retrain the shipped SAE from scratch in section 9 (minigpt train sae-stdlib-bytes; its train.json, printed
# there, says how long the shipped one took)
TRAIN_SAE = False

import importlib.util
import sys

if importlib.util.find_spec("minigpt") is None:  # opened alone, e.g. in Colab: minigpt is not installed here
    if "google.colab" not in sys.modules:
        raise ModuleNotFoundError('this notebook needs minigpt: pip install "minigpt-interp[course]" (the '
                                  'distribution is minigpt-interp, the import minigpt; `pip install minigpt` is '
                                  'another project)')
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "minigpt-interp"], check=True)
    importlib.invalidate_caches()

import math
import re
import time

import torch
from IPython.display import Markdown, display

from minigpt.checkpoints import load_checkpoint
from minigpt.grading import check
from minigpt.interp.features import direct_logit_effect, latent_direction, top_context_per_feature
from minigpt.interp.superposition import (ToyModelNeurons, feature_norms, neighbour_angles, neuron_feature_share,
                                          phase_diagram, sparse_features, train_toy_model)
from minigpt.sae import dead_fraction, load_sae, load_train_info, model_activations, spliced_losses, train_sae
from minigpt.sae.evaluate import held_out_text, text_windows
from minigpt.sae.labels import python_byte_labels
from minigpt.viz import (feature_atlas, feature_dashboard, neuron_view, plot_feature_dimensionality, plot_feature_norms,
                         plot_features_2d, plot_neuron_weights, plot_phase_diagram, plot_wtw)
from minigpt.viz.neuron_view import score_parts
from minigpt.workspace import load_exercises, mine_or_reference, setup_notebook

setup_notebook()
torch.manual_seed(0)
torch.set_num_threads(1)  # the models here are tiny: one thread is faster than two (20 times, on a busy 2-core CPU)
ex = load_exercises("ch06_superposition")

# %% [markdown]
# ## 1. Features, importance and sparsity
#
# The toy model's world has `n_features` **features** `x_i`. Each is **present** with probability
# `p`, its *density* (the paper's *sparsity* is `S = 1 - p`), and then takes a value uniform in
# `[0, 1)`; otherwise it is exactly 0. Some features matter more than others: feature `i` has an
# **importance** `I_i`, and here `I_i = 0.9^i`, so feature 0 matters most.
#
# The model must squeeze the features through `d_hidden < n_features` dimensions and get them back:
#
#     h  = W x                   W [d_hidden, n_features]: column W_i is feature i's direction
#     x' = ReLU(Wᵀ h + b)        b [n_features]
#
# and its loss is the importance-weighted squared error, `Σ_i I_i (x_i - x'_i)²` averaged over
# inputs. Without the ReLU, the best such model is PCA: it keeps the `d_hidden` most important
# features and drops the rest. The ReLU changes that, as we will see. Many models train at once, one
# per **instance**, each with its own density, so `W` is `[n_instances, d_hidden, n_features]`.
#
# **Exercise `toy_forward(W, b_final, x) -> x_hat`**: the toy model of superposition,
# `x' = ReLU(Wᵀ W x + b_final)`, for every instance at once. `W [n_instances, d_hidden, n_features]`
# (column `W[:, :, i]` is feature `i`'s direction), `b_final [n_instances, n_features]`,
# `x [batch, n_instances, n_features]`. First `h = W x` (`[batch, n_instances, d_hidden]`), then back
# with `Wᵀ`, add `b_final`, ReLU; return `[batch, n_instances, n_features]`. The hidden layer has no
# ReLU. E.g. one instance with `W = [[[1.0, -1.0]]]` (one hidden dimension, two antipodal features),
# `b_final = 0` and `x = [[[0.5, 0.0]]]` returns `[[[0.5, 0.0]]]`: feature 1 gets `-0.5`, which the
# ReLU removes.

# %%
check("ch06.toy_forward", ex.toy_forward)

# %% [markdown]
# **Predict:** that same model (two features on one line, pointing opposite ways) gets both features
# at once, `x = (0.5, 0.3)`. What does it return?
#
# <details><summary>Answer</summary>
#
# `(0.2, 0.0)`: `h = 0.5 - 0.3 = 0.2`, read back as `+0.2` by feature 0 and `-0.2` (cut to 0) by
# feature 1. Alone, each feature comes back exactly; together, they **interfere**. Two features can
# share a dimension at the price of errors when both are present, which for features of density `p`
# happens with probability `p²`: cheap when `p` is small. The cell below runs your `toy_forward`.
#
# </details>

# %%
toy_forward = mine_or_reference("ch06.toy_forward", ex.toy_forward)
W_pair = torch.tensor([[[1.0, -1.0]]])  # [n_instances=1 d_hidden=1 n_features=2]
for x in ([0.5, 0.0], [0.0, 0.3], [0.5, 0.3]):
    out = toy_forward(W_pair, torch.zeros(1, 2), torch.tensor([[x]]))
    print(f"x = {x} -> x' = {[round(v, 3) for v in out[0, 0].tolist()]}")

# %% [markdown]
# **Exercise `generate_batch(batch_size, feature_probability, seed) -> x`**: a batch of sparse
# features, `[batch_size, n_instances, n_features]`. `feature_probability [n_instances, n_features]`
# is each feature's chance to be present in a row (instances can differ: that is how one run sweeps
# sparsity); a present feature takes a value uniform in `[0, 1)`, an absent one is exactly 0.
# To make it reproducible, use `g = torch.Generator().manual_seed(seed)` and draw, in this order,
# the values `torch.rand(shape, generator=g)` and then the presence seeds the same way; a feature is
# present where its seed is below its probability. Return the batch. E.g.
# `generate_batch(1000, torch.tensor([[1.0, 0.1]]), seed=0)` has shape `[1000, 1, 2]`; feature 0 is
# non-zero in every row and feature 1 in about 10 % of them (99 of 1,000 with seed 0).

# %%
check("ch06.generate_batch", ex.generate_batch)

# %% [markdown]
# **Predict:** five features, each present with probability `p = 0.05`. In what share of the rows is
# no feature present at all? In what share are two or more present (the rows where features sharing
# a dimension would interfere)?
#
# <details><summary>Answer</summary>
#
# None present: `0.95⁵ = 77.4 %`. Two or more: `1 - 0.95⁵ - 5 · 0.05 · 0.95⁴ = 2.3 %`. The cell below
# counts them in a batch of 100,000 rows drawn by your `generate_batch`.
#
# </details>

# %%
generate_batch = mine_or_reference("ch06.generate_batch", ex.generate_batch)
x = generate_batch(100_000, torch.full((1, 5), 0.05), seed=0)  # [batch n_instances=1 n_features=5]
present = (x > 0).sum(-1)  # [batch 1]: features present per row
print(f"no feature: {(present == 0).float().mean():.1%} (0.95^5 = {0.95 ** 5:.1%}); two or more: "
      f"{(present >= 2).float().mean():.1%} (exactly: {1 - 0.95 ** 5 - 5 * 0.05 * 0.95 ** 4:.1%})")

# %% [markdown]
# **Exercise `importance_weighted_mse(out, batch, importance) -> loss`**: the toy models' loss, one
# number per instance. `out` and `batch` are `[batch, n_instances, n_features]`; `importance`
# broadcasts to `[n_instances, n_features]` (one per feature, `[n_features]`, or the full table).
# Return `[n_instances]`: the mean over the batch and the features of `importance · (batch - out)²`
# (training sums it over instances, so the instances never interact). E.g.
# `importance_weighted_mse(torch.zeros(1, 1, 2), torch.ones(1, 1, 2), torch.tensor([1.0, 0.5]))` is
# `tensor([0.75])`.

# %%
check("ch06.importance_weighted_mse", ex.importance_weighted_mse)

# %% [markdown]
# The bar every model must clear: the model that always answers `x' = 0`.
#
# **Predict:** five features with importance `0.9^i`. What loss does the always-zero model pay when
# the features are dense (`p = 1`), and when they are sparse (`p = 0.02`)?
#
# <details><summary>Answer</summary>
#
# A present feature costs `E[u²] = 1/3` for `u` uniform in `[0, 1)`, times its importance; it is
# present with probability `p`. So the loss is `p/3` times the mean importance,
# `(1 + 0.9 + 0.81 + 0.729 + 0.656) / 5 = 0.819`: about `0.273` dense and `0.0055` at `p = 0.02`. The
# cell below measures it with your two functions. A sparse world is cheap to get wrong, which is why
# the sections below always compare a model's loss with this baseline.
#
# </details>

# %%
importance_weighted_mse = mine_or_reference("ch06.importance_weighted_mse", ex.importance_weighted_mse)
IMPORTANCE = 0.9 ** torch.arange(5)  # [n_features]: I_i = 0.9^i
x = generate_batch(100_000, torch.tensor([[1.0] * 5, [0.02] * 5]), seed=1)  # two instances: dense, sparse
zero_loss = importance_weighted_mse(torch.zeros_like(x), x, IMPORTANCE)  # [n_instances]
print(f"always 0: loss {zero_loss[0]:.4f} dense, {zero_loss[1]:.5f} at p = 0.02 "
      f"(p/3 x mean importance: {IMPORTANCE.mean() / 3:.4f}, {0.02 * IMPORTANCE.mean() / 3:.5f})")

# %% [markdown]
# ## 2. Five features in two dimensions: the pentagon
#
# Now train: five features, two hidden dimensions, importance `0.9^i`, and eight instances whose
# densities run from `p = 1` (every feature in every row) down to `p = 0.02`, log-spaced
# (`minigpt.interp.superposition.train_toy_model`: Adam, fresh batches every step, seeded). The cell
# prints how long it took.
#
# **Predict:** with dense features (`p = 1`), how many of the five features does the model keep, and
# which?
#
# <details><summary>Answer</summary>
#
# Two: features 0 and 1, the two most important, at right angles (90°); the other three get columns of
# norm 0.01 or less. With every feature present in every row, sharing a dimension would cost on every
# input; the model does what PCA would. <!-- claim: ch06.dense_keeps_two --> The cell after the
# training prints every instance's norms and angles.
#
# </details>

# %% [markdown]
# **Predict:** and at `p = 0.02`?
#
# <details><summary>Answer</summary>
#
# All five, as a regular **pentagon**: neighbouring features 70° to 74° apart (360°/5 = 72°), each
# column a little longer than 1 (1.14 to 1.16). <!-- claim: ch06.sparse_pentagon -->
#
# </details>

# %%
DENSITIES = 50 ** -torch.linspace(0, 1, 8)  # [n_instances]: p from 1 down to 0.02, log-spaced
start = time.process_time()
sweep = train_toy_model(n_features=5, d_hidden=2, feature_probability=DENSITIES, importance=IMPORTANCE,
                        n_instances=len(DENSITIES), steps=2_000, batch_size=1_024, seed=0)
print(f"8 toy models (2,000 Adam steps of 1,024 rows each) trained in {time.process_time() - start:.1f} s of CPU")
W = sweep.W.detach()  # [n_instances d_hidden=2 n_features=5]
norms = feature_norms(W)  # [n_instances n_features]
zero_losses = DENSITIES * IMPORTANCE.mean() / 3  # the always-zero model's loss, per instance
x = sweep.generate_batch(100_000, torch.Generator().manual_seed(2))  # [batch n_instances n_features]
losses = importance_weighted_mse(toy_forward(W, sweep.b_final.detach(), x), x, IMPORTANCE)  # [n_instances]
for k, p in enumerate(DENSITIES.tolist()):
    kept = norms[k] > 0.5
    print(f"p = {p:.3f}: norms {[round(v, 2) for v in norms[k].tolist()]}, {int(kept.sum())} kept, angles between "
          f"neighbours {[round(a) for a in neighbour_angles(W[k]).tolist()]}, loss {losses[k] / zero_losses[k]:.0%} "
          f"of the always-zero model's")

# %%
plot_features_2d(W, titles=[f"p = {p:.3f}" for p in DENSITIES.tolist()])

# %%
pairs = [k for k in range(len(DENSITIES)) if neighbour_angles(W[k]).round().tolist() == [90.0] * 4]
pentagons = [k for k in range(len(DENSITIES)) if ((neighbour_angles(W[k]) - 72).abs() < 4).all()
             and len(neighbour_angles(W[k])) == 5]
display(Markdown(
    f"Between the two ends the model does something else again. At p = "
    f"{' and '.join(f'{DENSITIES[k]:.2f}' for k in pairs)} it keeps four features as two **antipodal pairs** "
    f"(two features pointing opposite ways on one line, the two lines at right angles) and drops "
    f"{' and '.join(sorted({f'feature {int(norms[k].argmin())}' for k in pairs}))} each time. From p = "
    f"{DENSITIES[pentagons[0]]:.3f} "
    f"down ({len(pentagons)} instances) it keeps all five in a pentagon. The sparser the features, the more the model "
    f"gives up orthogonality for capacity."))

# %% [markdown]
# How do five directions in a plane not drown each other? Look at `WᵀW`: entry `(i, j)` says how much
# of input feature `j` lands on output `i`. The diagonal is `||W_i||²`; everything off it is
# interference.
#
# **Predict:** in the pentagon, is the interference a feature gets from its neighbours (72° away)
# positive or negative? And from the features two steps away (144°)?
#
# <details><summary>Answer</summary>
#
# From its neighbours positive (`cos 72° = +0.31` times the norms), from the features two steps away
# negative (`cos 144° = -0.81` times the norms). Negative interference the ReLU cuts off for free.
# The positive part is what the negative bias is for: it pushes the small readouts a neighbour causes
# below zero, where the ReLU removes them. The cell below prints both entries of `WᵀW` and the biases.
#
# </details>

# %%
pentagon = W[-1]  # [d_hidden=2 n_features=5], p = 0.02
wtw = pentagon.T @ pentagon  # [n_features n_features]
order = torch.argsort(torch.atan2(pentagon[1], pentagon[0]))  # the features round the circle
i, neighbour, two_away = order[0].item(), order[1].item(), order[2].item()
print(f"p = 0.02, feature {i}: (WᵀW) with its neighbour {neighbour}: {wtw[i, neighbour]:+.2f}, with feature "
      f"{two_away} two steps away: {wtw[i, two_away]:+.2f}; its own ||W_i||² = {wtw[i, i]:.2f}")
print(f"biases b at p = 0.02: {[round(v, 2) for v in sweep.b_final[-1].tolist()]}; "
      f"dense: {[round(v, 2) for v in sweep.b_final[0].tolist()]}")
plot_wtw(W[[0, 3, 7]], titles=[f"p = {DENSITIES[k]:.3f}" for k in (0, 3, 7)])

# %% [markdown]
# The paper's bar chart says the same per feature: each bar is `||W_i||` (about 1: represented; about
# 0: dropped), coloured by how much of `W_i`'s direction other features share (dark: a dimension of its
# own; yellow: superposition).

# %%
plot_feature_norms(W[[0, 3, 7]], titles=[f"p = {DENSITIES[k]:.3f}" for k in (0, 3, 7)])

# %% [markdown]
# ## 3. Feature dimensionality
#
# A number per feature for "how much of a dimension does it get" (Elhage et al., §Geometry):
#
#     D_i = ||W_i||² / Σ_j (Ŵ_i · W_j)²        Ŵ_i = W_i / ||W_i||, the sum includes j = i
#
# The numerator is how much the model represents feature `i`; the denominator, how much of *every*
# feature (itself included) lands along `i`'s direction. A feature alone in its dimension gets 1, two
# antipodal features 1/2 each, a dropped feature 0.
#
# **Exercise `feature_dimensionality(W) -> D`**: how much of a dimension each feature gets
# (Elhage et al. 2022, §"Geometry"). `W [n_instances, d_hidden, n_features]`; feature `i`'s
# direction is the column `W_i = W[:, :, i]`, and `Ŵ_i = W_i / ||W_i||`. Return
# `D [n_instances, n_features]` with `D_i = ||W_i||² / Σ_j (Ŵ_i · W_j)²` (the sum includes `j = i`).
# A dropped feature (a zero column) gets 0: clamp the norms you divide by and the denominator with
# `.clamp_min(1e-12)`. E.g. `W = torch.tensor([[[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]])` (an antipodal
# pair and a feature alone) gives `[[0.5, 0.5, 1.0]]`, and five features in a regular pentagon get
# `0.4` each.

# %%
check("ch06.feature_dimensionality", ex.feature_dimensionality)

# %% [markdown]
# **Predict:** what is `D_i` of each feature in a regular pentagon, and what do the five add up to?
#
# <details><summary>Answer</summary>
#
# `2/5` each, adding up to 2 = `d_hidden`: feature `i`'s own term is `||W_i||²` and its neighbours
# add `2 cos² 72° + 2 cos² 144° = 3/2` of that, so `D_i = 1 / (1 + 3/2) = 2/5`. The five share the two
# dimensions equally. The cell below computes it for every instance of the sweep.
#
# </details>

# %% [markdown]
# **Predict:** across the eight densities, which values of `D_i` do the represented features take?
# Anything between 0 and 1, or a few fractions?
#
# <details><summary>Answer</summary>
#
# A few fractions, mostly: 1 (dense: a dimension each), 1/2 (the antipodal pairs of the middle
# densities) and 2/5 (the pentagons), with 0 for the dropped features. The paper found the same
# "sticky" fractions in much larger models, where features group into pairs, triangles, pentagons
# and tetrahedra. The plot below shows them, one dot per feature.
#
# </details>

# %%
feature_dimensionality = mine_or_reference("ch06.feature_dimensionality", ex.feature_dimensionality)
D = feature_dimensionality(W)  # [n_instances n_features]
for k, p in enumerate(DENSITIES.tolist()):
    print(f"p = {p:.3f}: D = {[round(v, 2) for v in D[k].tolist()]}, sum {D[k].sum():.2f}")
plot_feature_dimensionality(W, DENSITIES)

# %% [markdown]
# ## 4. The phase diagram
#
# When exactly does a feature go into superposition? The paper's smallest case answers it: two
# features in **one** dimension. Feature 0 has importance 1; the *extra* feature has importance `r`,
# and both have density `p`. The extra feature can be
#
# - **not represented** (`W_extra ≈ 0`: the dimension is feature 0's),
# - in **superposition** (`W = (1, -1)`: both share the line, an antipodal pair), or
# - given a **dedicated dimension** (`W ≈ (0, 1)`: feature 0 is dropped instead).
#
# `phase_diagram` trains one model per cell of a grid of `p` × `r` and sorts each into these three.
# Each cell keeps the best of 8 restarts (a single run can stay stuck in the wrong phase), and the
# models train on the *expected* loss, computed by quadrature, rather than on sampled batches (a batch
# of rare features is too noisy to tell close phases apart). Its default, 16 × 16 cells trained for
# 2,000 steps, draws the paper's figure; the 8 × 8 grid of 1,000 steps below is an eighth of the
# work, and the cell prints how long it took.
#
# **Predict:** with dense features (`p = 1`, the left column), what happens to the extra feature
# when it matters less than feature 0 (`r < 1`), and when it matters more?
#
# <details><summary>Answer</summary>
#
# It is dropped when `r < 1` and takes the dimension alone when `r > 1`: no superposition at all.
# Dense features would interfere on every input, so the model keeps whichever matters more. The cell
# below prints each column's phases.
#
# </details>

# %% [markdown]
# **Predict:** at the sparsest density of the grid, `p = 0.01`, which phases appear as `r` goes from
# 0.1 to 10?
#
# <details><summary>Answer</summary>
#
# Only superposition, at every importance of the grid: even a feature a tenth as important as
# feature 0 is worth sharing the dimension with when the two almost never meet, and even one ten
# times as important leaves room for feature 0. The superposition region widens from the dense
# column to the sparse one (printed below).
#
# </details>

# %%
start = time.process_time()
diagram = phase_diagram(n_density=8, n_importance=8, steps=1_000, seed=1)
print(f"8 x 8 cells x 8 restarts = {diagram.phase.numel() * 8} models trained in "
      f"{time.process_time() - start:.1f} s of CPU")
PHASE_NAMES = ("not represented", "superposition", "dedicated dimension")
for col, p in enumerate(diagram.density.tolist()):
    column = diagram.phase[:, col]  # [n_importance]: one phase per r
    spans = []
    for phase, name in enumerate(PHASE_NAMES):
        r = diagram.relative_importance[column == phase]
        if len(r):
            spans.append(f"{name} for r = {r.min():.2f}..{r.max():.2f}")
    print(f"p = {p:.3f}: " + "; ".join(spans))
plot_phase_diagram(diagram)

# %% [markdown]
# ## 5. Neurons versus features
#
# In the toy model so far, the hidden space has no preferred axes: rotate it (`W → RW` for any
# rotation `R`) and `WᵀW` does not change, so neither does the model. Nothing makes "hidden dimension
# 0" mean anything. A ReLU applied to each hidden coordinate changes that: each coordinate becomes a
# **neuron**, which fires or not on its own, and the standard basis becomes **privileged**. That is
# Elhage et al.'s second toy model, `x' = ReLU(Wᵀ ReLU(W x) + b)` (`ToyModelNeurons`). Now one can
# ask of each neuron: does it stand for one feature (**monosemantic**) or several (**polysemantic**)?
#
# We train it with 10 features, importance `0.75^i`, in 5 neurons, dense and at `p = 0.03`. A
# neuron fires for a feature when its weight on that feature is positive (features are never
# negative), so each neuron's *share* of feature `i` is `max(W[n, i], 0)²` over the sum of those over
# features (`neuron_feature_share`).
#
# **Predict:** with dense features, how many features will the five neurons represent, and will each
# neuron be monosemantic?
#
# <details><summary>Answer</summary>
#
# Five features, the five most important, one neuron each: every neuron gives 0.97 or more of its
# share to a single feature. <!-- claim: ch06.dense_neurons_monosemantic --> With no room for more,
# the model lines its features up with its neurons. The cell below prints each neuron's largest share.
#
# </details>

# %% [markdown]
# **Predict:** and at `p = 0.03`?
#
# <details><summary>Answer</summary>
#
# All ten features get represented (every column's norm is above 0.5), and every neuron is
# polysemantic: none gives more than 0.41 of its share to one feature.
# <!-- claim: ch06.sparse_neurons_polysemantic --> A privileged basis does not stop superposition;
# when features are sparse, neurons simply answer to several of them.
#
# </details>

# %%
start = time.process_time()
neurons = train_toy_model(n_features=10, d_hidden=5, feature_probability=[1.0, 0.03],
                          importance=0.75 ** torch.arange(10), n_instances=2, model_cls=ToyModelNeurons, seed=0)
print(f"2 neuron models trained in {time.process_time() - start:.1f} s of CPU")
share = neuron_feature_share(neurons.W)  # [n_instances d_hidden n_features]
for k, name in enumerate(["dense", "p = 0.03"]):
    top = share[k].max(-1)
    print(f"{name}: features represented (norm > 0.5): {int((feature_norms(neurons.W[k]) > 0.5).sum())} of 10; each "
          f"neuron's largest share {[round(v, 2) for v in top.values.tolist()]}, for features {top.indices.tolist()}")
plot_neuron_weights(neurons.W.detach(), titles=["dense", "p = 0.03"])

# %% [markdown]
# ### Which bases are privileged in a transformer?
#
# The same question decides what to read in a real model. An MLP's activation function acts on each
# neuron separately, so `blocks.L.mlp.hook_post` has a privileged basis: its neurons. The residual
# stream does not, and neither do an attention head's queries and keys: only `q · k` matters, and a
# rotation applied to both leaves every dot product as it was.
#
# BertViz's **neuron view** (Vig, 2019) draws one head's score as it is built: the query of a chosen
# token, every key, their elementwise product `q ∘ k` coordinate by coordinate, its sum `q · k`, the
# scaled score and the softmax. Below: layer 1, head 2 of `stdlib-bytes` on a line of Python. Click a
# token to make it the query.
#
# **Predict:** rotate every query and key of this head by the same random rotation of its 32
# dimensions. Which of the neuron view's columns change: the products `q ∘ k`, the scores, the
# attention?
#
# <details><summary>Answer</summary>
#
# Only the products. Each `q ∘ k` is spread over the coordinates differently, but its sum, the dot
# product, is unchanged, and so are the scores and the pattern (the cell below rotates them and
# prints the largest change of each). A coordinate of `q` or `k` means nothing alone: the colours in
# the neuron view are a picture of one basis among many. That is why this chapter reads features in
# the MLP's activations, where a basis is privileged, and looks for directions even there.
#
# </details>

# %% [markdown]
# **Predict:** in the line below, the last `x` (the one in `return x`) is the query. Where will head 2
# of layer 1 look from there?
#
# <details><summary>Answer</summary>
#
# Mostly at the token just before it, the space after `return` (0.78 of its attention): a
# previous-token head, like chapter 3's. <!-- claim: ch06.neuron_view_previous --> The view opens on
# that query and that key.
#
# </details>

# %%
model = load_checkpoint("stdlib-bytes")  # the real model, from here on
LINE = "def f(x):\n    return x"
parts = score_parts(model, LINE, layer=1, head=2)
R = torch.linalg.qr(torch.randn(parts.q.shape[1], parts.q.shape[1], generator=torch.Generator().manual_seed(0)))[0]
q_rot, k_rot = parts.q @ R, parts.k @ R  # [pos d_head]: the same rotation for both
query = len(parts.str_tokens) - 1
scores_rot = (q_rot @ k_rot.T / parts.scale).masked_fill(parts.scores.isinf(), float("-inf"))
key = int(parts.pattern[query].argmax())
print(f"query {query} ({parts.str_tokens[query]!r}) attends {parts.pattern[query, key]:.2f} to key {key} "
      f"({parts.str_tokens[key]!r})")
print(f"after a rotation: products q∘k change by up to {(q_rot[query] * k_rot - parts.products(query)).abs().max():.2f}; "
      f"scores by {(scores_rot - parts.scores).nan_to_num().abs().max():.1e}; "
      f"attention by {(scores_rot.softmax(-1) - parts.pattern).abs().max():.1e}")
neuron_view(model, LINE, layer=1, head=2)

# %% [markdown]
# ## 6. Sparse autoencoders: the pieces
#
# If a model stores features as directions, more of them than it has dimensions, then an activation
# `x` (say an MLP's `hook_post`, `[d_in]`) is approximately a sparse sum `x ≈ Σ_i f_i d_i + b` over a
# dictionary of directions `d_i`, with only a few `f_i > 0` on any one input. A **sparse autoencoder**
# learns that dictionary (Bricken et al., 2023; SAELens's names):
#
#     acts  = ReLU((x - b_dec) W_enc + b_enc)      W_enc [d_in, d_sae], b_enc [d_sae]
#     x_hat = acts W_dec + b_dec                   W_dec [d_sae, d_in]: row i is latent i's direction
#
# with `d_sae > d_in` **latents**, trained to reconstruct `x` (`||x - x_hat||²`) while keeping `acts`
# sparse (an L1 penalty, or only the `k` largest kept). Each row of `W_dec` has norm 1, so a latent's
# activation is the length of its direction in `x_hat`. The hope: each latent is one feature.
#
# **Exercise `sae_encode(x, W_enc, b_enc, b_dec) -> acts`**: the SAE's encoder. `x [..., d_in]`,
# `W_enc [d_in, d_sae]`, `b_enc [d_sae]`, `b_dec [d_in]`. Subtract the decoder's bias first (it
# centres the data), then apply the encoder and the ReLU: return `ReLU((x - b_dec) W_enc + b_enc)`,
# `[..., d_sae]`. E.g. `sae_encode(torch.tensor([[3.0]]), W_enc=torch.tensor([[1.0, -1.0]]),
# b_enc=torch.zeros(2), b_dec=torch.tensor([1.0]))` is `[[2., 0.]]`.

# %%
check("ch06.sae_encode", ex.sae_encode)

# %% [markdown]
# An L1 penalty makes the code sparse only on average, and shrinks every activation on the way. Gao
# et al. (2024) set the sparsity directly instead: keep each token's `k` largest pre-activations and
# zero the rest. That is a **TopK** SAE, the kind shipped for `stdlib-bytes` below.
#
# **Exercise `topk_activation(pre, k) -> acts`**: the TopK SAE's activation (Gao et al. 2024).
# `pre [..., d_sae]` are the pre-activations `(x - b_dec) W_enc + b_enc`. For each token, keep the
# `k` largest entries of the last axis (the latents), ReLU'd, and set every other entry to 0; return
# the same shape. At most `k` latents fire per token, whatever the data. E.g.
# `topk_activation(torch.tensor([[3.0, -1.0, 2.0, 0.5]]), k=2)` is `[[3., 0., 2., 0.]]`.

# %%
check("ch06.topk_activation", ex.topk_activation)

# %% [markdown]
# **Predict:** a TopK SAE with `k = 4` reads a token whose pre-activations are positive for only two
# latents. How many latents fire on that token?
#
# <details><summary>Answer</summary>
#
# Two: the top 4 are kept, then the ReLU zeroes the two that are not positive. `k` is a ceiling, not a
# quota. The cell below runs your `topk_activation` on such a token.
#
# </details>

# %%
topk_activation = mine_or_reference("ch06.topk_activation", ex.topk_activation)
pre = torch.tensor([[1.5, -0.25, 0.75, -1.0, -0.5, -0.75]])  # [batch=1 d_sae=6]: two positive pre-activations
print(f"pre {pre[0].tolist()} -> acts {[round(a, 2) for a in topk_activation(pre, k=4)[0].tolist()]}")

# %% [markdown]
# **Exercise `sae_loss(x, W_enc, b_enc, W_dec, b_dec, l1_coeff) -> loss`**: a ReLU SAE's training
# loss on `x [batch, d_in]`. With `acts = sae_encode(x, W_enc, b_enc, b_dec)` and
# `x_hat = acts W_dec + b_dec` (`W_dec [d_sae, d_in]`), return the 0-d tensor
# `mse + l1_coeff · l1`, where, averaged over the batch, `mse` is `||x - x_hat||²` (summed over
# `d_in`) and `l1` is the L1 norm of the post-ReLU `acts` (summed over `d_sae`). This is plain L1:
# the decoder's rows have unit norm, so it equals Anthropic's decoder-norm-weighted L1 (2024).
# E.g. with `d_in = d_sae = 1`, `x = [[3.0]]`, `W_enc = [[0.5]]`, `b_enc = [0.0]`, `W_dec = [[1.0]]`,
# `b_dec = [1.0]` and `l1_coeff = 0.5`: `acts = 1`, `x_hat = 2`, so the loss is `1 + 0.5 · 1 = 1.5`.

# %%
check("ch06.sae_loss", ex.sae_loss)

# %% [markdown]
# **Predict:** why must the decoder's rows have norm 1? Take an SAE, divide its encoder (`W_enc`,
# `b_enc`) by 10 and multiply `W_dec` by 10. What happens to the reconstruction, and to the L1 term?
#
# <details><summary>Answer</summary>
#
# The reconstruction is exactly the same (`acts` are 10 times smaller, the directions 10 times
# longer) and the L1 term is 10 times smaller. An SAE free to grow its rows could make the penalty as
# small as it likes without becoming any sparser. The cell below does it with your `sae_loss` (the
# loss with `l1_coeff = 0` is the reconstruction error alone).
#
# </details>

# %%
sae_loss = mine_or_reference("ch06.sae_loss", ex.sae_loss)
g = torch.Generator().manual_seed(0)
x_demo = torch.randn(256, 4, generator=g)  # [batch d_in]
W_enc_demo, b_enc_demo = torch.randn(4, 8, generator=g), torch.randn(8, generator=g)  # d_sae = 8
W_dec_demo, b_dec_demo = torch.randn(8, 4, generator=g), torch.randn(4, generator=g)
for name, c in (("as it is", 1.0), ("encoder / 10, decoder x 10", 10.0)):
    mse = sae_loss(x_demo, W_enc_demo / c, b_enc_demo / c, W_dec_demo * c, b_dec_demo, 0.0)
    l1 = sae_loss(x_demo, W_enc_demo / c, b_enc_demo / c, W_dec_demo * c, b_dec_demo, 1.0) - mse
    print(f"{name:28s} reconstruction error {mse:.4f}, L1 term {l1:.4f}")

# %% [markdown]
# So training keeps every row at norm 1. Two pieces do it: before each step, remove the part of the
# decoder's gradient that would only stretch a row; after it, divide each row by its norm.
#
# **Exercise `normalise_decoder(W_dec) -> W_dec`**: `W_dec [d_sae, d_in]` holds one direction per
# latent, its rows. Return a new tensor, the same shape, with each row divided by its norm. (Without
# unit rows, the L1 penalty is dodged by shrinking `acts` and growing `W_dec`.) E.g.
# `normalise_decoder(torch.tensor([[3.0, 4.0], [0.0, 2.0]]))` is `[[0.6, 0.8], [0.0, 1.0]]`.

# %%
check("ch06.normalise_decoder", ex.normalise_decoder)

# %% [markdown]
# **Exercise `remove_parallel_grad(W_dec, grad) -> grad`**: before each optimizer step, training
# removes from the decoder's gradient the part that would only stretch its rows. `W_dec` and
# `grad` are `[d_sae, d_in]`; with `w` row `i` of `W_dec` divided by its norm (rows may have
# drifted from 1), row `i` of the result is `grad_i - (grad_i · w) w`. Return a new `[d_sae, d_in]`
# tensor. E.g. `remove_parallel_grad(torch.tensor([[3.0, 4.0]]), torch.tensor([[3.0, 1.0]]))`:
# `w = [0.6, 0.8]`, `grad · w = 2.6`, so the result is `[[1.44, -1.08]]`, at right angles to `w`.

# %%
check("ch06.remove_parallel_grad", ex.remove_parallel_grad)

# %% [markdown]
# **Predict:** after an Adam step on a gradient with its parallel part removed, is every decoder row
# still of norm exactly 1?
#
# <details><summary>Answer</summary>
#
# No, only close to it. A step at right angles to a unit row still lengthens it, to `√(1 + |step|²)`,
# and Adam rescales each coordinate of the step on its own, so the step is not even exactly at right
# angles. Hence `normalise_decoder` after every step. The training loop in section 7 records the
# largest drift it corrected (printed there).
#
# </details>

# %% [markdown]
# A latent that never fires gets no gradient and never recovers: it is **dead**, and its capacity is
# lost. Towards Monosemanticity's fix is to **resample** it: point it at an input the SAE reconstructs
# badly.
#
# **Exercise `resample_dead(W_enc, b_enc, W_dec, x, x_hat, dead, seed, encoder_scale=0.2) ->
# (W_enc, b_enc, W_dec)`**: bring dead latents back (Towards Monosemanticity's resampling).
# `x, x_hat [n, d_in]` are inputs and their reconstructions, `dead [d_sae]` a bool mask (at least
# one latent dead and one alive). (1) Each input's loss is `||x - x_hat||²`; draw one input per dead
# latent with probability proportional to the loss **squared**:
# `rows = torch.multinomial(loss ** 2, n_dead, replacement=True, generator=torch.Generator().manual_seed(seed))`.
# (2) The `j`-th dead latent (in index order) gets `rows[j]`'s residual `x - x_hat`, divided by its
# norm, as its decoder row; (3) its encoder column is that direction times `encoder_scale` times the
# mean norm of the alive latents' encoder columns, and its `b_enc` is 0. Return new tensors; the
# alive latents are unchanged. E.g. with `x = [[1, 0], [0, 3]]` and `x_hat = [[1, 0], [0, 0]]` only
# input 1 can be drawn; if latent 1 is dead and the alive column is `W_enc[:, 0] = [2, 0]`, then
# `W_dec[1] = [0, 1]`, `W_enc[:, 1] = [0, 0.4]` and `b_enc[1] = 0`.

# %%
check("ch06.resample_dead", ex.resample_dead)

# %% [markdown]
# **Predict:** why draw inputs in proportion to their loss *squared* rather than to the loss?
#
# <details><summary>Answer</summary>
#
# To aim the dead latents at the worst-reconstructed inputs, the ones a new direction would help most:
# squaring makes the few large losses dominate the draw. The cell below draws from two inputs, one
# with twice the loss of the other: in proportion to the loss it is picked 2/3 of the time, to its
# square 4/5.
#
# </details>

# %%
resample_dead = mine_or_reference("ch06.resample_dead", ex.resample_dead)
x_two = torch.tensor([[1.0, 0.0], [0.0, 2.0 ** 0.5]])  # [n=2 d_in=2]: losses 1 and 2 when x_hat = 0
picks = torch.stack([resample_dead(torch.eye(2), torch.zeros(2), torch.eye(2), x_two, torch.zeros(2, 2),
                                   torch.tensor([False, True]), seed=s)[2][1] for s in range(2000)])  # [2000 d_in]
print(f"the input with twice the loss was drawn {(picks[:, 1] > 0.5).float().mean():.1%} of 2,000 times "
      f"(loss: 66.7 %, loss squared: 80.0 %)")

# %% [markdown]
# ## 7. An SAE on the toy model, where the truth is known
#
# The pentagon model of section 2 (`p = 0.02`) stores five features in two dimensions. Its hidden
# vector `h = W x` is the activation an SAE would see, and here we *know* the answer: the five
# directions `W_i / ||W_i||`. Can an SAE find them from `h` alone?
#
# The cell below writes a whole SAE training loop from your pieces (`sae_encode`, `sae_loss`,
# `remove_parallel_grad`, `normalise_decoder`, `resample_dead`): Adam on `sae_loss`, the parallel
# gradient removed before each step and the rows renormalised after, latents that fired on none of
# the last 250 batches resampled (in the first half of training). We train on the rows where some
# feature is present (an all-zero row says nothing), with 6 latents for the 5 features.

# %%
sae_encode = mine_or_reference("ch06.sae_encode", ex.sae_encode)
normalise_decoder = mine_or_reference("ch06.normalise_decoder", ex.normalise_decoder)
remove_parallel_grad = mine_or_reference("ch06.remove_parallel_grad", ex.remove_parallel_grad)


def train_small_sae(data, d_sae, l1_coeff, *, steps=1_500, lr=1e-2, batch_size=256, resample_every=250, seed=0):
    """A ReLU SAE on ``data [n d_in]`` built from your pieces; returns its weights and what training did."""
    g = torch.Generator().manual_seed(seed)
    W_dec = normalise_decoder(torch.randn(d_sae, data.shape[1], generator=g)).requires_grad_()  # [d_sae d_in]
    W_enc = W_dec.detach().T.clone().requires_grad_()  # [d_in d_sae]: tied at the start
    b_enc = torch.zeros(d_sae, requires_grad=True)
    b_dec = data.mean(0).clone().requires_grad_()  # [d_in]: start at the data's mean
    optimizer = torch.optim.Adam([W_enc, b_enc, W_dec, b_dec], lr=lr)
    fired, resampled, drift = torch.zeros(d_sae, dtype=torch.bool), 0, 0.0
    for step in range(1, steps + 1):
        x = data[torch.randint(len(data), (batch_size,), generator=g)]  # [batch d_in]
        loss = sae_loss(x, W_enc, b_enc, W_dec, b_dec, l1_coeff)
        optimizer.zero_grad()
        loss.backward()
        W_dec.grad = remove_parallel_grad(W_dec.detach(), W_dec.grad)
        optimizer.step()
        with torch.no_grad():
            drift = max(drift, (W_dec.norm(dim=-1) - 1).abs().max().item())
            W_dec.copy_(normalise_decoder(W_dec))
            fired |= (sae_encode(x, W_enc, b_enc, b_dec) > 0).any(0)
            if step % resample_every == 0:
                if (~fired).any() and step <= steps // 2:
                    probe = data[:4096]
                    x_hat = sae_encode(probe, W_enc, b_enc, b_dec) @ W_dec + b_dec
                    new = resample_dead(W_enc, b_enc, W_dec, probe, x_hat, ~fired, seed=step)
                    for param, value in zip((W_enc, b_enc, W_dec), new):
                        param.copy_(value)
                    resampled += int((~fired).sum())
                fired[:] = False
    weights = dict(W_enc=W_enc.detach(), b_enc=b_enc.detach(), W_dec=W_dec.detach(), b_dec=b_dec.detach())
    return weights, {"resampled": resampled, "largest drift": drift}


x = generate_batch(50_000, sweep.feature_probability[-1:], seed=3)[:, 0]  # [batch n_features]: the p = 0.02 world
h = (x @ pentagon.T)[(x > 0).any(-1)]  # [n d_hidden=2]: the hidden vectors of rows with a feature present
true_directions = (pentagon / pentagon.norm(dim=0)).T  # [n_features=5 d_hidden=2]
start = time.process_time()
toy_sae, toy_info = train_small_sae(h, d_sae=6, l1_coeff=0.3)
print(f"{len(h):,} hidden vectors; SAE trained in {time.process_time() - start:.1f} s of CPU; latents resampled: "
      f"{toy_info['resampled']}; the largest drift of a row's norm from 1 that normalise_decoder corrected: "
      f"{toy_info['largest drift']:.4f}")

# %% [markdown]
# Two scores say how good an SAE is, besides whether its directions mean anything: how many latents
# fire per token (**L0**: lower is sparser) and how much of the activations' variance the
# reconstruction keeps (**FVE**, fraction of variance explained: 1 is perfect).
#
# **Exercise `l0(acts) -> float`**: how sparse the code is: the mean number of latents that fire
# (are non-zero) per token. `acts [..., d_sae]` (`[batch, d_sae]` or `[batch, pos, d_sae]`): count
# over the last axis, average over every token, and return a float. E.g.
# `l0(torch.tensor([[0.0, 2.0, 1.0], [0.0, 0.0, 3.0]]))` is `1.5` (2 latents fire on the first
# token, 1 on the second).

# %%
check("ch06.l0", ex.l0)

# %% [markdown]
# **Exercise `fraction_variance_explained(x, x_hat) -> float`**: how much of the activations'
# variance the reconstruction keeps. `x, x_hat [..., d_in]`. Return
# `1 - Σ ||x - x_hat||² / Σ ||x - mean(x)||²` as a float, where `mean(x)` is the mean activation
# vector over all tokens (`[d_in]`) and both sums run over every token and `d_in` (pooled). 1 is a
# perfect reconstruction; 0 is no better than always answering `mean(x)`. E.g.
# `fraction_variance_explained(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), torch.tensor([[0.5, 0.0], [-0.5, 0.0]]))`
# is `0.75` (residual `0.25 + 0.25`, variance `1 + 1`).

# %%
check("ch06.fraction_variance_explained", ex.fraction_variance_explained)

# %% [markdown]
# **Predict:** will the SAE's six decoder rows include the five true directions? How many latents will
# fire per row, against the truth (rows with a feature hold 1.04 features on average)?
#
# <details><summary>Answer</summary>
#
# Yes: each true direction has a decoder row at cosine 1.00 with it. The L0 is 1.22, a little above
# the truth, because the sixth latent is a second copy of one feature's direction: when that feature
# is present the two fire together and split it between them. <!-- claim: ch06.toy_sae_recovers -->
# The cell below prints both, with your `l0` and `fraction_variance_explained`, and which latents
# share a feature.
#
# </details>

# %% [markdown]
# **Predict:** train the same SAE with a weaker L1 penalty (0.1 instead of 0.3). Will its directions
# be closer to the truth or further? Its FVE higher or lower?
#
# <details><summary>Answer</summary>
#
# Directions further from the truth (two of the five only at cosine 0.94), FVE higher (0.99 against
# 0.90). The penalty shrinks every activation, so a strong one reconstructs each vector a little
# short (lower FVE); a weak one lets several latents share a feature, each direction a blend
# (directions off). <!-- claim: ch06.l1_tradeoff --> Sparsity and faithfulness pull against each
# other; every SAE picks a point between them.
#
# </details>

# %%
l0 = mine_or_reference("ch06.l0", ex.l0)
fraction_variance_explained = mine_or_reference("ch06.fraction_variance_explained", ex.fraction_variance_explained)
weak_sae, _ = train_small_sae(h, d_sae=6, l1_coeff=0.1)
print(f"truth: {(x[(x > 0).any(-1)] > 0).sum(-1).float().mean():.2f} features per row with a feature")
for name, sae in (("l1 0.3", toy_sae), ("l1 0.1", weak_sae)):
    acts = sae_encode(h, sae["W_enc"], sae["b_enc"], sae["b_dec"])  # [n d_sae]
    h_hat = acts @ sae["W_dec"] + sae["b_dec"]  # [n d_hidden]
    cosines = (true_directions @ sae["W_dec"].T).max(dim=1).values  # [n_features]: the best row per feature
    print(f"{name}: best cosine per true direction {[round(c, 3) for c in cosines.tolist()]}, "
          f"L0 {l0(acts):.2f}, FVE {fraction_variance_explained(h, h_hat):.3f}")
match = (true_directions @ toy_sae["W_dec"].T > 0.99)  # [n_features d_sae]: row j points along feature i
for i in range(5):
    if match[i].sum() > 1:
        rows = match[i].nonzero().flatten().tolist()
        acts = sae_encode(h, toy_sae["W_enc"], toy_sae["b_enc"], toy_sae["b_dec"])
        both = ((acts[:, rows] > 0).all(-1).sum() / (acts[:, rows] > 0).any(-1).sum()).item()
        print(f"l1 0.3: latents {rows} both point along feature {i}; where either fires, both do {both:.0%} of the time")
plot_features_2d(toy_sae["W_dec"].T, titles=["the SAE's 6 decoder rows (l1 0.3)"],
                 title="compare with the pentagon at p = 0.020 in section 2")

# %% [markdown]
# ## 8. Thirty-two features in sixteen dimensions: three kinds of SAE
#
# A larger case with a known answer: 32 random unit directions in 16 dimensions, each present with
# probability 0.05 at a magnitude uniform in `[0, 1)`, so an activation holds `32 · 0.05 = 1.6`
# features on average. We train three SAEs of 64 latents with `minigpt.sae.train_sae` (Adam, unit
# rows, resampling, the inputs scaled to a mean norm of `√d_in`), one of each kind: **ReLU** with an
# L1 penalty, **TopK** with `k = 4`, and **JumpReLU** (Rajamanoharan et al., 2024: each latent has a
# threshold below which it is off, trained with an L0 penalty). A direction counts as recovered when
# some decoder row has cosine ≥ 0.9 with it.
#
# **Predict:** which kind's L0 will come closest to the truth, 1.6?
#
# <details><summary>Answer</summary>
#
# JumpReLU's (about 1.1, a little under), then ReLU's (about 3). TopK's is 4 to two decimals: never
# more by construction, and fewer only on the rare rows with fewer than 4 positive pre-activations. It
# cannot follow the data's sparsity, only cap it. <!-- claim: ch06.planted_l0 --> The cell below prints
# each.
#
# </details>

# %% [markdown]
# **Predict:** with 64 latents for 32 true features, will every latent be in use?
#
# <details><summary>Answer</summary>
#
# Not for TopK and JumpReLU: a quarter or more of their latents never fire on the data, while ReLU's
# nearly all do (2 % dead). <!-- claim: ch06.planted_dead --> Half the latents are spare here, so a
# dead one is no failure: each kind recovers 31 or all 32 of the directions (printed below).
#
# </details>

# %%
g = torch.Generator().manual_seed(100)
planted = torch.randn(32, 16, generator=g)
planted /= planted.norm(dim=-1, keepdim=True)  # [n_features=32 d_in=16]: the true directions
coefficients = sparse_features(20_000, torch.full((1, 32), 0.05), generator=g)[:, 0]  # [n n_features]
data = coefficients @ planted  # [n d_in]
start = time.process_time()
planted_recovered = {}  # kind -> how many of the 32 directions it recovered
for kind, options in (("relu", dict(l1_coeff=2.0)), ("topk", dict(k=4)), ("jumprelu", dict(l0_coeff=3.0))):
    sae = train_sae(data, 64, kind=kind, steps=1_000, lr=1e-2, batch_size=256, seed=0, progress=False, **options).sae
    with torch.no_grad():
        acts = sae.encode(data)  # [n d_sae]
        recovered = planted_recovered[kind] = int(((planted @ sae.W_dec.T).max(dim=1).values >= 0.9).sum())
        print(f"{kind:8s}: {recovered} of 32 directions recovered, L0 {l0(acts):.2f}, "
              f"FVE {fraction_variance_explained(data, sae.decode(acts)):.3f}, "
              f"dead {(~(acts > 0).any(0)).float().mean():.0%} of the latents")
print(f"three SAEs trained in {time.process_time() - start:.1f} s of CPU")

# %% [markdown]
# ## 9. An SAE on a real model
#
# Back to `stdlib-bytes` (2 layers, `d_model = 128`, MLPs of `d_mlp = 512` GELU neurons, trained on
# the bytes of Python's standard library: the cell below prints its configuration). minigpt ships an
# SAE on its layer-1 MLP, `blocks.1.mlp.hook_post`, trained by the recipe `minigpt train
# sae-stdlib-bytes`: a TopK SAE with twice as many latents as the MLP has neurons. The cell below
# prints its configuration and, from its `train.json`, how it was trained and what it measured on
# held-out text. (`TRAIN_SAE = True` at the top trains it again here.)
#
# All measurements below are on **held-out** source: standard-library files that come after the
# model's training corpus in its shuffled order, so neither the model nor the SAE read them
# (`minigpt.sae.evaluate.held_out_text`), cut into windows of 127 bytes after a BOS
# (`text_windows`). The SAE reads every byte but the BOS.

# %%
HOOK = "blocks.1.mlp.hook_post"
if TRAIN_SAE:
    import tempfile
    from pathlib import Path

    from minigpt.train.recipes import get_recipe

    sae_folder = get_recipe("sae-stdlib-bytes").run(Path(tempfile.mkdtemp()) / "sae-stdlib-bytes", progress=True)
else:
    sae_folder = "sae-stdlib-bytes"
sae = load_sae(sae_folder)
info = load_train_info(sae_folder)
cfg = model.cfg
print(f"stdlib-bytes: {cfg.n_layers} layers, d_model {cfg.d_model}, d_mlp {cfg.d_mlp} ({cfg.act_fn}), "
      f"{cfg.d_vocab} byte tokens, n_ctx {cfg.n_ctx}")
print(f"SAE: {sae.cfg.kind}, k = {sae.cfg.k}, {sae.cfg.d_sae} latents on {sae.cfg.hook_name} (d_in {sae.cfg.d_in}); "
      f"`{info['command']}`: {info['config']['steps']} steps of {info['config']['batch_size']} activations from "
      f"{info['data']['n_tokens']:,}, {info['cpu_s']:.0f} s of CPU")
print("its held-out scores, as recorded:", {k: info["held_out"][k] for k in ("n_tokens", "l0", "fve", "dead",
                                                                              "loss_recovered")})

text = held_out_text(50_000)  # whole stdlib files the model never saw (at least 50,000 bytes)
windows = text_windows(text, n_ctx=cfg.n_ctx - 1, n=512)  # [512 128]: BOS + 127 bytes each
tokens = windows[:256]  # [256 128]: scored below; windows[256:] train a ReLU SAE further down
data = tokens[:, 1:]  # [256 127]: the bytes the SAE reads
x_mlp = model_activations(model, tokens, HOOK)[:, 1:]  # [256 127 d_mlp]
with torch.no_grad():
    latents = sae.encode(x_mlp)  # [256 127 d_sae]
    x_hat = sae.decode(latents)  # [256 127 d_mlp]
print(f"held-out windows: {tuple(tokens.shape)}, {data.numel():,} bytes")

# %% [markdown]
# **Predict:** this SAE keeps the 16 largest pre-activations of each byte (`k = 16`), and `k` is a
# ceiling. Will its L0 on held-out text be 16, or below?
#
# <details><summary>Answer</summary>
#
# 16.00: unlike the planted features of section 8, every byte has at least 16 latents with a positive
# pre-activation, so the ceiling is always reached. The cell below measures it with your `l0`.
#
# </details>

# %% [markdown]
# **Predict:** 16 directions per byte, out of 1,024, for activations of 512 dimensions. What share of
# their variance will the reconstruction keep?
#
# <details><summary>Answer</summary>
#
# About 90 % (the cell below prints it, and how many latents never fire on these bytes). For comparison,
# the 16 largest principal components of the same activations keep less than half (printed too): a
# sparse code picks *different* directions for each byte. <!-- claim: ch06.shipped_fve -->
#
# </details>

# %%
flat = x_mlp.reshape(-1, cfg.d_mlp)  # [n_bytes d_mlp]
centred = flat - flat.mean(0)
singular = torch.linalg.svdvals(centred)  # [d_mlp]
pca16 = (singular[:16].pow(2).sum() / singular.pow(2).sum()).item()
print(f"L0 {l0(latents):.2f}; FVE {fraction_variance_explained(x_mlp, x_hat):.3f} (the top 16 principal components: "
      f"{pca16:.3f}); latents that never fire here: {dead_fraction(latents):.1%}")

# %% [markdown]
# FVE measures the activations; what matters is the model. Splice the SAE in: run `stdlib-bytes`
# with `hook_post` replaced by its reconstruction, and see how much of the next-byte loss survives.
# The scale runs from the clean model (1) to the model with that activation zeroed (0).
#
# **Exercise `loss_recovered(model, tokens, hook_name, W_enc, b_enc, W_dec, b_dec) -> float`**: what
# splicing the SAE in costs the model. On `tokens [batch, pos]`, compute three mean next-token
# losses with `model(tokens, return_type="loss")` and `model.run_with_hooks(..., fwd_hooks=[(hook_name,
# fn)])`: `L_clean` (the model as it is), `L_spliced` (the activation at `hook_name` replaced by its
# reconstruction `sae_encode(act, W_enc, b_enc, b_dec) @ W_dec + b_dec`) and `L_zero` (replaced by
# zeros). Return `(L_zero - L_spliced) / (L_zero - L_clean)` as a float: 1 when the SAE costs
# nothing, 0 when it is as bad as deleting the activation (SAELens's `ce_loss_score`). E.g. with
# `L_clean = 2.0`, `L_spliced = 2.5` and `L_zero = 4.0` it returns `0.75`.

# %%
check("ch06.loss_recovered", ex.loss_recovered)

# %% [markdown]
# Your `loss_recovered` encodes with `sae_encode`, a ReLU SAE's encoder; the shipped SAE is TopK, so
# its score comes from `minigpt.sae.spliced_losses`, which runs the SAE as it is. To use yours, the
# cell below trains a **ReLU** SAE here, on 256 *other* held-out windows, with as many latents as the
# MLP has neurons and an L1 penalty: a few hundred steps, against the shipped SAE's 1,500.
#
# **Predict:** for the shipped SAE, which is higher: the FVE (the variance it keeps) or the loss
# recovered?
#
# <details><summary>Answer</summary>
#
# The loss recovered (0.92 against 0.90): what the SAE misses matters less to the next byte than its
# share of the variance. <!-- claim: ch06.loss_recovered_above_fve --> The cell below prints both.
#
# </details>

# %% [markdown]
# **Predict:** the ReLU SAE trained here, at an L0 near the shipped one's: better or worse, on FVE
# and on loss recovered?
#
# <details><summary>Answer</summary>
#
# Worse on both (FVE 0.78, loss recovered 0.81). <!-- claim: ch06.relu_sae_worse --> It is no
# fair fight (fewer latents, a fifth of the steps), but Gao et al. (2024) report the same ordering in
# fair ones: at equal L0, TopK reconstructs better than ReLU with L1, whose penalty shrinks every
# activation (section 7).
#
# </details>

# %%
loss_recovered = mine_or_reference("ch06.loss_recovered", ex.loss_recovered)
fit = model_activations(model, windows[256:], HOOK)[:, 1:]  # [256 127 d_mlp]: the ReLU SAE's training data
start = time.process_time()
relu_sae = train_sae(fit, cfg.d_mlp, kind="relu", l1_coeff=3.0, steps=300, lr=3e-3, batch_size=512, seed=0,
                     hook_name=HOOK, progress=False).sae
print(f"ReLU SAE trained in {time.process_time() - start:.1f} s of CPU")
with torch.no_grad():
    relu_latents = relu_sae.encode(x_mlp)
    relu_score = loss_recovered(model, tokens, HOOK, relu_sae.W_enc, relu_sae.b_enc, relu_sae.W_dec, relu_sae.b_dec)
losses = spliced_losses(model, tokens, sae)  # clean, spliced, zero_ablated: nats per byte
topk_score = (losses["zero_ablated"] - losses["spliced"]) / (losses["zero_ablated"] - losses["clean"])
print(f"next-byte loss: clean {losses['clean']:.3f}, shipped SAE spliced in {losses['spliced']:.3f}, hook_post zeroed "
      f"{losses['zero_ablated']:.3f} nats per byte")
for name, acts, score in (("shipped TopK", latents, topk_score), ("ReLU, trained here", relu_latents, relu_score)):
    with torch.no_grad():
        fve = fraction_variance_explained(x_mlp, (sae if acts is latents else relu_sae).decode(acts))
    print(f"{name:18s}: {acts.shape[-1]} latents, L0 {l0(acts):5.2f}, FVE {fve:.3f}, loss recovered {score:.3f}")

# %% [markdown]
# ## 10. Naming features
#
# A latent is only worth something if a person can say what it means, and check it. The dashboards of
# Towards Monosemanticity start from the **top-activating contexts**: the places in real text where the
# latent fires hardest.
#
# **Exercise `top_activating_contexts(acts, tokens, k, before, after) -> list`**: where a feature
# fires hardest. `acts [batch, pos]` is one feature's activation, `tokens [batch, pos]` the text.
# Take one context per sequence, at its peak (its largest activation), so one long run of the
# feature cannot fill the list; return the `k` highest as a list of tuples
# `(batch, pos, value, window)`, highest first, where `window` is the list of token ids from
# `pos - before` to `pos + after`, both included, cut at the sequence's ends. E.g. with
# `acts = [[0.0, 2.0, 0.5], [3.0, 0.0, 1.0]]`, `tokens = [[10, 11, 12], [20, 21, 22]]`, `k=2`,
# `before=1`, `after=1` it returns `[(1, 0, 3.0, [20, 21]), (0, 1, 2.0, [10, 11, 12])]`.

# %%
check("ch06.top_activating_contexts", ex.top_activating_contexts)

# %% [markdown]
# Here are three latents' top contexts on the held-out bytes, from your `top_activating_contexts`:
# each line is a window of source, and `⟦ ⟧` marks the byte where the latent peaks (the model, at that
# byte, is predicting the next one). These three were found by reading latents' contexts, then checked
# against labels as below (the atlas in section 11 shows all 1,024); if you retrained the SAE, yours may
# sit at other indices.
#
# **Predict:** before reading the next cell's output too closely: what would you call latent 758, from
# its contexts?
#
# <details><summary>Answer</summary>
#
# **"after `def`"**: it peaks on the space right after the keyword `def`, where the model must guess a
# function's name. Latent 775 peaks on the `#` that starts a comment, and latent 859 on the `(` that
# opens a `def`'s parameters. The cell after it turns each name into a label and measures it.
#
# </details>

# %%
top_activating_contexts = mine_or_reference("ch06.top_activating_contexts", ex.top_activating_contexts)
NAMED = {758: "after def", 775: "a comment starts", 859: "a def's parameters open"}


def show_context(window, peak):
    """One window of bytes as text, the peak byte in ⟦ ⟧ (newlines shown as ⏎)."""
    def text(ids):
        return bytes(ids).decode("utf-8", "replace").replace("\n", "⏎")

    return text(window[:peak]) + "⟦" + text(window[peak:peak + 1]) + "⟧" + text(window[peak + 1:])


for latent, name in NAMED.items():
    print(f"latent {latent}:")
    for batch, pos, value, window in top_activating_contexts(latents[..., latent], data, k=5, before=24, after=6):
        print(f"  {value:5.2f}  {show_context(window, min(pos, 24))}")

# %% [markdown]
# A name is a hypothesis. Python's own tokenizer labels every byte of the held-out source
# (`minigpt.sae.labels.python_byte_labels`: inside a string, a docstring, a comment, ...), so each name
# becomes a label:
#
# - "after def": the byte that ends a match of `\bdef ` (the space after the keyword);
# - "a comment starts": a comment's first byte (its `#`);
# - "a def's parameters open": the byte that ends a match of `\bdef \w+\(` (the `(`);
# - and one name a person might hope for, with no latent picked for it: "inside a string", any byte of a
#   string literal after its first.
#
# The score: if `N` bytes carry the label, take the `N` bytes where the latent is highest and count
# how many of them carry it (**precision at N**: 1 for a perfect detector; the label's share of the
# bytes for a useless one). And the same for every one of the 512 MLP neurons the SAE reads: if
# superposition is real, no single neuron should do as well.
#
# **Predict:** will the best of the 512 neurons pick out the bytes after `def` as well as latent 758?
#
# <details><summary>Answer</summary>
#
# No: the best neuron scores 0.43, latent 758 scores 0.95. For the comment's `#`, 0.25 against 0.92;
# for the `(` of a `def`, 0.10 against 0.90. <!-- claim: ch06.latents_beat_neurons --> Each feature is
# there in the MLP, but spread over many neurons; the SAE gathers it into one direction. The cell below
# prints every score, and, for each label, which of all 1,024 latents scores best.
#
# </details>

# %% [markdown]
# **Predict:** and "inside a string", the label no latent was picked for: will the best of the 1,024
# latents mark it as well as the named latents mark theirs?
#
# <details><summary>Answer</summary>
#
# No: the best latent scores 0.26, and the best neuron does better, 0.37.
# <!-- claim: ch06.no_string_latent --> This SAE's latents are sharp, local events (a keyword, a
# bracket, a comment's first byte); "inside a string" is spread over many of them. Names come from
# what the latents do, not from what we hope to find.
#
# </details>

# %%
def name_labels(data, labels):
    """``{name: [n_bytes] bool}``: the bytes each name says its latent fires on."""
    def previous(mask):
        return torch.cat([mask.new_zeros(1), mask[:-1]])  # out[i] = mask[i - 1]

    def ends_of(pattern):
        mask = torch.zeros(len(data), dtype=torch.bool)
        for match in re.finditer(pattern, bytes(data.tolist())):
            mask[match.end() - 1] = True  # the last byte of each match
        return mask

    comment, string = labels["comment"], labels["string"]
    return {"after def": ends_of(rb"\bdef "), "a comment starts": comment & ~previous(comment),
            "a def's parameters open": ends_of(rb"\bdef \w+\("), "inside a string": string & previous(string)}


def precision_at_n(acts, label):
    """``acts [n_bytes n_units]``, ``label [n_bytes]`` -> ``[n_units]``: the labelled share of each unit's top N bytes."""
    n = int(label.sum())
    return label[acts.topk(n, dim=0).indices].float().mean(0)


flat_bytes = data.reshape(-1)  # [n_bytes]
byte_labels = {k: v[: len(flat_bytes)] for k, v in python_byte_labels(text).items()}  # the windows' bytes
named_labels = name_labels(flat_bytes, byte_labels)
flat_latents = latents.reshape(-1, sae.cfg.d_sae)  # [n_bytes d_sae]
evidence = {}  # name -> the scores of its latent, the best neuron and the best latent
for name, label in named_labels.items():
    neurons_score = precision_at_n(flat, label)  # [d_mlp]
    latents_score = precision_at_n(flat_latents, label)  # [d_sae]
    latent = next((i for i, n in NAMED.items() if n == name), None)
    evidence[name] = dict(latent=latent, n=int(label.sum()), base=label.float().mean().item(),
                          score=None if latent is None else latents_score[latent].item(),
                          best_neuron=int(neurons_score.argmax()), neuron=neurons_score.max().item(),
                          best_latent=int(latents_score.argmax()), best_latent_score=latents_score.max().item())
display(Markdown("| name | labelled bytes | share of all bytes | precision at N: its latent | the best of the 512 "
                 "neurons | the best of the 1,024 latents |\n| --- | --- | --- | --- | --- | --- |\n" + "\n".join(
                     f"| {name} | {e['n']:,} | {e['base']:.2%} | "
                     + ("—" if e["latent"] is None else f"**{e['score']:.2f}** (latent {e['latent']})")
                     + f" | {e['neuron']:.2f} (neuron {e['best_neuron']}) | {e['best_latent_score']:.2f} "
                     f"(latent {e['best_latent']}) |" for name, e in evidence.items())))

# %% [markdown]
# A **dashboard** puts everything known about one latent on a page (Bricken et al., 2023; Neuronpedia):
# its top contexts coloured byte by byte, the histogram of its activations where it fires, and the
# next bytes it pushes up and down most (its logit effect, section 11). Here, latent 758. Hover a byte
# for its activation.

# %%
feature_dashboard(model, data, latents[..., 758], latent_direction(model, sae, 758), k=12, window=(24, 6),
                  one_per_sequence=True, title="latent 758 of sae-stdlib-bytes: after def")

# %% [markdown]
# ## 11. What a feature does, and the map of all of them
#
# A latent's activation adds `act · W_dec[i]` to `hook_post`, and so `act · W_dec[i] W_out` to the
# residual stream. Read that direction straight through the unembedding, and you see which next bytes
# the latent pushes up and down, directly (its **direct logit effect**; ignoring what layers after it
# would do, and here there are none: layer 1 is the last).
#
# **Exercise `latent_logit_effect(model, layer, W_dec, latent) -> effect`**: which next tokens a
# latent pushes up or down directly. The SAE reads `blocks.{layer}.mlp.hook_post`, so
# `W_dec [d_sae, d_mlp]`; row `W_dec[latent]` reaches the residual stream through the MLP's output
# matrix `model.blocks[layer].mlp.W_out [d_mlp, d_model]`. The final LayerNorm centres that direction
# (subtract its mean over `d_model`) and multiplies it by `model.ln_final.w`; then `model.W_U
# [d_model, d_vocab]` reads it. Return the `[d_vocab]` effect, leaving out the biases and
# LayerNorm's `1/scale` (one positive number per position, the same for every direction). E.g. if
# `W_dec[latent] @ W_out` is `[2.0, 0.0]` (`d_model = 2`) and `ln_final.w` is all ones, the centred
# direction is `[1.0, -1.0]` and the effect is `W_U[0] - W_U[1]`.

# %%
check("ch06.latent_logit_effect", ex.latent_logit_effect)

# %% [markdown]
# **Predict:** latent 758 fires on the space after `def`. Which next bytes will it push up most?
#
# <details><summary>Answer</summary>
#
# Lowercase letters, the first letter of a function's name, with `g` first (`get_...`); and it pushes
# down punctuation a name cannot start with (`:`, `|`, `}`, `.`, `=`). <!-- claim: ch06.after_def_promotes -->
# The cell below prints both sides, among the bytes that occur in the held-out text: the 256-byte
# vocabulary also holds control characters and UTF-8 pieces this source never uses, and the effects on
# those (large either way) say little.
#
# </details>

# %% [markdown]
# **Predict:** latent 775 fires on a comment's `#`. Which next byte will it push up most?
#
# <details><summary>Answer</summary>
#
# The space: a comment almost always goes `# text`. And latent 859, on the `(` of a `def`, pushes up
# `s` most: the `self` of a method. <!-- claim: ch06.comment_promotes_space --> Printed below.
#
# </details>

# %%
latent_logit_effect = mine_or_reference("ch06.latent_logit_effect", ex.latent_logit_effect)


def byte_text(b):
    return repr(chr(b)) if b < 128 else f"0x{b:02x}"


seen = torch.zeros(cfg.d_vocab, dtype=torch.bool)
seen[flat_bytes.unique()] = True  # [d_vocab]: the bytes that occur in the held-out windows
print(f"{int(seen.sum())} of the {cfg.d_vocab} bytes occur in the held-out windows")
for latent, name in NAMED.items():
    effect = latent_logit_effect(model, 1, sae.W_dec.detach(), latent)  # [d_vocab]
    same = torch.allclose(effect, direct_logit_effect(model, latent_direction(model, sae, latent)), atol=1e-5)
    up = effect.masked_fill(~seen, -math.inf).topk(8).indices.tolist()
    down = (-effect).masked_fill(~seen, -math.inf).topk(5).indices.tolist()
    print(f"latent {latent} ({name}): up {', '.join(f'{byte_text(b)} {effect[b]:+.2f}' for b in up)}")
    print(f"{'':12s}down {', '.join(f'{byte_text(b)} {effect[b]:+.2f}' for b in down)} (the library agrees: {same})")

# %% [markdown]
# Finally the whole dictionary at once: the **feature atlas** puts each of the 1,024 decoder directions
# on a map (their top two principal components; nearby points point the same way), coloured by the
# latent's largest activation on the held-out bytes. Hover a point for its top context. The three
# named latents carry their names.
#
# **Predict:** latents 775 and the comment-text latent 395 fire one byte apart, on the `#` and on the
# byte after it. Will their decoder directions be close on the map (a high cosine)?
#
# <details><summary>Answer</summary>
#
# No: their cosine is -0.02, at right angles. <!-- claim: ch06.comment_pair_orthogonal --> Firing on
# neighbouring bytes of the same comments is no reason to point the same way: at the `#` the model must
# predict a space, after it a word. The atlas groups latents by what they *write*, not by where they
# fire.
#
# </details>

# %% [markdown]
# **Predict:** how many of the 1,024 latents never fire on these 32,512 held-out bytes?
#
# <details><summary>Answer</summary>
#
# About 5 %: the share printed in section 9 (`dead_fraction`), 49 latents here. They are the grey,
# "(dead)" points of the map. On more text some of them would fire: the SAE's own record, on 209,423
# bytes, counts 3.2 % (section 9 printed it). <!-- claim: ch06.dead_on_held_out -->
#
# </details>

# %%
W_dec = sae.W_dec.detach()
print(f"cosine of latents 775 and 395: {W_dec[775] @ W_dec[395]:+.2f}; latents dead here: "
      f"{int((~(flat_latents > 0).any(0)).sum())} of {sae.cfg.d_sae}")
contexts = top_context_per_feature(latents, data, window=(16, 4))
atlas_labels = [NAMED.get(i, f"latent {i}") + ("" if c is not None else " (dead)") for i, c in enumerate(contexts)]
feature_atlas(W_dec, contexts, labels=atlas_labels, values=flat_latents.max(0).values, model=model,
              title="sae-stdlib-bytes: 1,024 decoder directions by PCA")

# %% [markdown]
# ## Summary
#
# What this chapter measured (the cell below writes it from this run):

# %%
pentagon_angles = neighbour_angles(pentagon)
toy_cosines = (true_directions @ toy_sae["W_dec"].T).max(dim=1).values
display(Markdown("\n".join([
    f"- **The pentagon.** Five features in two dimensions, importance 0.9^i: dense, the model keeps "
    f"{int((norms[0] > 0.5).sum())} at {neighbour_angles(W[0]).min():.0f}° (PCA's answer); at p = "
    f"{DENSITIES[-1]:.2f}, all five, neighbours {pentagon_angles.min():.0f}°-{pentagon_angles.max():.0f}° apart, "
    f"norms {feature_norms(pentagon).min():.2f}-{feature_norms(pentagon).max():.2f}, feature dimensionalities "
    f"{D[-1].min():.3f}-{D[-1].max():.3f} (2/5 = 0.4).",
    f"- **The phase diagram.** Two features in one dimension: dense, the extra feature is dropped or gets the "
    f"dimension; from p = {diagram.density[(diagram.phase == 1).all(0)].max():.3f} down, superposition at every "
    f"importance from {diagram.relative_importance.min():.1f} to {diagram.relative_importance.max():.0f}.",
    f"- **Neurons.** Ten features in five ReLU neurons: dense, each neuron one feature (largest shares "
    f"{share[0].max(-1).values.min():.2f}-{share[0].max(-1).values.max():.2f}); at p = 0.03, all polysemantic "
    f"(largest shares {share[1].max(-1).values.min():.2f}-{share[1].max(-1).values.max():.2f}).",
    f"- **SAEs where the truth is known.** On the pentagon, your pieces' SAE finds all five directions (cosines "
    f"≥ {toy_cosines.min():.3f}); with 64 latents for 32 planted directions in 16 dimensions, ReLU, TopK and "
    f"JumpReLU SAEs recover {', '.join(str(n) for n in planted_recovered.values())} of them.",
    f"- **The shipped SAE** on `stdlib-bytes`'s layer-1 MLP, on {data.numel():,} held-out bytes: L0 "
    f"{l0(latents):.0f}, FVE {fraction_variance_explained(x_mlp, x_hat):.3f}, loss recovered {topk_score:.3f} "
    f"(clean {losses['clean']:.3f}, spliced {losses['spliced']:.3f}, zeroed {losses['zero_ablated']:.3f} nats per "
    f"byte), {dead_fraction(latents):.1%} of the latents silent.",
    "- **Named features**, with precision at N against Python's tokenizer (the best of the 512 neurons in "
    "brackets): " + "; ".join(f"latent {e['latent']} \"{name}\" {e['score']:.2f} ({e['neuron']:.2f}, "
                               f"{e['n']} bytes)" for name, e in evidence.items() if e["latent"] is not None)
    + f"; no latent for \"inside a string\" (the best: {evidence['inside a string']['best_latent_score']:.2f}).",
])))

# %% [markdown]
# Further: Elhage et al. (2022) go on to superposition with correlated features, in larger models, and
# as a compression scheme with computation in superposition; Bricken et al. (2023) and Templeton et al.
# (2024, *Scaling Monosemanticity*) train SAEs on real language models and find features that split as
# the dictionary grows; Gao et al. (2024) and Rajamanoharan et al. (2024) compare TopK and JumpReLU
# with ReLU at scale; ARENA 1.3.2 and 1.5.4 walk through both halves of this chapter in more depth;
# SAELens trains and loads SAEs for public models.
