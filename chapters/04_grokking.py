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
# Train a small transformer on `a + b mod p` with a third of the pairs as training data. Within a
# few dozen epochs it gets every training pair right and every other pair wrong: it has
# **memorised**. Keep training, with nothing changed, and thousands of epochs later the test
# accuracy shoots from chance to 100 %. Power et al. (2022) called this **grokking**.
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
# Knowing the algorithm, they could watch it form: two **progress measures** show the circuit
# growing steadily *long before* the test loss moves. Grokking is not a sudden insight; it is a
# slow build-up followed by a **cleanup** of the memorised solution, pushed by weight decay.
#
# This chapter follows that paper. Your code goes in `exercises/ch04_grokking.py`; each piece is
# checked right after it is introduced, and later cells use yours once it passes.
#
# | exercise | what | difficulty |
# | --- | --- | --- |
# | `modular_pairs` | the data: every `a b =` and its answer | 1 |
# | `fourier_basis` | the Fourier basis of `Z_p` | 1 |
# | `fft1d`, `fft2d` | coefficients along one or two token axes | 1, 2 |
# | `key_frequencies` | the frequencies that carry the embedding | 2 |
# | `project_onto_frequency` | one frequency's part of a vector | 2 |
# | `neuron_frequency_clusters` | which frequency each neuron computes | 3 |
# | `xpy_directions` | `cos(w(a+b))`, `sin(w(a+b))` over the pairs | 1 |
# | `restricted_loss`, `excluded_loss` | the progress measures | 2, 2 |
# | `sum_sq_weights` | what weight decay pulls down | 1 |

# %%
FULL_TRAINING = False  # True: retrain the canonical p = 113 run from scratch (minigpt train grokking-canonical, ~30 min)

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
from matplotlib.figure import Figure

from minigpt.checkpoints import list_snapshots, load_checkpoint, load_history
from minigpt.data import modular_data
from minigpt.grading import check
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
# **Exercise `modular_pairs`**: all `p²` inputs and their labels.

# %%
check("ch04.modular_pairs", ex.modular_pairs)

# %%
modular_pairs = mine_or_reference("ch04.modular_pairs", ex.modular_pairs)
tokens, labels = modular_pairs(5)
print(tokens[:7].tolist(), "...")
print("labels as a [p, p] grid (a down, b across):")
print(labels.reshape(5, 5))

# %% [markdown]
# `minigpt.data.modular_data` shuffles the pairs with a seed and keeps a fraction for training.
# Nanda et al.'s setup is `p = 113` with 30 % of the 12,769 pairs: the model sees 3,831 of them.

# %%
settings = load_settings("grokking-canonical")  # the shipped run's settings (its train.json)
canonical_data = modular_data(settings.p, settings.operation, settings.train_frac, settings.data_seed)
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
# `d_model = 128`, separate embedding and unembedding. It is minigpt's own `GPT`, so every hook and
# tool of the earlier chapters works on it. The loss is the cross-entropy of the logits at `=` over
# the `p` residues. The weights start as TransformerLens (and Nanda et al.) start them, every matrix
# `N(0, 0.8/sqrt(d_model))`. GPT-2's own init also shrinks `W_O` and `W_out` by `1/sqrt(2)`; that
# small change is enough to double the time to grok (`GrokSettings(init="gpt2")` if you want to see).

# %%
model = load_checkpoint("grokking-canonical")
cfg = model.cfg
P = cfg.modulus
print(f"{cfg.n_layers} layer, {cfg.n_heads} heads (d_head {cfg.d_head}), d_model {cfg.d_model}, d_mlp {cfg.d_mlp} "
      f"({cfg.act_fn}), LayerNorm: {cfg.normalization_type}, vocabulary {cfg.d_vocab} (p = {P} and '='), "
      f"{sum(p.numel() for p in model.parameters()):,} parameters")

# %% [markdown]
# ## 3. Watch it grok
#
# The canonical run takes 21,500 full-batch epochs to reach 99 % test accuracy: about 20 minutes of one
# CPU core with the fast training step described next, about an hour the straightforward way. The
# **fast recipe** (`minigpt train grokking`) keeps the model and the phenomenon but shrinks the bill:
# `p = 59` with 40 % of the pairs, a learning rate of `5e-3`, and a training step that computes only
# what the loss needs (the MLP and unembedding at the `=` position only, and keys and values once per
# token rather than once per example). It groks in seconds (`benchmarks/grokking.py --levers` measures
# what each change buys: about 200x in all). Let's watch.

