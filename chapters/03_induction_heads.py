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
# # Chapter 3 — Induction heads
#
# Show a language model `... Mr Dursley ... Mr D` and it answers `ursley`. Nothing in the weights
# knows that name; the model *copies* it from earlier in the context. The mechanism behind this,
# found by Elhage et al. (2021) and Olsson et al. (2022), is a pair of attention heads in two
# different layers, an **induction circuit**:
#
# - a **previous-token head** (layer 0) writes into each position "the token before me was `A`";
# - an **induction head** (layer 1), sitting on a token `A`, looks for a position whose previous
#   token was `A` (it reads what the first head wrote, *K-composition*) and copies the token it finds
#   there, `B`, into the prediction: `... A B ... A` → `B`.
#
# This chapter finds that circuit in a small model four different ways, each a tool of
# interpretability you will write yourself:
#
# 1. **behaviour**: on repeated random tokens the loss collapses on the repeat;
# 2. **attention patterns**: head detectors score where each head looks;
# 3. **causal interventions**: direct logit attribution and ablation say which heads matter;
# 4. **weights**: the OV circuit copies, the QK circuit matches shifted keys, and K-composition
#    ties the two layers together (read off the weights, no data needed).
#
# Finally we watch the circuit appear during training: a sudden *phase change*.
#
# Your code goes in `exercises/ch03_induction.py`. Each piece is checked right after it is
# introduced; later cells use your piece once it passes its check (the reference until then).
#
# | exercise | what | difficulty |
# | --- | --- | --- |
# | `repeated_tokens` | `[BOS] x x`: the data | 1 |
# | `repeat_loss` | the loss on the predictable part of the copy | 1 |
# | `duplicate_token_score` | attention to the same token, earlier | 2 |
# | `induction_score` | attention to the token after it | 2 |
# | `logit_attribution` | each component's push on the right logit | 2 |
# | `zero_ablation_hook`, `mean_ablation_hook` | switch a head off | 1, 2 |
# | `ablation_scores` | which heads the repeat needs | 2 |
# | `full_ov_circuit`, `top1_accuracy` | does a head copy? | 1 |
# | `composition_score`, `k_composition_scores` | which heads talk to which | 2 |
# | `factored_singular_values` | the SVD of a big low-rank matrix, cheaply | 3 |

# %%
FULL_TRAINING = False  # True: retrain induction-2l from scratch in the last section (the full recipe, minutes)
LIVE_STEPS = 1000  # the shortened live run otherwise (about half a minute on a laptop CPU)

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

import functools
import math
import tempfile
from pathlib import Path

import torch

from minigpt.checkpoints import list_snapshots, load_checkpoint, load_history
from minigpt.data import random_tokens
from minigpt.grading import check
from minigpt.interp import (analysis_model, apply_ln_final, composition_baseline, composition_scores,
                            full_ov_circuit, head_scores, k_composition_circuit, logit_attribution, per_token_loss,
                            pos_qk_circuit, previous_token_score, repeat_positions, residual_stack)
from minigpt.viz import (head_view, plot_attention_pattern, plot_curves, plot_head_grid, plot_head_scores,
                         plot_matrix)
from minigpt.workspace import load_exercises, mine_or_reference, setup_notebook

setup_notebook()
torch.manual_seed(0)
ex = load_exercises("ch03_induction")

# %% [markdown]
# ## The model
#
# `induction-2l` is a 2-layer, **attention-only** transformer (no MLPs: every computation is an
# attention head, which makes it readable) with 4 heads per layer, `d_model = 64`, a vocabulary of
# 128 meaningless tokens and a short context (printed below). It was trained
# (`minigpt train induction-2l`) on random tokens, a BOS token (id 0) first, in which a chunk
# reappears later at a random distance (`minigpt.data.induction_batch`). Random tokens are
# unpredictable, so the only loss it could win is on the copies. (Why a *random* distance? If the
# copy always sat at the same distance, "look that many positions back" would solve the task, and a
# 2-layer model learns exactly that positional trick instead of an induction head.)

