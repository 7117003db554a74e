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
# # Chapter 4 — Grokking
#
# Train a small transformer on `a + b mod p` with 30 % of the pairs as training data. In minigpt's
# shipped run (`p = 113`) it answers 27 % of the training pairs right at epoch 100 and all of them at
# epoch 200, while it gets fewer than 2 % of the other pairs right (chance is 1/113): it has
# **memorised**. <!-- claim: ch04.memorises_first --> Keep training, with nothing changed, and near
# epoch 20,000 the test accuracy climbs to 100 % (50 % at epoch 19,200, 99 % at 21,500).
# <!-- claim: ch04.groks_late --> Power et al. (2022) called this **grokking**.
#
# Nanda et al. (2023, *Progress measures for grokking via mechanistic interpretability*) opened
# the model up and found the algorithm it had learned, written in its weights in the language of
# the **Fourier basis**:
#
# 1. embed `a` and `b` as `cos(wa), sin(wa), cos(wb), sin(wb)` for a few *key frequencies* `w = 2πk/p`;
# 2. multiply them in the attention and the MLP into `cos(w(a+b))` and `sin(w(a+b))` (trig identities);
# 3. score each answer `c` by `cos(w(a+b-c)) = cos(w(a+b))cos(wc) + sin(w(a+b))sin(wc)`, which peaks
#    exactly at `c = a + b mod p`.
#
# Knowing the algorithm, they could watch it form. They report that two **progress measures** show
# the circuit growing steadily long before the test accuracy moves, and read grokking not as a sudden
# insight but as a slow build-up followed by a **cleanup** of the memorised solution, pushed by
# weight decay (Nanda et al., 2023). This chapter checks each step on minigpt's own runs.
#
# Two models appear, and every cell says which it uses: the **canonical model** (`p = 113`, Nanda et
# al.'s setup, shipped with minigpt with its training history: `canon_model`, `canon_rows`) and the
# **fast run** (`p = 59`, trained here in seconds: `fast_run`, and `no_wd_run` without weight decay).
#
# Your code goes in `exercises/ch04_grokking.py`; each piece is checked right after it is
# introduced, and later cells use yours once it passes.
#
# | exercise | what | difficulty |
# | --- | --- | --- |
# | `modular_pairs` | the data: every `a b =` and its answer | 1 |
# | `fourier_basis` | the Fourier basis of `Z_p` | 1 |
# | `fft1d`, `fft2d` | coefficients along one or two token axes | 1, 2 |
# | `key_frequencies` | the frequencies that carry the embedding | 2 |
# | `embedding_svd` | the embedding's singular values, and the frequency of each singular vector | 2 |
# | `project_onto_frequency` | one frequency's part of a vector | 2 |
# | `neuron_frequency_clusters` | which frequency each neuron computes | 3 |
# | `effective_weights` | `W_neur` (tokens → neurons) and `W_logit` (neurons → answers) | 2 |
# | `frequency_ablation` | what the model loses without one frequency's neurons | 2 |
# | `xpy_directions` | `cos(w(a+b))`, `sin(w(a+b))` over the pairs | 1 |
# | `restricted_loss`, `excluded_loss` | the progress measures | 2, 2 |
# | `sum_sq_weights` | what weight decay pulls down | 1 |

# %%
# True: retrain the canonical p = 113 run from scratch (minigpt train grokking-canonical; §3 prints how long the
# shipped run took)
FULL_TRAINING = False

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
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from minigpt.checkpoints import list_snapshots, load_checkpoint, load_history
from minigpt.data import modular_data
from minigpt.grading import check
from minigpt.grokking_model import last_position_logits
from minigpt.interp.fourier import (explained_variance_1d, explained_variance_2d, fourier_basis as lib_basis,
                                    neuron_clusters, neuron_frequency_fractions)
from minigpt.interp.grok import grok_grids
from minigpt.train.grokking import FAST, NO_WD, load_settings, summary
from minigpt.train.grokking_loop import train_grokking
from minigpt.viz import (plot_curves, plot_fourier_coeffs, plot_frequency_spectrum, plot_grids, plot_neuron_fractions,
                         plot_progress, plot_spectrum_over_training)
from minigpt.workspace import load_exercises, mine_or_reference, setup_notebook

setup_notebook()
torch.manual_seed(0)
ex = load_exercises("ch04_grokking")

# %% [markdown]
# ## 1. The task
#
# The model reads three tokens, `a b =`, and must answer `a + b mod p` at the `=`. The residues
# are tokens `0 .. p-1` and `=` is token `p`. We list every pair in one order, row `a * p + b`,
# so that anything computed per pair reshapes into a `[p, p]` grid indexed by `a` then `b`.

# %% [markdown]
# **Exercise `modular_pairs(p) -> (tokens, labels)`**: return all `p²` inputs, `tokens [p*p, 3]`
# (int64, row `a * p + b` holds `[a, b, p]`), and their answers, `labels [p*p]` (int64, `(a + b) % p`).
# Example: `modular_pairs(3)` starts with the rows `[0, 0, 3], [0, 1, 3], [0, 2, 3], [1, 0, 3]` and
# its labels are `[0, 1, 2, 1, 2, 0, 2, 0, 1]`.

# %%
check("ch04.modular_pairs", ex.modular_pairs)

# %% [markdown]
# **Predict:** for `p = 5`, how many rows does `modular_pairs` return, and what are the tokens and
# the label of row 7?
#
# <details><summary>Answer</summary>
#
# 25 rows. Row 7 is `a = 1, b = 2` (`7 = 1 * 5 + 2`): tokens `[1, 2, 5]`, label 3. The cell below
# prints it.
#
# </details>

# %%
modular_pairs = mine_or_reference("ch04.modular_pairs", ex.modular_pairs)
tokens, labels = modular_pairs(5)
print(f"{len(tokens)} rows; row 7: tokens {tokens[7].tolist()}, label {labels[7].item()}")
print(tokens[:7].tolist(), "...")
print("labels as a [p, p] grid (a down, b across):")
print(labels.reshape(5, 5))

# %% [markdown]
# `minigpt.data.modular_data` shuffles the pairs with a seed and keeps a fraction for training.
# Nanda et al.'s setup, which the canonical model follows, is `p = 113` with 30 % of the pairs.
#
# **Predict:** of the `113² = 12,769` pairs, how many does the canonical model train on, and how many
# are left to test it?
#
# <details><summary>Answer</summary>
#
# 3,831 for training (30 %, rounded) and 8,938 for testing, as the cell below prints.
# <!-- claim: ch04.split_sizes -->
#
# </details>

# %%
settings = load_settings("grokking-canonical")  # the canonical (p = 113) run's settings: its train.json
canonical_data = modular_data(settings.p, settings.operation, settings.train_frac, settings.data_seed)
print(f"canonical data: p = {settings.p}, {settings.p ** 2:,} pairs, {len(canonical_data.train_idx):,} for "
      f"training ({settings.train_frac:.0%}), {len(canonical_data.test_idx):,} for testing")
fig = Figure(figsize=(4.2, 4), layout="constrained")
ax = fig.add_subplot()
ax.imshow(canonical_data.train_mask(), cmap="Greys", interpolation="nearest")
ax.set_title(f"training pairs (black): {settings.train_frac:.0%} of a + b mod {settings.p}")
ax.set_xlabel("b")
ax.set_ylabel("a")
fig