# %%
fast = train_grokking(FAST, progress=True)
fast_info = summary(fast.rows)
print(f"train accuracy 100 % at epoch {fast_info['train_100_step']}; test accuracy 50 % at epoch "
      f"{fast_info['test_50_step']} and 99 % at epoch {fast_info['test_99_step']} "
      f"({fast_info['test_99_seconds']:.1f} s); the delay: x{fast_info['delay_ratio']:.1f}")


# %%
def marks(info):
    return {"train 100 %": info["train_100_step"], "test 50 %": info["test_50_step"], "test 99 %": info["test_99_step"]}


fig = plot_progress(fast.rows, ["train_loss", "test_loss"], marks=marks(fast_info),
                    title=f"fast run (p = {FAST.p}): loss, log scale")
fig

# %%
plot_progress(fast.rows, ["train_acc", "test_acc"], log_y=False, y_label="accuracy", marks=marks(fast_info),
              title="fast run: accuracy")

# %% [markdown]
# Three things to see. The training loss falls to nearly zero at once while the test loss *rises*:
# memorisation, and confidently wrong answers elsewhere. Then for a long stretch nothing seems to
# happen. Then the test loss collapses.
#
# The canonical run shows the same shape, stretched over 20,000 epochs (its history ships with
# minigpt; `FULL_TRAINING = True` at the top retrains it).

# %%
if FULL_TRAINING:
    import tempfile
    from pathlib import Path

    from minigpt.train.recipes import get_recipe

    folder = get_recipe("grokking-canonical").run(Path(tempfile.mkdtemp()) / "grokking-canonical", device="auto",
                                                  seed=0, progress=True)
    model = load_checkpoint(folder)
    history = load_history(folder)
else:
    folder = "grokking-canonical"
    history = load_history(folder)
rows = history["rows"]
canon_info = summary(rows)
print(f"canonical: train 100 % at epoch {canon_info['train_100_step']}, test 50 % at {canon_info['test_50_step']}, "
      f"test 99 % at {canon_info['test_99_step']} (delay x{canon_info['delay_ratio']:.0f})")
plot_progress(rows, ["train_loss", "test_loss"], marks=marks(canon_info), title="canonical run (p = 113): loss")

# %% [markdown]
# ## 4. The Fourier basis of Z_p
#
# A function of one residue, `f: Z_p → R`, is a vector of `p` numbers. The Fourier basis is another
# set of `p` orthonormal axes for the same space: the constant, and for each frequency
# `k = 1 .. (p-1)/2` a cosine and a sine that make `k` full turns as `x` goes round `Z_p`. A function
# that is built from a few frequencies has only a few non-zero coefficients in this basis.
# **Exercise `fourier_basis`**: the `[p, p]` matrix whose rows are these functions, each of norm 1.

# %%
check("ch04.fourier_basis", ex.fourier_basis)

# %%
fourier_basis = mine_or_reference("ch04.fourier_basis", ex.fourier_basis)
basis = fourier_basis(P)
names = lib_basis(P)[1]
print("orthonormal:", torch.allclose(basis @ basis.T, torch.eye(P), atol=1e-5))
plot_curves({names[i]: basis[i] for i in (0, 1, 2, 5, 6)}, x_label="x", y_label="value",
            title="a few Fourier basis functions of Z_113")

# %% [markdown]
# ## 5. The embedding in the Fourier basis
#
# `W_E[:p]` (`[p, d_model]`) gives each residue a vector. Read it along the token axis in the Fourier
# basis: coefficient `i` of direction `j` says how much direction `j` varies like basis function `i`
# as the token goes `0, 1, ..., p-1`. **Exercise `fft1d`**: the coefficients along the first axis.

# %%
check("ch04.fft1d", ex.fft1d)

# %%
fft1d = mine_or_reference("ch04.fft1d", ex.fft1d)
W_E = model.W_E[:P].detach()
coeffs = fft1d(W_E, basis)  # [p, d_model]
plot_fourier_coeffs(coeffs, names, title="W_E in the Fourier basis (rows: basis functions)")