# %%
model = load_checkpoint("induction-2l")
cfg = model.cfg
BOS = cfg.bos_token_id
print(f"{cfg.n_layers} layers x {cfg.n_heads} heads (d_head {cfg.d_head}), d_model {cfg.d_model}, "
      f"d_vocab {cfg.d_vocab}, n_ctx {cfg.n_ctx}, attention only: {cfg.attn_only}, "
      f"LayerNorm: {cfg.normalization_type}")

# %% [markdown]
# ## 1. Behaviour: repeated random tokens
#
# Our probe is the simplest sequence on which copying helps: a BOS token, `seq_len` random tokens,
# then the same tokens again. **Exercise `repeated_tokens`**: build it from the random half.

# %%
check("ch03.repeated_tokens", ex.repeated_tokens)

# %%
make_repeated = mine_or_reference("ch03.repeated_tokens", ex.repeated_tokens)
SEQ_LEN = (cfg.n_ctx - 1) // 2  # BOS + 2 x SEQ_LEN tokens fill the context
half = random_tokens((32, SEQ_LEN), cfg.d_vocab, bos=BOS, generator=torch.Generator().manual_seed(0))
tokens = make_repeated(half, bos=BOS)  # [batch 1 + 2 seq_len]
print(tokens.shape, tokens[0, :8].tolist(), "...", tokens[0, SEQ_LEN + 1 : SEQ_LEN + 8].tolist())

# %% [markdown]
# The loss at each position (`model(tokens, return_type="loss", loss_per_token=True)`): entry `i`
# is the loss of predicting token `i + 1`. On the first chunk nothing can be known: a model that
# spreads its bets evenly pays `log(d_vocab)` nats. On the copy, an induction circuit knows the
# answer.

# %%
losses = per_token_loss(model, tokens)  # [batch pos-1]
predicted = torch.arange(1, tokens.shape[1])
fig = plot_curves({"per-token loss (mean over 32 sequences)": (predicted, losses.mean(0))},
                  x_label="position of the predicted token", y_label="loss (nats)",
                  title="Repeated random tokens: the copy becomes predictable")
ax = fig.axes[0]
ax.axhline(math.log(cfg.d_vocab), color="grey", linestyle="--", label="log(d_vocab): a uniform guess")
ax.axvline(SEQ_LEN + 1, color="red", linestyle=":", label="the copy starts")
ax.legend(loc="center left")
fig

# %% [markdown]
# The first token of the copy is still a surprise (it follows a random chunk); from the second on,
# the loss collapses. **Exercise `repeat_loss`**: the mean loss on that predictable part, the number
# we will watch under every intervention below.

# %%
check("ch03.repeat_loss", ex.repeat_loss)

# %%
my_repeat_loss = mine_or_reference("ch03.repeat_loss", ex.repeat_loss)
clean_loss = my_repeat_loss(losses, SEQ_LEN).item()
print(f"loss on the first chunk: {losses[:, :SEQ_LEN].mean():.3f}   (log d_vocab = {math.log(cfg.d_vocab):.3f})")
print(f"loss on the repeat:      {clean_loss:.3f}")

# %% [markdown]
# ## 2. Attention patterns: who looks where?
#
# Every head of both layers on one sequence. Look for two shapes: a line just below the diagonal
# (each token looks at the one before it) and, in layer 1, a line `seq_len - 1` below the diagonal in
# the copy (each token looks at the token *after* its earlier occurrence).

# %%
_, cache = model.run_with_cache(tokens, names_filter=lambda name: name.endswith("hook_pattern"))
patterns = cache.stack("pattern")  # [n_layers batch n_heads query_pos key_pos]
plot_head_grid(patterns[:, 0], title="Attention patterns on one repeated sequence")

# %% [markdown]
# The same patterns in an interactive viewer: hover a token to see where it looks (switch layer
# and head at the top).

# %%
str_tokens = ["BOS"] + [str(t) for t in tokens[0, 1:].tolist()]
head_view(patterns[:, 0], str_tokens, layer=1)