# %% [markdown]
# ## 2. The model
#
# A one-layer transformer: four attention heads, an MLP of 512 ReLU neurons, no LayerNorm,
# `d_model = 128`, separate embedding and unembedding (the cell below prints the canonical model's
# config). It is minigpt's own `GPT`, so every hook and tool of the earlier chapters works on it. The
# loss is the cross-entropy of the logits at `=` over the `p` residues. The weights start as
# TransformerLens (and Nanda et al.) start them: every matrix `N(0, 0.8/sqrt(d_model))`, every bias
# zero. GPT-2's own init also shrinks `W_O` and `W_out` by `1/sqrt(2 n_layers)`; `GrokSettings(init="gpt2")`
# trains with it, if you want to compare.
#
# **Predict:** how many parameters does this model have: about 20 thousand, 200 thousand or 2 million?
#
# <details><summary>Answer</summary>
#
# About 200 thousand: 227,328. Most are the MLP's (`2 × 128 × 512 = 131,072`); the attention has
# 65,536 weights, the embedding and unembedding `114 × 128 = 14,592` each. The cell below prints the
# count. <!-- claim: ch04.param_count -->
#
# </details>

# %%
canon_model = load_checkpoint("grokking-canonical")  # the canonical model, p = 113
cfg = canon_model.cfg
P = cfg.modulus  # 113: every cell that uses P is about the canonical model
print(f"canonical model: {cfg.n_layers} layer, {cfg.n_heads} heads (d_head {cfg.d_head}), d_model {cfg.d_model}, "
      f"d_mlp {cfg.d_mlp} ({cfg.act_fn}), LayerNorm: {cfg.normalization_type}, tied embeddings: "
      f"{cfg.tie_embeddings}, vocabulary {cfg.d_vocab} (p = {P} and '='), "
      f"{sum(p.numel() for p in canon_model.parameters()):,} parameters; init {settings.init!r}, "
      f"init_range {cfg.init_range:.4f} = 0.8/sqrt({cfg.d_model})")

# %% [markdown]
# **Predict:** the loss reads the logits at `=` (position 2) only. In a one-layer model, do the MLP's
# outputs at positions 0 and 1 (`a` and `b`) change those logits?
#
# <details><summary>Answer</summary>
#
# No. With one layer, the MLP at a position writes only to that position's residual stream, and
# nothing reads it afterwards but the unembedding there. Only the keys and values of positions 0 and 1
# matter, through the attention at `=`. That is why the training step
# (`minigpt.grokking_model.last_position_logits`) runs the MLP at `=` only; the cell below checks that
# it gives the same logits as the full forward pass.
#
# </details>

# %%
all_tokens, _ = modular_pairs(P)
with torch.no_grad():
    full = canon_model(all_tokens)[:, -1]
    cheap = last_position_logits(canon_model, all_tokens)
print(f"canonical model, all {P * P:,} pairs: largest difference between the two forward passes "
      f"{(full - cheap).abs().max():.1e}")

# %% [markdown]
# ## 3. Watch it grok
#
# The canonical run needs 21,500 full-batch epochs to reach 99 % test accuracy; its shipped history's
# clock reads 1,917 s there (32 minutes, on one CPU core, with the fast training step described
# next). <!-- claim: ch04.canonical_clock --> The **fast recipe** (`minigpt train grokking`) keeps
# the model and the phenomenon but shrinks the bill: `p = 59` with 40 % of the pairs, a learning rate
# of `5e-3` <!-- claim: ch04.fast_settings -->, and a training step that computes only what the loss
# needs (the MLP and unembedding at the `=` position only, and keys and values once per (position,
# token) rather than once per example). `python benchmarks/grokking.py --levers` measures what each
# change buys on your machine. The next cells train the **fast run** (`p = 59`) here.
#
# **Predict:** in the fast run, will the test accuracy stay near chance (1/59) while the model
# memorises, as in the canonical run?
#
# <details><summary>Answer</summary>
#
# No: with 40 % of the pairs and `p = 59` the memorising model already answers a good part of the test
# pairs, yet its test loss is far above chance (`log 59 = 4.1`): its wrong answers are confident ones.
# The text under the plots below gives the figures, written from the run itself.
#
# </details>

# %%
fast_run = train_grokking(FAST, progress=True)  # the fast run, p = 59
fast_info = summary(fast_run.rows)
print(f"fast run: p = {FAST.p}, {FAST.train_frac:.0%} of the pairs, lr {FAST.lr:g}, weight decay "
      f"{FAST.weight_decay:g}")
print(f"train accuracy 100 % at epoch {fast_info['train_100_step']}; test accuracy 50 % at epoch "
      f"{fast_info['test_50_step']} and 99 % at epoch {fast_info['test_99_step']} "
      f"({fast_info['test_99_seconds']:.1f} s); the delay: x{fast_info['delay_ratio']:.1f}")


# %%
def marks(info):
    return {"train 100 %": info["train_100_step"], "test 50 %": info["test_50_step"], "test 99 %": info["test_99_step"]}


fig = plot_progress(fast_run.rows, ["train_loss", "test_loss"], marks=marks(fast_info),
                    title=f"fast run (p = {FAST.p}): loss, log scale")
fig

# %%
plot_progress(fast_run.rows, ["train_acc", "test_acc"], log_y=False, y_label="accuracy", marks=marks(fast_info),
              title=f"fast run (p = {FAST.p}): accuracy")


# %%
def at(rows, step):
    """The history row of the last recorded epoch at or before ``step``."""
    return [r for r in rows if r["step"] <= step][-1]