# %% [markdown]
# Almost every row is blank. A handful of frequencies carry the whole embedding. **Exercise
# `key_frequencies`**: the power per frequency (cos² + sin², summed over `d_model`), and the
# frequencies within 10 % of the strongest, strongest first.

# %%
check("ch04.key_frequencies", ex.key_frequencies)

# %%
key_frequencies = mine_or_reference("ch04.key_frequencies", ex.key_frequencies)
KEY = key_frequencies(coeffs)
power = coeffs[1::2].pow(2).sum(-1) + coeffs[2::2].pow(2).sum(-1)
print(f"key frequencies: {KEY}; they hold {explained_variance_1d(W_E, KEY):.1%} of the embedding's variance")
plot_frequency_spectrum(power, KEY, title="W_E: power per frequency")

# %% [markdown]
# What does one key frequency look like? Keep only its two coefficients (cos and sin) and go back:
# **Exercise `project_onto_frequency`**. The result is a rank-2 map of the residues: plot it in its
# two principal directions and the `p` tokens sit on a **circle**, token `a` at angle `2πka/p`. The
# model represents numbers as rotations, the way a clock does.

# %%
check("ch04.project_onto_frequency", ex.project_onto_frequency)

# %%
project_onto_frequency = mine_or_reference("ch04.project_onto_frequency", ex.project_onto_frequency)
fig = Figure(figsize=(4 * min(len(KEY), 3), 4), layout="constrained")
for i, k in enumerate(KEY[:3]):
    part = project_onto_frequency(W_E, k, basis)  # [p, d_model], rank 2
    U, S, _ = torch.linalg.svd(part - part.mean(0), full_matrices=False)
    xy = U[:, :2] * S[:2]
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
# Run the model once on all `p²` pairs and every activation at `=` becomes a function of `(a, b)`: a
# `[p, p]` grid (`minigpt.interp.grok_grids`). First the attention: how much of each head's attention
# goes from `=` to `a` (the rest goes to `b`, hardly any to `=`).

# %%
grids = grok_grids(model)
plot_grids({f"head {h}: attention to a": grids["attention"][h] for h in range(cfg.n_heads)}, cols=4)

# %% [markdown]
# Stripes, across and down: each head's attention is a periodic function of `a` and of `b`. At which
# frequencies? Transform both token axes. **Exercise `fft2d`**: coefficient `[i, j]` pairs basis
# function `i` of `a` with basis function `j` of `b`.

# %%
check("ch04.fft2d", ex.fft2d)

# %% [markdown]
# The 2-D spectrum has `p × p` entries; we show only the rows and columns of the constant and the key
# frequencies, which hold nearly all of each head's variance (printed below).

# %%
fft2d = mine_or_reference("ch04.fft2d", ex.fft2d)
rows_kept = [0] + [i for k in KEY for i in (2 * k - 1, 2 * k)]  # const, cos k, sin k for the key frequencies
kept_names = [names[i] for i in rows_kept]
att_coeffs = fft2d(grids["attention"].permute(1, 2, 0), basis)  # [p, p, n_heads]
att_coeffs[0, 0] = 0  # drop the mean
print("share of each head's variance in the key frequencies:",
      [f"{explained_variance_2d(grids['attention'][h], KEY):.1%}" for h in range(cfg.n_heads)])
plot_grids({f"head {h}": att_coeffs[rows_kept][:, rows_kept, h].abs() for h in range(cfg.n_heads)},
           ticks=kept_names, cols=4, x_label="b's basis function", y_label="a's basis function",
           title="attention to a in the 2-D Fourier basis (key frequencies only)")

# %% [markdown]
# Each head is a few coefficients: `cos`/`sin` of a key frequency, of `a` (first column) or of `b`
# (first row). The attention output is therefore built from `cos(wa), sin(wa), cos(wb), sin(wb)`:
# step 1 of the algorithm.
#
# Now the MLP neurons, one from each frequency group (how to find the groups comes in a moment). Their
# activations over `(a, b)` are periodic checkerboards (frequency `k` makes `k` periods across). In the
# Fourier basis each neuron is a few coefficients at **one** frequency: linear terms (first row and column)
# and products such as `cos(wa)cos(wb)` and `sin(wa)sin(wb)`, whose difference is `cos(w(a+b))`. The
# ReLU is what multiplies: step 2.

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
# **Exercise `neuron_frequency_clusters`**: for each neuron, the fraction of its variance that each
# frequency's terms explain (its `{1, cos k, sin k} × {1, cos k, sin k}` block, without the mean), and
# the frequency it belongs to when that fraction reaches 85 %.