# %% [markdown]
# ### Head detectors
#
# Eyes do not scale to a thousand heads; a **score** does. Each detector is the mean attention a
# head puts on one key position, over the batch and the queries where that position makes sense:
#
# | score | query `q` attends to | queries |
# | --- | --- | --- |
# | previous-token | `q - 1` | all (chapter 2's `prev_token_score`) |
# | duplicate-token | `q - seq_len`, the same token earlier | the copy |
# | induction | `q - seq_len + 1`, the token after it | the copy |
#
# **Exercises `duplicate_token_score` and `induction_score`** (hint: both are diagonals of the
# pattern, `pattern.diagonal(offset=...)`).

# %%
check("ch03.duplicate_token_score", ex.duplicate_token_score)

# %%
check("ch03.induction_score", ex.induction_score)

# %%
my_duplicate = mine_or_reference("ch03.duplicate_token_score", ex.duplicate_token_score)
my_induction = mine_or_reference("ch03.induction_score", ex.induction_score)
scores = {
    "previous-token": torch.stack([previous_token_score(p) for p in patterns]),
    "duplicate-token": torch.stack([my_duplicate(p, SEQ_LEN) for p in patterns]),
    "induction": torch.stack([my_induction(p, SEQ_LEN) for p in patterns]),
}
plot_head_scores(scores["previous-token"], "previous-token score")

# %%
plot_head_scores(scores["induction"], "induction score")

# %%
plot_head_scores(scores["duplicate-token"], "duplicate-token score")

# %% [markdown]
# Layer 0 has previous-token heads; layer 1 has induction heads, and nothing looks at duplicates.
# A model trained from scratch often grows *several* heads of a kind (here, count them); they back
# each other up. We name the best of each kind, and keep the lists, for the rest of the chapter.
# (`minigpt.interp.head_scores(model, "induction")` does all of the above in one call, on fresh
# random sequences.)

# %%
PREV = (0, int(scores["previous-token"][0].argmax()))
IND = (1, int(scores["induction"][1].argmax()))
PREV_HEADS = [(0, h) for h in range(cfg.n_heads) if scores["previous-token"][0, h] > 0.3]
INDUCTION_HEADS = [(1, h) for h in range(cfg.n_heads) if scores["induction"][1, h] > 0.4]
print(f"best previous-token head: L{PREV[0]}H{PREV[1]} (score {scores['previous-token'][PREV]:.2f}); "
      f"all above 0.3: {[f'L{l}H{h}' for l, h in PREV_HEADS]}")
print(f"best induction head:      L{IND[0]}H{IND[1]} (score {scores['induction'][IND]:.2f}); "
      f"all above 0.4: {[f'L{l}H{h}' for l, h in INDUCTION_HEADS]}")
print("head_scores agrees:", head_scores(model, "induction").argmax().item() == IND[0] * cfg.n_heads + IND[1])

# %% [markdown]
# ## 3. Which heads matter? Attribution and ablation
#
# Patterns say where a head looks, not whether what it brings back is used. Two ways to ask.
#
# ### Direct logit attribution
#
# The final residual stream is a sum: `embed + pos_embed + Σ heads' outputs (+ biases)`. The logits
# are linear in it, except for the final LayerNorm, whose scale (one number per position) we read
# from the forward pass and hold fixed (`minigpt.interp.apply_ln_final`). So the logit of the right
# next token splits exactly into one term per component. **Exercise `logit_attribution`**: given
# the (normalised) components and `W_U`, each component's share of the correct logit.

# %%
check("ch03.logit_attribution", ex.logit_attribution)

# %%
my_attribution = mine_or_reference("ch03.logit_attribution", ex.logit_attribution)
_, full_cache = model.run_with_cache(tokens)
stack, labels = residual_stack(model, full_cache)  # [n_components batch pos d_model]
attribution = my_attribution(apply_ln_final(model, stack, full_cache), model.W_U.detach(), tokens)
library, _ = logit_attribution(model, tokens)  # the same, plus the LayerNorm bias as a last "component"
print("equal to minigpt.interp.logit_attribution:", torch.allclose(attribution, library[:-1], atol=1e-4))
logits = model(tokens)
correct = logits[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]
print("the parts sum to the logit of the right token:", torch.allclose(library.sum(0), correct, atol=1e-3))