peak = max(fast_run.rows, key=lambda r: r["test_loss"])
memorised = at(fast_run.rows, fast_info["train_100_step"])
halfway = at(fast_run.rows, (fast_info["train_100_step"] + fast_info["test_50_step"]) // 2)
display(Markdown(
    f"What the fast run (p = {FAST.p}) did: the training accuracy reached 100 % at epoch "
    f"{fast_info['train_100_step']}, when the test accuracy was {memorised['test_acc']:.0%}. The test loss peaked "
    f"at {peak['test_loss']:.1f} at epoch {peak['step']} (chance is log {FAST.p} = {math.log(FAST.p):.1f}): the "
    f"memorised solution is confidently wrong elsewhere. Halfway to the 50 % mark (epoch {halfway['step']}) the "
    f"test accuracy was still {halfway['test_acc']:.0%}. Then it climbed: 50 % at epoch {fast_info['test_50_step']}, "
    f"99 % at {fast_info['test_99_step']}, while the test loss fell to {fast_run.rows[-1]['test_loss']:.1e} by the "
    f"end of the run."))

# %% [markdown]
# The canonical run (`p = 113`) shows the same shape, stretched over about 20,000 epochs. Its
# history ships with minigpt (`FULL_TRAINING = True` at the top retrains it); the cell below reads it.
#
# **Predict:** in the canonical history, while the model memorises, does the test loss stay at chance
# (`log 113 = 4.7`), fall, or rise?
#
# <details><summary>Answer</summary>
#
# It rises, to a peak of 32.8 at epoch 1,400: confidently wrong answers on the test pairs, as the cell
# below prints. <!-- claim: ch04.test_loss_peak -->
#
# </details>

# %%
if FULL_TRAINING:
    import tempfile
    from pathlib import Path

    from minigpt.train.recipes import get_recipe

    canon_folder = get_recipe("grokking-canonical").run(Path(tempfile.mkdtemp()) / "grokking-canonical",
                                                        device="auto", seed=0, progress=True)
    canon_model = load_checkpoint(canon_folder)
else:
    canon_folder = "grokking-canonical"
canon_history = load_history(canon_folder)
canon_rows = canon_history["rows"]  # the canonical run (p = 113), every 100 epochs
canon_info = summary(canon_rows)
canon_peak = max(canon_rows, key=lambda r: r["test_loss"])
print(f"canonical: train 100 % at epoch {canon_info['train_100_step']}, test 50 % at {canon_info['test_50_step']:,}, "
      f"test 99 % at {canon_info['test_99_step']:,} ({canon_info['test_99_seconds']:,.0f} s on the history's clock; "
      f"delay x{canon_info['delay_ratio']:.0f}); test loss peak {canon_peak['test_loss']:.1f} at epoch "
      f"{canon_peak['step']:,}")
plot_progress(canon_rows, ["train_loss", "test_loss"], marks=marks(canon_info), title="canonical run (p = 113): loss")

# %% [markdown]
# ## 4. The Fourier basis of Z_p
#
# A function of one residue, `f: Z_p → R`, is a vector of `p` numbers. The Fourier basis is another
# set of `p` orthonormal axes for the same space: the constant, and for each frequency
# `k = 1 .. (p-1)/2` a cosine and a sine that make `k` full turns as `x` goes round `Z_p`. A function
# that is built from a few frequencies has only a few non-zero coefficients in this basis. From here
# to the end of §10, every cell reads the canonical model (`p = P = 113`).

# %% [markdown]
# **Exercise `fourier_basis(p) -> basis`**: return the `[p, p]` float32 matrix whose rows are these
# functions over `x = 0 .. p-1`, each of norm 1: row `0` constant, rows `2k - 1` and `2k` the
# `cos(2πkx/p)` and `sin(2πkx/p)` of frequency `k`. Example: `fourier_basis(5)[0]` is
# `[0.4472] * 5` (`1/sqrt(5)`), and `basis @ basis.T` is the identity.

# %%
check("ch04.fourier_basis", ex.fourier_basis)

# %% [markdown]
# **Predict:** how many basis functions does `Z_113` have, and how many frequencies?
#
# <details><summary>Answer</summary>
#
# 113 functions: the constant and a cosine and a sine for each of the 56 frequencies `1 .. 56`. The
# cell below prints both.
#
# </details>

# %% [markdown]
# **Predict:** what is the dot product of the rows `cos 3` and `sin 3`? Of `cos 3` with itself?
#
# <details><summary>Answer</summary>
#
# 0 and 1: the basis is orthonormal (the cell below checks `basis @ basis.T` against the identity).
#
# </details>

# %%
fourier_basis = mine_or_reference("ch04.fourier_basis", ex.fourier_basis)
basis = fourier_basis(P)
names = lib_basis(P)[1]
print(f"{basis.shape[0]} basis functions, {(basis.shape[0] - 1) // 2} frequencies; cos 3 · sin 3 = "
      f"{basis[5] @ basis[6]:.1e}, cos 3 · cos 3 = {basis[5] @ basis[5]:.4f}")
print("orthonormal:", torch.allclose(basis @ basis.T, torch.eye(P), atol=1e-5))
plot_curves({names[i]: basis[i] for i in (0, 1, 2, 5, 6)}, x_label="x", y_label="value",
            title=f"a few Fourier basis functions of Z_{P}")

# %% [markdown]
# ## 5. The embedding in the Fourier basis
#
# `W_E[:p]` (`[p, d_model]`) gives each residue a vector. Read it along the token axis in the Fourier
# basis: coefficient `i` of direction `j` says how much direction `j` varies like basis function `i`
# as the token goes `0, 1, ..., p-1`.

# %% [markdown]
# **Exercise `fft1d(x, basis) -> coeffs`**: return the coefficients of `x [p, ...]` along its first
# axis, `[p, ...]`: entry `i` is the dot product of basis row `i` with `x` along that axis. Example:
# with `basis = torch.eye(3)[[2, 0, 1]]`, `fft1d(torch.tensor([[1.0], [2.0], [3.0]]), basis)` is
# `[[3.], [1.], [2.]]`.

# %%
check("ch04.fft1d", ex.fft1d)

# %% [markdown]
# **Predict:** the canonical model's `W_E[:p]` is `113 × 128` numbers. If the Fourier story is true,
# how many of the 113 rows of its coefficients will be visibly non-zero?
#
# <details><summary>Answer</summary>
#
# Six: the `cos` and `sin` rows of three key frequencies (the next exercise finds them: 22, 18 and 1).
# <!-- claim: ch04.key_frequencies -->
# Every other row is nearly blank in the picture below.
#
# </details>

# %%
fft1d = mine_or_reference("ch04.fft1d", ex.fft1d)
W_E = canon_model.W_E[:P].detach()  # the canonical model's residue embeddings, [p, d_model]
coeffs = fft1d(W_E, basis)  # [p, d_model]
plot_fourier_coeffs(coeffs, names, title="canonical W_E in the Fourier basis (rows: basis functions)")

# %% [markdown]
# Almost every row is blank: a handful of frequencies carry nearly all of the embedding.
#
# **Exercise `key_frequencies(coeffs, rel_threshold=0.1) -> list[int]`**: from 1-D coefficients
# `coeffs [p, ...]`, compute the power of each frequency `k` (the squares of rows `2k - 1` and `2k`,
# summed over every other axis) and return the frequencies (numbered from 1) whose power is at least
# `rel_threshold` times the largest, strongest first. Example: coefficients with `3.0` at `cos 2`,
# `2.0` at `sin 3` and `0.5` at `sin 1` (`p = 7`) give `[2, 3]`.

# %%
check("ch04.key_frequencies", ex.key_frequencies)

# %%
key_frequencies = mine_or_reference("ch04.key_frequencies", ex.key_frequencies)
KEY = key_frequencies(coeffs)  # the canonical model's key frequencies
power = coeffs[1::2].pow(2).sum(-1) + coeffs[2::2].pow(2).sum(-1)
print(f"key frequencies: {KEY}; they hold {explained_variance_1d(W_E, KEY):.1%} of the embedding's variance")
plot_frequency_spectrum(power, KEY, title="canonical W_E: power per frequency")

# %% [markdown]
# Did we need the Fourier basis to see this? The singular value decomposition finds the directions
# that carry the most variance without being told about any basis: `X = U S Vh`, where the columns of
# `U` are functions of the token, `S` their strengths, and the rows of `Vh` directions in `d_model`.
#
# **Exercise `embedding_svd(W_E, basis, n) -> (S, freqs)`**: take the residues' rows of the whole
# embedding (`W_E [d_vocab, d_model]`, `p = basis.shape[0]`), remove their mean over the tokens, and
# return the singular values `S` (`[min(p, d_model)]`, largest first) and, for each of the first `n`
# columns of `U`, the frequency (numbered from 1) that holds the most of its power: int64 `[n]`. You may
# use your `fft1d`. Example: an embedding that is `cos` and `sin` of frequency 2 over 5 tokens (plus a
# constant, plus an `=` row) gives `S = [1.5811, 1.5811]` and `freqs = [2, 2]` for `n = 2`.

# %%
check("ch04.embedding_svd", ex.embedding_svd)

# %% [markdown]
# **Predict:** how many singular values of the centred canonical embedding stand out from the rest,
# and which frequencies will the corresponding singular vectors have?
#
# <details><summary>Answer</summary>
#
# Six, two per key frequency (a cosine and a sine): 4.97, 4.91, 4.82, 4.81, 4.47, 4.39, then 0.89.
# Their singular vectors have frequencies `[22, 22, 18, 18, 1, 1]`, and together they hold 98.7 % of
# the variance, about what the three key frequencies hold. The SVD, which knows nothing of Fourier,
# finds the same six directions. The cell below prints all of it. <!-- claim: ch04.svd_six_directions -->
#
# </details>

# %%
embedding_svd = mine_or_reference("ch04.embedding_svd", ex.embedding_svd)
n_top = 2 * len(KEY)
S, top_freqs = embedding_svd(canon_model.W_E.detach(), basis, n_top)
variance = S.pow(2) / S.pow(2).sum()
print(f"canonical W_E, singular values: {[round(s, 2) for s in S[:n_top + 2].tolist()]} ...")
print(f"the top {n_top} directions hold {variance[:n_top].sum():.1%} of the variance; their frequencies: "
      f"{top_freqs.tolist()}")
plot_curves({"singular values": S}, x_label="index", y_label="singular value",
            title="canonical W_E[:p], centred: a cliff after 2 per key frequency")

# %% [markdown]
# What does one key frequency look like? Keep only its two coefficients (cos and sin) and go back to
# the token axis.
#
# **Exercise `project_onto_frequency(x, freq, basis) -> part`**: return the part of `x [p, ...]` that
# oscillates at frequency `freq` along the first axis, same shape: keep the coefficients of basis rows
# `2 freq - 1` and `2 freq`, drop the others, transform back. Example: for `x = cos(2π·2t/5) + 1`
# over `t = 0..4`, `project_onto_frequency(x, 2, fourier_basis(5))` is the cosine without the
# constant, `[1.0, -0.809, 0.309, 0.309, -0.809]`.

# %%
check("ch04.project_onto_frequency", ex.project_onto_frequency)

# %% [markdown]
# The result is a rank-2 map of the residues: token `a` goes to `cos(wa) u + sin(wa) v` for two
# vectors `u`, `v` in `d_model`. Plot it in its two principal directions.
#
# **Predict:** will the 113 tokens lie on a circle or on a flat ellipse, and in which order?
#
# <details><summary>Answer</summary>
#
# Nearly a circle for each key frequency (the smaller axis is at least 98 % of the larger, printed
# below), with token `a` at angle `2πka/p` (up to a rotation): consecutive tokens are `k` steps of
# `2π/p` apart. <!-- claim: ch04.circles --> The model represents numbers as rotations, the way a
# clock does.
#
# </details>

# %%
project_onto_frequency = mine_or_reference("ch04.project_onto_frequency", ex.project_onto_frequency)
fig = Figure(figsize=(4 * min(len(KEY), 3), 4), layout="constrained")
for i, k in enumerate(KEY[:3]):
    part = project_onto_frequency(W_E, k, basis)  # [p, d_model], rank 2
    U, S_part, _ = torch.linalg.svd(part - part.mean(0), full_matrices=False)
    print(f"frequency {k}: axis ratio {S_part[1] / S_part[0]:.3f} (1 is a circle); rank-2 check: third singular "
          f"value {S_part[2]:.1e}")
    xy = U[:, :2] * S_part[:2]
    ax = fig.add_subplot(1, min(len(KEY), 3), i + 1)
    ax.scatter(xy[:, 0], xy[:, 1], c=np.arange(P), cmap="hsv", s=14)
    for a in range(0, P, 8):
        ax.annotate(str(a), xy[a].tolist(), fontsize=7)
    ax.set_aspect("equal")
    ax.set_title(f"W_E projected on frequency {k}")
fig

# %% [markdown]
# ## 6. Attention and neurons: functions of (a, b)
#
# Run the canonical model once on all `p²` pairs and every activation at `=` becomes a function of
# `(a, b)`: a `[p, p]` grid (`minigpt.interp.grok_grids`). First the attention: how much of each
# head's attention goes from `=` to `a`. Averaged over the pairs, each head gives about half its
# attention to `a`, half to `b`, and under 1 % to `=` itself (at most 3.2 % on any pair).
# <!-- claim: ch04.attention_split -->
#
# **Predict:** as a function of `(a, b)`, will a head's attention to `a` look random, smooth, or
# striped?
#
# <details><summary>Answer</summary>
#
# Striped, across and down: periodic in `a` and in `b` separately (see the grids below). Its 2-D
# spectrum, two cells down, says at which frequencies.
#
# </details>

# %%
grids = grok_grids(canon_model)  # the canonical model on every pair
plot_grids({f"head {h}: attention to a": grids["attention"][h] for h in range(cfg.n_heads)}, cols=4)

# %% [markdown]
# Stripes, across and down: each head's attention is a periodic function of `a` and of `b`. At which
# frequencies? Transform both token axes.
#
# **Exercise `fft2d(x, basis) -> coeffs`**: return the coefficients of `x [p, p, ...]` (indexed by `a`
# then `b`) along both first axes, same shape: entry `[i, j, ...]` is `Σ_{a,b} basis[i, a] basis[j, b]
# x[a, b, ...]`. Example: with `basis = torch.eye(2)[[1, 0]]` (a swap),
# `fft2d(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), basis)` is `[[4., 3.], [2., 1.]]`.

# %%
check("ch04.fft2d", ex.fft2d)

# %% [markdown]
# The 2-D spectrum has `p × p` entries; we show only the rows and columns of the constant and the key
# frequencies, which hold nearly all of each head's variance (printed below). The first column pairs a
# function of `a` with the constant of `b`: terms of `a` alone; the first row, terms of `b` alone; the
# rest, products.
#
# **Predict:** which part will carry each head's variance: the products such as `cos(wa)cos(wb)`, or
# the terms of `a` alone and `b` alone?
#
# <details><summary>Answer</summary>
#
# The terms of `a` alone and of `b` alone: about 97–98 % of each head's variance, split nearly evenly
# between the two (printed below). <!-- claim: ch04.heads_linear --> The attention moves
# `cos(wa), sin(wa), cos(wb), sin(wb)` to `=`: step 1 of the algorithm. The products come later, in
# the MLP.
#
# </details>

# %%
fft2d = mine_or_reference("ch04.fft2d", ex.fft2d)
rows_kept = [0] + [i for k in KEY for i in (2 * k - 1, 2 * k)]  # const, cos k, sin k for the key frequencies
kept_names = [names[i] for i in rows_kept]
att_coeffs = fft2d(grids["attention"].permute(1, 2, 0), basis)  # [p, p, n_heads]
att_coeffs[0, 0] = 0  # drop the mean
att_sq = att_coeffs.double().pow(2)
keep = torch.tensor(rows_kept)
a_alone, b_alone = att_sq[keep, 0].sum(0) / att_sq.sum((0, 1)), att_sq[0, keep].sum(0) / att_sq.sum((0, 1))
print("share of each head's variance in the key frequencies:",
      [f"{explained_variance_2d(grids['attention'][h], KEY):.1%}" for h in range(cfg.n_heads)])
print("...in terms of a alone:", [f"{x:.1%}" for x in a_alone.tolist()], "and of b alone:",
      [f"{x:.1%}" for x in b_alone.tolist()])
plot_grids({f"head {h}": att_coeffs[rows_kept][:, rows_kept, h].abs() for h in range(cfg.n_heads)},
           ticks=kept_names, cols=4, x_label="b's basis function", y_label="a's basis function",
           title="attention to a in the 2-D Fourier basis (key frequencies only)")

# %% [markdown]
# Now the MLP neurons of the canonical model, one from each frequency group (how to find the groups
# comes in a moment). Their activations over `(a, b)` are periodic checkerboards (frequency `k` makes
# `k` periods across). In the Fourier basis each such neuron is a few coefficients at **one**
# frequency: terms of `a` or `b` alone (first row and column) and products such as `cos(wa)cos(wb)`
# and `sin(wa)sin(wb)`, whose difference is `cos(w(a+b))`. The ReLU is what makes products out of sums
# (Nanda et al., 2023): step 2.

# %%
neurons = grids["neurons"]  # [p, p, d_mlp]
spread = neurons.reshape(P * P, -1).var(0)  # how much each neuron varies over the pairs
groups = neuron_clusters(neuron_frequency_fractions(neurons))  # {frequency: neurons} (you'll write this below)
strongest = [max(members, key=lambda n: spread[n]) for members in groups.values()][:4]  # one per frequency
plot_grids({f"neuron {n} (frequency {k})": neurons[:, :, n] for k, n in zip(groups, strongest)}, cols=4)

# %%
neuron_coeffs = fft2d(neurons, basis)  # [p, p, d_mlp]
shown = neuron_coeffs.clone()
shown[0, 0] = 0
plot_grids({f"neuron {n}": shown[rows_kept][:, rows_kept, n].abs() for n in strongest}, ticks=kept_names, cols=4,
           x_label="b's basis function", y_label="a's basis function",
           title="the same neurons, 2-D Fourier (key frequencies only)")

# %% [markdown]
# **Exercise `neuron_frequency_clusters(coeffs, threshold=0.85) -> clusters`**: `coeffs [p, p, d_mlp]`
# is `fft2d` of the neuron activations. For each neuron, compute the fraction of its variance (its
# squared coefficients without `[0, 0]`, the mean) that each frequency `k` explains (its 3×3 block of
# rows and columns `0, 2k-1, 2k`, again without `[0, 0]`), and return `[d_mlp]` int64: the frequency
# with the largest fraction when that fraction is at least `threshold`, else `0`. Example: a neuron
# whose only non-mean coefficient is `[3, 4]` (`cos 2` of `a` times `sin 2` of `b`) gets `2`; one split
# evenly between frequencies 1 and 2 gets `0`.

# %%
check("ch04.neuron_frequency_clusters", ex.neuron_frequency_clusters)

# %% [markdown]
# **Predict:** how many of the canonical model's 512 neurons will belong to one frequency (85 % of
# their variance or more), and what are the others doing?
#
# <details><summary>Answer</summary>
#
# 351 of 512: 158 at frequency 22, 104 at 18, 89 at 1. The other 161 vary much less over the pairs
# (median variance 0.08, against 2.0 in the clusters). The cell below prints it.
# <!-- claim: ch04.cluster_sizes -->
#
# </details>

# %%
neuron_frequency_clusters = mine_or_reference("ch04.neuron_frequency_clusters", ex.neuron_frequency_clusters)
cluster = neuron_frequency_clusters(neuron_coeffs)  # [d_mlp]: a frequency, or 0
sizes = {int(k): int((cluster == k).sum()) for k in cluster.unique() if k}
print(f"neurons per frequency: {dict(sorted(sizes.items(), key=lambda kv: -kv[1]))}; "
      f"{int((cluster == 0).sum())} in no cluster (they vary less: median variance "
      f"{spread[cluster == 0].median():.3f} vs {spread[cluster > 0].median():.3f} in the clusters)")
print(f"the key frequencies explain {explained_variance_2d(neurons, KEY):.1%} of all neurons' variance")
order = {k: torch.nonzero(cluster == k).flatten().tolist() for k in sizes}
plot_neuron_fractions(neuron_frequency_fractions(neurons), order)

# %% [markdown]
# ## 7. Reading the weights: W_neur and W_logit
#
# So far we read activations. The weights tell the same story without running the model. A neuron at
# `=` reads the residual stream there, and what it knows of `a` and `b` the heads brought: head `h`,
# attending to `a`, adds `W_E[a] @ W_V[h] @ W_O[h]`, which the neuron reads through `W_in`. On the way
# out, neuron `n` adds `W_out[n] @ W_U` to the logits. Two **effective weight** matrices sum this up
# (the names are ARENA's; Nanda et al. (2023) call the second the neuron-logit map `W_L`):
#
# - `W_neur[h] = W_E[:p] @ W_V[h] @ W_O[h] @ W_in`, `[n_heads, p, d_mlp]`: from each input residue to
#   each neuron, through head `h`;
# - `W_logit = W_out @ W_U[:, :p]`, `[d_mlp, p]`: from each neuron to each answer `c`.
#
# **Exercise `effective_weights(W_E, W_V, W_O, W_in, W_out, W_U, p) -> (W_neur, W_logit)`**: return
# both, with the shapes above (`W_V [n_heads, d_model, d_head]`, `W_O [n_heads, d_head, d_model]`,
# `W_in [d_model, d_mlp]`, `W_out [d_mlp, d_model]`, `W_U [d_model, d_vocab]`); the `=` token is
# neither an input residue nor an answer. Example: for the canonical model, `W_neur` is
# `[4, 113, 512]` and `W_logit` `[512, 113]`.

# %%
check("ch04.effective_weights", ex.effective_weights)

# %% [markdown]
# Read both along their token axis in the Fourier basis: `W_neur` along the input residue `a`,
# `W_logit` along the answer `c`.
#
# **Predict:** a neuron is in the cluster of frequency 22 by its activations. At which frequency will
# its input weights `W_neur[:, :, n]` carry most of their power?
#
# <details><summary>Answer</summary>
#
# At 22. For every one of the 351 clustered neurons, the frequency where its `W_neur` has most power
# is its cluster's, and the three key frequencies hold 99.9 % of `W_neur`'s power (printed below).
#
# </details>

# %% [markdown]
# **Predict:** and its output weights `W_logit[n]` over the answers `c`?
#
# <details><summary>Answer</summary>
#
# The same frequency again, for all 351 neurons: each cluster writes about 99 % of its `W_logit`
# power into its own frequency, `cos(wc)` and `sin(wc)`. A neuron of frequency `k` reads `k` and
# writes `k`: step 3 of the algorithm is one frequency at a time. <!-- claim: ch04.weights_follow_clusters -->
#
# </details>

# %%
effective_weights = mine_or_reference("ch04.effective_weights", ex.effective_weights)
attn, mlp = canon_model.blocks[0].attn, canon_model.blocks[0].mlp
with torch.no_grad():
    W_neur, W_logit = effective_weights(canon_model.W_E, attn.W_V, attn.W_O, mlp.W_in, mlp.W_out, canon_model.W_U, P)


def power_per_frequency(c):
    """1-D coefficients [p, ...] -> the power of each frequency, [(p-1)/2, ...] (cos² + sin²)."""
    return c[1::2].pow(2) + c[2::2].pow(2)


neur_power = power_per_frequency(fft1d(W_neur.permute(1, 0, 2), basis)).sum(1)  # [(p-1)/2, d_mlp], heads summed
logit_power = power_per_frequency(fft1d(W_logit.T, basis))  # [(p-1)/2, d_mlp], along the answer c
key_rows = [k - 1 for k in KEY]
clustered = cluster > 0
print(f"canonical model: W_neur {tuple(W_neur.shape)}, W_logit {tuple(W_logit.shape)}; the key frequencies hold "
      f"{neur_power[key_rows].sum() / neur_power.sum():.1%} of W_neur's power and "
      f"{logit_power[key_rows].sum() / logit_power.sum():.1%} of W_logit's")
for what, pw in (("W_neur", neur_power), ("W_logit", logit_power)):
    same = (pw.argmax(0) + 1 == cluster)[clustered]
    own = [f"{k}: {pw[k - 1, cluster == k].sum() / pw[:, cluster == k].sum():.1%}" for k in KEY]
    print(f"{what}: {int(same.sum())} of {int(clustered.sum())} clustered neurons peak at their own frequency; "
          f"each cluster's share at its own frequency: {', '.join(own)}")
plot_frequency_spectrum(neur_power.sum(1), KEY, title="canonical W_neur: power per frequency of the input residue")

# %% [markdown]
# ## 8. Do the clusters matter? Ablate them
#
# The clusters are a description. To test it, take a cluster's neurons away and watch the loss. A
# **mean ablation** replaces each of those neurons' activations by its mean over the pairs: the neuron
# stops carrying information about `(a, b)` but keeps its average contribution. In this model the
# logits are linear in the neuron activations (nothing comes after the MLP but `W_out` and `W_U`), so
# the ablated logits are `logits - (acts - acts.mean(0)) @ W_logit[those neurons]`: no forward pass
# needed.
#
# **Exercise `frequency_ablation(logits, neurons, W_logit, clusters, labels, freqs) -> (losses, accuracies)`**:
# `logits [n, p]` and `neurons [n, d_mlp]` are the model's logits and MLP activations at `=` for `n`
# pairs, `W_logit [d_mlp, p]`, `clusters [d_mlp]` (0 for no cluster), `labels [n]`. For each `k` in
# `freqs`, mean-ablate the neurons with `clusters == k` and return the cross-entropy and the accuracy
# of the ablated logits, two float64 tensors `[len(freqs)]`. Example: one neuron of frequency 1 with
# activations `[1, 0]` on two pairs and `W_logit = [[2, 0]]`, logits `[[2, 0], [0, 2]]` and labels
# `[0, 1]`: ablating frequency 1 raises the loss from 0.127 to 0.313, and both pairs stay right.

# %%
check("ch04.frequency_ablation", ex.frequency_ablation)

# %% [markdown]
# **Predict:** mean-ablate the 158 neurons of frequency 22, so that only frequencies 18 and 1 remain
# in the MLP. Does the canonical model stay at 100 % accuracy?
#
# <details><summary>Answer</summary>
#
# No: its accuracy over all pairs drops to 65 % and its loss rises from `1.5e-7` to about 1.1.
# Ablating frequency 18 does about the same; frequency 1, the smallest cluster, costs less (94 %). All three
# clusters at once leave 14 %. Each frequency is a vote, and the votes only agree everywhere when
# they are all counted. <!-- claim: ch04.cluster_ablation -->
#
# </details>

# %% [markdown]
# **Predict:** now ablate the 161 neurons in no cluster, about as many neurons as frequency 22 has.
#
# <details><summary>Answer</summary>
#
# Almost nothing happens: the loss goes from `1.5e-7` to `6e-6` and the accuracy stays at 100 %. The
# unclustered neurons vary much less, and what they do vary carries no answer. The cell below prints
# every case. <!-- claim: ch04.unclustered_ablation -->
#
# </details>

# %%
frequency_ablation = mine_or_reference("ch04.frequency_ablation", ex.frequency_ablation)
pair_logits = grids["logits"].reshape(P * P, P)  # the canonical model's logits at =, row a * p + b
pair_neurons = grids["neurons"].reshape(P * P, -1)
all_labels = canonical_data.all_labels()
print(f"canonical model, all {P * P:,} pairs: loss {F.cross_entropy(pair_logits.double(), all_labels):.1e}, "
      f"accuracy {(pair_logits.argmax(-1) == all_labels).double().mean():.0%}")
losses, accuracies = frequency_ablation(pair_logits, pair_neurons, W_logit, cluster, all_labels, [*KEY, 0])
for k, loss, acc in zip([*KEY, 0], losses.tolist(), accuracies.tolist()):
    which = f"frequency {k:2d}" if k else "no cluster  "
    print(f"ablate {which} ({int((cluster == k).sum())} neurons): loss {loss:.3g}, accuracy {acc:.1%}")
loss_all, acc_all = frequency_ablation(pair_logits, pair_neurons, W_logit, clustered.long(), all_labels, [1])
print(f"ablate every clustered neuron ({int(clustered.sum())}): loss {loss_all.item():.3g}, "
      f"accuracy {acc_all.item():.1%}")

# %% [markdown]
# ## 9. The logits: a sum of trig terms
#
# The last step reads the answer off `cos(w(a+b-c))`. As a function of the pair, for a fixed answer
# `c`, that is a combination of `cos(w(a+b))` and `sin(w(a+b))`.
#
# **Exercise `xpy_directions(freq, p) -> (cos, sin)`**: return `cos(w(a+b))` and `sin(w(a+b))` with
# `w = 2π freq / p` over the `p²` pairs (row `a * p + b`), each divided by its norm: two float64
# vectors `[p*p]`. Example: `xpy_directions(1, 3)[0].reshape(3, 3)` has `0.4714` at the pairs with
# `a + b = 0 mod 3` and `-0.2357` elsewhere.

# %%
check("ch04.xpy_directions", ex.xpy_directions)

# %% [markdown]
# **Predict:** the three key frequencies give six directions `cos/sin(w(a+b))` out of the 12,769 a
# function of the pairs can have. What share of the canonical model's logits' variance over the pairs
# will they explain?
#
# <details><summary>Answer</summary>
#
# 99.4 % (printed below): the logits are, to that precision, a sum of six trig terms per answer.
# <!-- claim: ch04.logit_share -->
#
# </details>

# %% [markdown]
# **Predict:** for a fixed answer `c`, what does the logit look like as a grid over `(a, b)`?
#
# <details><summary>Answer</summary>
#
# Stripes along the anti-diagonals `a + b = constant`: it depends (almost) only on `a + b`, through
# `Σ_k α_k cos(w_k(a + b - c))`. The left grid below shows it, the middle one its six-direction part,
# the right one what is left.
#
# </details>

# %%
xpy_directions = mine_or_reference("ch04.xpy_directions", ex.xpy_directions)
logits = pair_logits.double()  # [pairs, answers], the canonical model
centred = logits - logits.mean(0)
kept = sum(torch.outer(d, d @ centred) for k in KEY for d in xpy_directions(k, P))
share = kept.pow(2).sum() / centred.pow(2).sum()
print(f"cos/sin(w(a+b)) at the {len(KEY)} key frequencies ({2 * len(KEY)} directions out of {P * P}) explain "
      f"{share:.1%} of the logits' variance over the pairs")
c = 0
plot_grids({f"logit of c = {c}": logits[:, c].reshape(P, P),
            "its key-frequency part": kept[:, c].reshape(P, P),
            "the rest": (centred - kept)[:, c].reshape(P, P)}, cols=3, signed=True)

# %% [markdown]
# ## 10. Progress measures: the circuit forms before the test accuracy moves
#
# If the logits are this sum of trig terms, two losses track the algorithm directly:
#
# - **restricted loss**: keep only the key-frequency terms `cos/sin(w(a+b))` of the logits (plus each
#   answer's mean) and measure the loss on every pair. It is low when the Fourier circuit alone
#   answers correctly, even while memorisation still dominates the full logits.
# - **excluded loss**: *remove* those terms and measure the loss on the **training** pairs. A model
#   that memorised would not care; a model that uses the circuit to fit its training data does.
#
# **Exercise `restricted_loss(logits, labels, freqs) -> loss`**: `logits [p*p, p]` (row `a * p + b`,
# column the answer `c`), `labels [p*p]`. Build the restricted logits, each column's mean over the
# pairs plus its projections on the unit vectors `xpy_directions(k, p)` for each `k` in `freqs`, and
# return their mean cross-entropy as a float64 scalar. Example: all-zero logits for `p = 3` give
# `log 3 = 1.0986`.

# %%
check("ch04.restricted_loss", ex.restricted_loss)

# %% [markdown]
# **Exercise `excluded_loss(logits, labels, freqs, train_idx) -> loss`**: subtract from every column of
# `logits [p*p, p]` its projections on `xpy_directions(k, p)` for each `k` in `freqs` (nothing else),
# then return the mean cross-entropy (float64) on the rows `train_idx` only. Example: all-zero logits
# for `p = 3` give `log 3 = 1.0986` whatever `train_idx` is.

# %%
check("ch04.excluded_loss", ex.excluded_loss)

# %% [markdown]
# **Predict:** for the final canonical model, will the restricted loss be lower or higher than the
# ordinary loss over all pairs? And the excluded loss on the training pairs?
#
# <details><summary>Answer</summary>
#
# The restricted loss is *lower* (`5.3e-8` against `1.5e-7`): what the six directions leave out
# costs the final model a little, on balance. The excluded loss is 7.8, above chance (`log 113 = 4.7`): without
# its key frequencies the final model cannot fit even the pairs it trained on. The cell below prints
# all three. <!-- claim: ch04.final_losses -->
#
# </details>

# %%
restricted_loss = mine_or_reference("ch04.restricted_loss", ex.restricted_loss)
excluded_loss = mine_or_reference("ch04.excluded_loss", ex.excluded_loss)
train_idx = canonical_data.train_idx
full_loss = F.cross_entropy(logits, all_labels)
print(f"final canonical model: loss {full_loss:.2e}, restricted loss {restricted_loss(logits, all_labels, KEY):.2e}, "
      f"excluded loss {excluded_loss(logits, all_labels, KEY, train_idx):.2f} (chance: log p = {math.log(P):.2f})")

# %% [markdown]
# The canonical history has both every 100 epochs, measured against the final model's key frequencies
# (`minigpt train grokking-canonical` computes them from weights kept during training). The cell under
# the plot reads three phases off it: **memorisation**, **circuit formation** and **cleanup**.
#
# **Predict:** at the test loss's peak, the training loss is below `1e-6`. Will the excluded loss
# there be near 0, or near chance?
#
# <details><summary>Answer</summary>
#
# Near 0 (`5e-6`): the memorised solution does not use the key frequencies yet, so removing them costs
# almost nothing. It then climbs by more than six orders of magnitude, to 17 near epoch 21,000, as the
# training fit comes to rely on the circuit (printed below). <!-- claim: ch04.excluded_climbs -->
#
# </details>

# %%
plot_progress(canon_rows, ["train_loss", "test_loss", "restricted_loss", "excluded_loss"], marks=marks(canon_info),
              title="canonical run (p = 113): the progress measures")

# %%
start, last = canon_rows[0], canon_rows[-1]
formed = next(r for r in canon_rows if r["test_acc"] >= 0.10)  # where test accuracy passes 10 %
grokked = at(canon_rows, canon_info["test_99_step"])
low = min((r for r in canon_rows if r["step"] >= canon_peak["step"]), key=lambda r: r["excluded_loss"])
high = max(canon_rows, key=lambda r: r["excluded_loss"])
display(Markdown(
    f"In the canonical history (p = {P}): **memorisation** until epoch {canon_peak['step']:,}, where the test loss "
    f"peaks ({start['test_loss']:.1f} → {canon_peak['test_loss']:.1f}) while the training loss falls to "
    f"{canon_peak['train_loss']:.0e}. **Circuit formation** from there to epoch {formed['step']:,}, where the test "
    f"accuracy first passes 10 %: the restricted loss falls from {canon_peak['restricted_loss']:.1f} to "
    f"{formed['restricted_loss']:.1f} and the excluded loss climbs from {low['excluded_loss']:.0e} "
    f"(epoch {low['step']:,}) to {formed['excluded_loss']:.2f}, while the test accuracy creeps from "
    f"{canon_peak['test_acc']:.0%} to {formed['test_acc']:.0%} and the test loss, on this log scale, eases from "
    f"{canon_peak['test_loss']:.1f} to {formed['test_loss']:.1f}. **Cleanup** after that: by epoch "
    f"{grokked['step']:,} the test loss is down to {grokked['test_loss']:.2f} (test accuracy "
    f"{grokked['test_acc']:.0%}) "
    f"and the sum of squared weights from {formed['sum_sq_weights']:,.0f} to {grokked['sum_sq_weights']:,.0f}; "
    f"at the end (epoch {last['step']:,}) the test loss is {last['test_loss']:.0e}. The excluded loss peaks at "
    f"{high['excluded_loss']:.1f} (epoch {high['step']:,}), "
    f"{math.log10(high['excluded_loss'] / low['excluded_loss']):.1f} orders of magnitude above its low."))

# %% [markdown]
# Let's recompute a few of those points ourselves, with your functions, from the weight snapshots
# of the canonical run that ship with it.
#
# **Predict:** the snapshots are stored in float16; the history was computed from the float32 weights
# during training. Will your values match the history's exactly?
#
# <details><summary>Answer</summary>
#
# Closely, not exactly: they agree to about three significant digits (the cell prints both side by
# side). <!-- claim: ch04.snapshots_match -->
#
# </details>

# %%
snaps = list_snapshots(canon_folder)
by_step = {r["step"]: r for r in canon_rows}
ours = []
for step in snaps[:: max(1, len(snaps) // 6)]:
    snap_logits = grok_grids(load_checkpoint(canon_folder, step=step))["logits"].reshape(P * P, P).double()
    ours.append({"step": step, "restricted_loss": float(restricted_loss(snap_logits, all_labels, KEY)),
                 "excluded_loss": float(excluded_loss(snap_logits, all_labels, KEY, train_idx))})
    row = by_step.get(step, {})
    print(f"epoch {step:6d}: restricted {ours[-1]['restricted_loss']:.4g} "
          f"(history {row.get('restricted_loss', 0):.4g}), "
          f"excluded {ours[-1]['excluded_loss']:.4g} (history {row.get('excluded_loss', 0):.4g})")

# %% [markdown]
# ## 11. What weight decay does
#
# Why does the cleanup happen at all? In Nanda et al.'s reading, both solutions fit the training data
# and the Fourier circuit does it with **smaller weights**; weight decay charges for the size of the
# weights.
#
# **Exercise `sum_sq_weights(params) -> total`**: return the sum of the squares of every entry of every
# tensor in `params` (a state dict, biases included) as a scalar tensor: the quantity weight decay
# pulls down. Example: `sum_sq_weights({"W": torch.tensor([[1.0, 2.0]]), "b": torch.tensor([2.0])})`
# is `tensor(9.)`.

# %%
check("ch04.sum_sq_weights", ex.sum_sq_weights)

# %% [markdown]
# **Predict:** in the canonical run, does the sum of squared weights rise or fall while the model
# memorises? And after?
#
# <details><summary>Answer</summary>
#
# It rises first, from 1,132 at initialisation to 3,604 at epoch 900, as memorisation builds large
# weights; then it falls at every evaluation for the rest of the run, to 840 at the end: less than at
# initialisation (printed below). <!-- claim: ch04.weights_rise_then_fall -->
#
# </details>

# %%
sum_sq_weights = mine_or_reference("ch04.sum_sq_weights", ex.sum_sq_weights)
heaviest = max(canon_rows, key=lambda r: r["sum_sq_weights"])
print(f"canonical run: sum of squared weights {canon_rows[0]['sum_sq_weights']:,.0f} at epoch 0, "
      f"{heaviest['sum_sq_weights']:,.0f} at epoch {heaviest['step']:,} (its largest), "
      f"{float(sum_sq_weights(canon_model.state_dict())):,.0f} for the final model (epoch {canon_rows[-1]['step']:,})")
plot_progress(canon_rows, ["sum_sq_weights"], marks=marks(canon_info), y_label="Σ w²",
              title="canonical run (p = 113): the weights shrink as the circuit takes over")

# %% [markdown]
# The embedding's spectrum over training (one column per 100 epochs, from the canonical history, each
# column normalised to sum 1) shows the share of the key frequencies growing during circuit formation
# and taking over during cleanup (the cell prints their share at a few epochs).

# %%
for step in (canon_peak["step"], formed["step"], canon_info["test_99_step"], canon_rows[-1]["step"]):
    spectrum = at(canon_rows, step)["embed_spectrum"]
    print(f"epoch {step:6,}: key frequencies {sum(spectrum[k - 1] for k in KEY) / sum(spectrum):.1%} of the "
          f"embedding's power")
plot_spectrum_over_training([r["step"] for r in canon_rows], [r["embed_spectrum"] for r in canon_rows])

# %% [markdown]
# And the ablation: the fast run (`p = 59`) again, with **no weight decay** (`minigpt train
# grokking-no-wd`), for as many epochs as the fast run needed to reach 99 % test accuracy.
#
# **Predict:** without weight decay, will the test accuracy reach 99 % in those epochs? What will the
# test loss do?
#
# <details><summary>Answer</summary>
#
# No. The training pairs are memorised as fast as before, but nothing cleans the memorised solution
# up: the test accuracy stays far below 99 % and the test loss keeps rising. The text under the plot
# is written from the run.
#
# </details>

# %%
no_wd_run = train_grokking(replace(NO_WD, epochs=fast_info["test_99_step"] + 1), progress=True)  # fast run, no wd
no_wd_info = summary(no_wd_run.rows)
print(f"fast run (p = {NO_WD.p}) without weight decay: train 100 % at epoch {no_wd_info['train_100_step']}, final "
      f"test accuracy {no_wd_run.rows[-1]['test_acc']:.1%}; sum of squared weights "
      f"{float(sum_sq_weights(no_wd_run.model.state_dict())):.0f} vs "
      f"{float(sum_sq_weights(fast_run.model.state_dict())):.0f} with weight decay (at the end of its run)")
fast_rows = [r for r in fast_run.rows if r["step"] <= no_wd_run.rows[-1]["step"]]
plot_curves({"test loss, weight decay 1": ([r["step"] for r in fast_rows], [r["test_loss"] for r in fast_rows]),
             "test loss, no weight decay": ([r["step"] for r in no_wd_run.rows],
                                            [r["test_loss"] for r in no_wd_run.rows]),
             "train loss, no weight decay": ([r["step"] for r in no_wd_run.rows],
                                             [r["train_loss"] for r in no_wd_run.rows])},
            log_y=True, x_label="epoch", title=f"fast run (p = {FAST.p}) with and without weight decay")

# %%
after = [r for r in no_wd_run.rows if r["step"] >= no_wd_info["train_100_step"]]
rises = sum(b["test_loss"] > a["test_loss"] for a, b in zip(after, after[1:]))
display(Markdown(
    f"Without weight decay (fast run, p = {NO_WD.p}): after the training pairs are memorised (epoch "
    f"{no_wd_info['train_100_step']}), the test loss goes from {after[0]['test_loss']:.1f} to "
    f"{no_wd_run.rows[-1]['test_loss']:.1f}, rising at {rises} of {len(after) - 1} evaluations, and the test accuracy "
    f"ends at {no_wd_run.rows[-1]['test_acc']:.0%} (the run with weight decay: "
    f"{at(fast_run.rows, no_wd_run.rows[-1]['step'])['test_acc']:.0%} at the same epoch). The training loss ends at "
    f"{no_wd_run.rows[-1]['train_loss']:.0e}."))

# %% [markdown]
# ## Summary
#
# - A one-layer transformer trained on `a + b mod p` memorises first and generalises much later.
# - Its weights are sparse in the Fourier basis: a few key frequencies carry the embedding (the SVD
#   finds the same directions unaided), each clustered MLP neuron belongs to one frequency, reads it
#   through `W_neur` and writes it through `W_logit`, and the logits are `Σ_k α_k cos(w_k(a+b-c))` to
#   99.4 % of their variance.
# - Taking away the neurons of frequency 22 or 18 costs the canonical model about a third of its
#   accuracy; taking away as many unclustered neurons costs almost nothing (accuracy stays at 100 %).
# - Progress measures built from that algorithm (restricted and excluded loss) move steadily while the
#   test accuracy hardly moves: the circuit forms gradually, and grokking is the moment the memorised
#   solution is cleaned up, as the weights shrink.
# - Without weight decay, in the same number of epochs, nothing cleans the memorised solution up: the
#   test loss keeps rising and the test accuracy stays far from 100 %.
#
# Further: Nanda et al. (2023) also read the attention and MLP weights as trig identities term by term;
# Zhong et al. (2023, *The Clock and the Pizza*) found a second algorithm these models can learn; Lee
# et al. (2024, *Grokfast*) speed up grokking by amplifying the slow part of the gradient.