# %%
check("ch04.neuron_frequency_clusters", ex.neuron_frequency_clusters)

# %%
neuron_frequency_clusters = mine_or_reference("ch04.neuron_frequency_clusters", ex.neuron_frequency_clusters)
cluster = neuron_frequency_clusters(neuron_coeffs)  # [d_mlp]: a frequency, or 0
sizes = {int(k): int((cluster == k).sum()) for k in cluster.unique() if k}
print(f"neurons per frequency: {dict(sorted(sizes.items(), key=lambda kv: -kv[1]))}; "
      f"{int((cluster == 0).sum())} in no cluster (they barely vary: median variance "
      f"{spread[cluster == 0].median():.3f} vs {spread[cluster > 0].median():.3f} in the clusters)")
print(f"the key frequencies explain {explained_variance_2d(neurons, KEY):.1%} of all neurons' variance")
order = {k: torch.nonzero(cluster == k).flatten().tolist() for k in sizes}
plot_neuron_fractions(neuron_frequency_fractions(neurons), order)

# %% [markdown]
# ## 7. The logits: a sum of trig terms
#
# The last step reads the answer off `cos(w(a+b-c))`. As a function of the pair, for a fixed answer
# `c`, that is a combination of `cos(w(a+b))` and `sin(w(a+b))`. **Exercise `xpy_directions`**: those
# two functions over the `p²` pairs, as unit vectors (row `a * p + b`).

# %%
check("ch04.xpy_directions", ex.xpy_directions)

# %%
xpy_directions = mine_or_reference("ch04.xpy_directions", ex.xpy_directions)
logits = grids["logits"].reshape(P * P, P).double()  # [pairs, answers]
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
# ## 8. Progress measures: the circuit forms before the test loss moves
#
# If the logits are this sum of trig terms, two losses track the algorithm directly:
#
# - **restricted loss**: keep only the key-frequency terms `cos/sin(w(a+b))` of the logits (plus each
#   answer's mean) and measure the loss on every pair. It is low when the Fourier circuit alone
#   answers correctly, even while memorisation still dominates the full logits.
# - **excluded loss**: *remove* those terms and measure the loss on the **training** pairs. A model
#   that memorised would not care; a model that uses the circuit to fit its training data does.
#
# **Exercises `restricted_loss`, `excluded_loss`**.

# %%
check("ch04.restricted_loss", ex.restricted_loss)

# %%
check("ch04.excluded_loss", ex.excluded_loss)

# %%
restricted_loss = mine_or_reference("ch04.restricted_loss", ex.restricted_loss)
excluded_loss = mine_or_reference("ch04.excluded_loss", ex.excluded_loss)
all_labels = canonical_data.all_labels()
train_idx = canonical_data.train_idx
full_loss = torch.nn.functional.cross_entropy(logits, all_labels)
print(f"final model: loss {full_loss:.2e}, restricted loss {restricted_loss(logits, all_labels, KEY):.2e}, "
      f"excluded loss {excluded_loss(logits, all_labels, KEY, train_idx):.2f} (chance: log p = {math.log(P):.2f})")

# %% [markdown]
# The shipped history has both every 100 epochs, measured against the final model's key frequencies
# (`minigpt train grokking-canonical` computes them from weights kept during training). Three phases:
# **memorisation** (the first ~1,500 epochs: the training loss falls, the test loss rises),
# **circuit formation** (until ~19,000: the excluded loss climbs by six orders of magnitude, so the
# training fit comes to depend on the key frequencies, and the restricted loss falls, while the test
# loss hardly moves), and **cleanup** (weight decay removes the memorised part; the test loss
# collapses last).

# %%
plot_progress(rows, ["train_loss", "test_loss", "restricted_loss", "excluded_loss"], marks=marks(canon_info),
              title="canonical run: the progress measures")