# %% [markdown]
# The mean attribution of each head, on the first chunk and on the repeat:

# %%
first = slice(0, SEQ_LEN)
repeat = repeat_positions(tokens.shape[1], SEQ_LEN)
heads = [labels.index(f"L{layer}H{head}") for layer in range(cfg.n_layers) for head in range(cfg.n_heads)]
per_head = {name: attribution[heads][:, :, where].mean(dim=(1, 2)).reshape(cfg.n_layers, cfg.n_heads)
            for name, where in (("first chunk", first), ("repeat", repeat))}
plot_head_scores(per_head["repeat"], "direct logit attribution on the repeat (logits)", label="logit")

# %% [markdown]
# On the repeat, the induction heads push the right logit up (their contributions add up); the
# previous-token head contributes nothing *directly*: its work is indirect (it feeds the induction
# heads' keys), which attribution to the logits cannot see. Ablation can.
#
# ### Ablation
#
# Switch a head off and measure the damage. A head's output is `z @ W_O`, with `z` its pattern-weighted
# values (`blocks.{L}.attn.hook_z: [batch pos n_heads d_head]`); a hook that replaces `z` removes the
# head. **Zero ablation** sets it to 0; **mean ablation** to its mean over the batch (keeping what the
# head writes on *every* input, removing only what it says about *this* one).

# %%
check("ch03.zero_ablation_hook", ex.zero_ablation_hook)

# %%
check("ch03.mean_ablation_hook", ex.mean_ablation_hook)

# %% [markdown]
# **Exercise `ablation_scores`** puts them to work on a real model: for every head, the rise of the
# loss on the repeat when that head alone is zero-ablated (`model.run_with_hooks`).

# %%
check("ch03.ablation_scores", ex.ablation_scores)

# %%
my_ablation_scores = mine_or_reference("ch03.ablation_scores", ex.ablation_scores)
ablation = my_ablation_scores(model, tokens, SEQ_LEN)
plot_head_scores(ablation, "loss increase on the repeat when one head is zero-ablated", label="nats")

# %% [markdown]
# The heads of the circuit matter, the others do not. Every induction head needs a previous-token
# head, so removing the best one hurts most. Removing one induction head hurts less when others
# back it up; removing them all at once removes the skill. Per position (`OTHER` is the head whose
# ablation changes the loss least):

# %%
zero_hook = mine_or_reference("ch03.zero_ablation_hook", ex.zero_ablation_hook, quiet=True)
mean_hook = mine_or_reference("ch03.mean_ablation_hook", ex.mean_ablation_hook, quiet=True)
OTHER = divmod(int(ablation.abs().argmin()), cfg.n_heads)


def ablated_losses(heads, hook=zero_hook):
    """Per-token loss with every (layer, head) in `heads` ablated by `hook`."""
    fwd_hooks = [(f"blocks.{layer}.attn.hook_z", functools.partial(hook, head=head)) for layer, head in heads]
    return model.run_with_hooks(tokens, return_type="loss", loss_per_token=True, fwd_hooks=fwd_hooks)


def name(heads):
    return ", ".join(f"L{layer}H{head}" for layer, head in heads)


with torch.no_grad():
    curves = {"clean": losses,
              f"induction head {name([IND])}": ablated_losses([IND]),
              f"all induction heads ({name(INDUCTION_HEADS)})": ablated_losses(INDUCTION_HEADS),
              f"previous-token head {name([PREV])}": ablated_losses([PREV]),
              f"unrelated head {name([OTHER])}": ablated_losses([OTHER])}
    mean_ablated = my_repeat_loss(ablated_losses([IND], hook=mean_hook), SEQ_LEN).item()