# %% [markdown]
# Let's recompute a few of those points ourselves, with your functions, from the weight snapshots
# that ship with the run.

# %%
snaps = list_snapshots(folder)
ours = []
for step in snaps[:: max(1, len(snaps) // 6)]:
    snap_logits = grok_grids(load_checkpoint(folder, step=step))["logits"].reshape(P * P, P).double()
    ours.append({"step": step, "restricted_loss": float(restricted_loss(snap_logits, all_labels, KEY)),
                 "excluded_loss": float(excluded_loss(snap_logits, all_labels, KEY, train_idx))})
    print(f"epoch {step:6d}: restricted {ours[-1]['restricted_loss']:.3g}, excluded {ours[-1]['excluded_loss']:.3g}")

# %% [markdown]
# ## 9. What weight decay does
#
# Why does the cleanup happen at all? Both solutions fit the training data; the Fourier circuit does
# it with **smaller weights**. Weight decay charges for the size of the weights. **Exercise
# `sum_sq_weights`**: the quantity it pulls down.

# %%
check("ch04.sum_sq_weights", ex.sum_sq_weights)

# %%
sum_sq_weights = mine_or_reference("ch04.sum_sq_weights", ex.sum_sq_weights)
print(f"final canonical model: sum of squared weights {float(sum_sq_weights(model.state_dict())):.1f}")
plot_progress(rows, ["sum_sq_weights"], marks=marks(canon_info), y_label="Σ w²",
              title="canonical run: the weights shrink as the circuit takes over")

# %% [markdown]
# The embedding's spectrum over training (one column per 100 epochs, from the history) shows the key
# frequencies lighting up during circuit formation, and everything else fading during cleanup.

# %%
plot_spectrum_over_training([r["step"] for r in rows], [r["embed_spectrum"] for r in rows])

# %% [markdown]
# And the ablation: the fast run again, with **no weight decay** (`minigpt train grokking-no-wd`), for
# as many epochs as the fast run needed to reach 99 % test accuracy.

# %%
no_wd = train_grokking(replace(NO_WD, epochs=fast_info["test_99_step"] + 1), progress=True)
no_wd_info = summary(no_wd.rows)
print(f"without weight decay: train 100 % at epoch {no_wd_info['train_100_step']}, final test accuracy "
      f"{no_wd.rows[-1]['test_acc']:.1%}; sum of squared weights "
      f"{float(sum_sq_weights(no_wd.model.state_dict())):.0f} vs "
      f"{float(sum_sq_weights(fast.model.state_dict())):.0f} with weight decay (at the end of its run)")
fast_rows = [r for r in fast.rows if r["step"] <= no_wd.rows[-1]["step"]]
plot_curves({"test loss, weight decay 1": ([r["step"] for r in fast_rows], [r["test_loss"] for r in fast_rows]),
             "test loss, no weight decay": ([r["step"] for r in no_wd.rows], [r["test_loss"] for r in no_wd.rows]),
             "train loss, no weight decay": ([r["step"] for r in no_wd.rows],
                                             [r["train_loss"] for r in no_wd.rows])},
            log_y=True, x_label="epoch", title="without weight decay, no cleanup: the test loss keeps rising")

# %% [markdown]
# ## Summary
#
# - A one-layer transformer trained on `a + b mod p` memorises first and generalises much later.
# - Its weights are sparse in the Fourier basis: a few key frequencies carry the embedding, each MLP
#   neuron belongs to one frequency, and the logits are `Σ_k α_k cos(w_k(a+b-c))`.
# - Progress measures built from that algorithm (restricted and excluded loss) move steadily long
#   before the test loss does: the circuit forms gradually, and grokking is the moment weight decay
#   finishes cleaning up the memorised solution.
# - Without weight decay nothing cleans the memorised solution up: the training loss keeps falling, the
#   test loss keeps rising, and the test accuracy stays far from 100 %.
#
# Further: Nanda et al. (2023) also read the attention and MLP weights as trig identities (the
# neuron-logit map `W_L = W_out W_U` in the Fourier basis); Zhong et al. (2023, *The Clock and the
# Pizza*) found a second algorithm these models can learn; Lee et al. (2024, *Grokfast*) speed up
# grokking by amplifying the slow part of the gradient.