fig = plot_curves({label: (predicted, value.mean(0)) for label, value in curves.items()},
                  x_label="position of the predicted token", y_label="loss (nats)", title="Zero-ablating heads")
fig.axes[0].axvline(SEQ_LEN + 1, color="red", linestyle=":")
fig.axes[0].legend(loc="center left", fontsize=8)
fig

# %%
for label, value in curves.items():
    print(f"{label:45s} loss on the repeat {my_repeat_loss(value, SEQ_LEN):.3f}")
print(f"{'induction head ' + name([IND]) + ', mean-ablated':45s} loss on the repeat {mean_ablated:.3f}")

# %% [markdown]
# ## 4. Reading the circuit off the weights
#
# Everything so far needed data. The weights alone tell the same story, through two circuits per
# head (Elhage et al., 2021):
#
# - the **OV circuit** `W_V @ W_O` says *what* a head writes when it attends to a position;
#   sandwiched between the embedding and the unembedding, the **full OV circuit**
#   `W_E W_V W_O W_U: [d_vocab, d_vocab]` says which logits go up when the head attends to each token;
# - the **QK circuit** `W_Q @ W_K.T` says *where* it attends: the score between a query residual `x_q`
#   and a key residual `x_k` is `x_q W_Q W_K^T x_k^T`.
#
# The model has LayerNorms; their weights fold into the matrices that read them
# (`minigpt.interp.analysis_model`, TransformerLens's `fold_ln`), and their scale, a number per
# position, we ignore: it changes sizes, not directions.
#
# ### The OV circuit copies
#
# **Exercise `full_ov_circuit`**, for every head of a layer at once.

# %%
check("ch03.full_ov_circuit", ex.full_ov_circuit)

# %%
my_full_ov = mine_or_reference("ch03.full_ov_circuit", ex.full_ov_circuit)
folded = analysis_model(model)  # LayerNorm weights folded in
with torch.no_grad():
    ov_layer1 = my_full_ov(folded.W_E, folded.blocks[1].attn.W_V, folded.blocks[1].attn.W_O, folded.W_U)
plot_matrix(ov_layer1[IND[1]], "logit", "token attended to", f"full OV circuit of the induction head L1H{IND[1]}")

# %% [markdown]
# A bright diagonal: attending to token `s` raises the logit of `s`. A head copies when, in each row,
# the diagonal wins. **Exercise `top1_accuracy`**: the fraction of rows where it does.

# %%
check("ch03.top1_accuracy", ex.top1_accuracy)

# %%
my_top1 = mine_or_reference("ch03.top1_accuracy", ex.top1_accuracy)
for head in range(cfg.n_heads):
    print(f"L1H{head}: the diagonal wins in {my_top1(ov_layer1[head]):.0%} of the rows")

# %% [markdown]
# ### Big matrices kept factored
#
# That `[d_vocab, d_vocab]` matrix has rank at most `d_head` (16 here): it is `A @ B` with
# `A = W_E W_V: [d_vocab, d_head]` and `B = W_O W_U: [d_head, d_vocab]`. For GPT-2 it would hold
# 2.5 billion numbers; the factors hold 1.6 million. `minigpt.interp.FactoredMatrix` keeps the
# two factors and computes products, norms and spectra from them. **Exercise
# `factored_singular_values`**: the singular values of `A @ B` from the SVDs of the factors and of
# one small `d_head x d_head` matrix.

# %%
check("ch03.factored_singular_values", ex.factored_singular_values)

# %%
ov = full_ov_circuit(model, *IND)  # a FactoredMatrix
print(ov, "| factors:", tuple(ov.A.shape), tuple(ov.B.shape))
my_svals = mine_or_reference("ch03.factored_singular_values", ex.factored_singular_values, quiet=True)
print("your singular values equal FactoredMatrix.S:", torch.allclose(my_svals(ov.A, ov.B), ov.S, rtol=1e-3))
plot_curves({"SVD of the dense matrix (d_vocab values)": torch.linalg.svdvals(ov.AB).clamp_min(1e-8),
             "FactoredMatrix.S (d_head values)": ov.S},
            log_y=True, x_label="index", y_label="singular value",
            title=f"Spectrum of L1H{IND[1]}'s full OV circuit: rank {cfg.d_head}")

# %% [markdown]
# ### The QK circuits: where each head looks
#
# The previous-token head must find "the position before me" from positions alone. Its positional
# QK circuit `W_pos W_Q W_K^T W_pos^T: [n_ctx, n_ctx]`, scaled (by `1/sqrt(d_head)` and by the
# LayerNorm's typical scale, squared: it divides both queries and keys) and soft-maxed over the
# causal keys, is the pattern it would make from positions only:

# %%
ln_scale = full_cache["blocks.0.ln1.hook_scale"].mean() if cfg.normalization_type else torch.tensor(1.0)
pos_scores = pos_qk_circuit(model, *PREV).AB / (cfg.attn_scale * ln_scale**2)
causal = torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool).tril()
plot_attention_pattern(pos_scores.masked_fill(~causal, -math.inf).softmax(-1),
                       title=f"positional QK circuit of L0H{PREV[1]}, as a pattern")

# %% [markdown]
# A stripe one below the diagonal: "attend to the position before me", from positions alone. Where
# it fades out, the head never had to work: in the training data (`minigpt.data.induction_batch`) a
# repeated chunk's *first* copy, whose tokens the previous-token head tags, always ends well before
# the end of the context. A head learns only the positions it was needed at.
#
# The induction head's keys are different: they must read "the token before me", which is not in
# the key's own embedding; the previous-token head wrote it there. So the key side of its QK circuit
# goes through the previous-token head's OV circuit: `W_E W_Q W_K^T (W_E W_V' W_O')^T`, query tokens by
# *previous* tokens of the keys. A diagonal means: "attend where the previous token equals mine".

# %%
kcomp = k_composition_circuit(model, *IND, *PREV)  # [d_vocab, d_vocab], factored
plot_matrix(kcomp.AB, "previous token of the key", "query token",
            f"QK circuit of L1H{IND[1]} through L0H{PREV[1]}'s OV circuit")

# %%
print(f"top-1 accuracy of that QK circuit: {my_top1(kcomp.AB):.0%}")

# %% [markdown]
# ## 5. Composition: the two layers talk through one channel
#
# How much does a layer-1 head read what a layer-0 head writes? Compare the product of their
# matrices with the matrices themselves:
#
# `score(W_A, W_B) = ||W_A W_B||_F / (||W_A||_F ||W_B||_F)`
#
# with `W_A` the layer-0 head's OV circuit and `W_B` the layer-1 head's `W_QK^T` (K-composition: it
# feeds the keys), `W_QK` (Q-composition) or OV circuit (V-composition). **Exercises
# `composition_score` and `k_composition_scores`**.

# %%
check("ch03.composition_score", ex.composition_score)

# %%
check("ch03.k_composition_scores", ex.k_composition_scores)

# %%
my_k_comp = mine_or_reference("ch03.k_composition_scores", ex.k_composition_scores)
a0, a1 = folded.blocks[0].attn, folded.blocks[1].attn
with torch.no_grad():
    k_scores = my_k_comp(a0.W_V, a0.W_O, a1.W_Q, a1.W_K)
plot_matrix(k_scores, "layer-1 head", "layer-0 head", "K-composition scores", signed=False,
            x_ticks=[f"L1H{h}" for h in range(cfg.n_heads)], y_ticks=[f"L0H{h}" for h in range(cfg.n_heads)])

# %% [markdown]
# Random matrices of these shapes also score above 0: the baseline is the score of random
# rank-`d_head` matrices of size `d_model`.

# %%
baseline, spread = composition_baseline(cfg.d_model, cfg.d_head)
print(f"random baseline: {baseline:.3f} ± {spread:.3f}")
for kind in "QKV":
    table = composition_scores(model, kind)
    print(f"{kind}-composition L0H{PREV[1]} -> L1H{IND[1]}: {table[PREV[1], IND[1]]:.3f} "
          f"({(table[PREV[1], IND[1]] - baseline) / spread:+.1f} standard deviations from chance)")

# %% [markdown]
# K-composition between the two heads of the circuit stands far above chance; Q- and V-composition
# do not (they fall below it: the layer-1 heads' queries and values read the token itself, in
# directions the previous-token head does not write to). The circuit is exactly the one described
# at the top.
#
# ## 6. The phase change
#
# The training run saved the weights every 100 steps and logged the metrics. For a long while the
# loss barely moves; then, within a few hundred steps, the loss on copies drops and both heads form
# together (neither is useful without the other).

# %%
history = load_history("induction-2l")["rows"]


def column(rows, name):
    """(steps, values) of one metric, over the rows that logged it."""
    rows = [row for row in rows if name in row]
    return [row["step"] for row in rows], [row[name] for row in rows]


plot_curves({"training loss": column(history, "train_loss"), "loss on the repeat": column(history, "loss_second_half")},
            y_label="loss (nats)", title="induction-2l: the loss during training")

# %%
snapshots = list_snapshots("induction-2l")
snapshots = snapshots[:: max(1, len(snapshots) // 20)]  # ~20 of them is enough for the curves
induction_over_time, prev_over_time, k_comp_over_time = [], [], []
probe = tokens[:8]
for step in snapshots:
    snap = load_checkpoint("induction-2l", step=step)
    _, snap_cache = snap.run_with_cache(probe, names_filter=lambda name: name.endswith("hook_pattern"))
    induction_over_time.append(my_induction(snap_cache["pattern", 1], SEQ_LEN)[IND[1]].item())
    prev_over_time.append(previous_token_score(snap_cache["pattern", 0])[PREV[1]].item())
    k_comp_over_time.append(composition_scores(snap, "K")[PREV[1], IND[1]].item())
plot_curves({f"induction score of L1H{IND[1]}": (snapshots, induction_over_time),
             f"previous-token score of L0H{PREV[1]}": (snapshots, prev_over_time),
             f"K-composition L0H{PREV[1]} -> L1H{IND[1]}": (snapshots, k_comp_over_time)},
            y_label="score", title="The circuit forms suddenly")

# %% [markdown]
# ## 7. Train it yourself
#
# The recipe that made `induction-2l` is `minigpt train induction-2l`. Below it runs for
# `LIVE_STEPS` steps only, at a constant learning rate (the full run decays it), which is just enough
# to cross the plateau and see the phase change; set `FULL_TRAINING = True` at the top for the whole
# run (then everything above can be re-run on your own model: `load_checkpoint(folder)`).

# %%
from minigpt.train.recipes import get_recipe

folder = Path(tempfile.mkdtemp(prefix="induction-2l-"))
overrides = {} if FULL_TRAINING else {"steps": LIVE_STEPS, "schedule": "constant"}
get_recipe("induction-2l").run(folder, device="auto", seed=0, progress=True, **overrides)
mine = load_history(folder)["rows"]
plot_curves({"shipped run: loss on the repeat": column(history, "loss_second_half"),
             "your run: loss on the repeat": column(mine, "loss_second_half"),
             "your run: induction score": column(mine, "induction_score")},
            y_label="loss (nats) / score", title="Your training run next to the shipped one")

# %% [markdown]
# ## Summary
#
# - On repeated random tokens, a 2-layer attention-only model predicts the copy almost perfectly.
# - Two kinds of heads do it: previous-token heads (layer 0) and induction heads (layer 1); their
#   patterns, attributions and ablations all single them out, and the weights say the same: an
#   induction head's OV circuit copies, its QK circuit matches the previous token, which it reads
#   from a previous-token head (K-composition).
# - The circuit appears abruptly during training, both kinds of heads at once.
#
# Further reading: Elhage et al., *A Mathematical Framework for Transformer Circuits* (2021);
# Olsson et al., *In-context Learning and Induction Heads* (2022); ARENA's chapter 1.2.
