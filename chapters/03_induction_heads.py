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
# 4. **weights**: the OV circuit copies (top-1 accuracy, eigenvalues), the QK circuit matches
#    shifted keys, and K-composition ties the two layers together (read off the weights, no data
#    needed); then, back on data, the induction head's queries and keys split by the component
#    each reads.
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
# | `factored_singular_values` | the SVD of a big low-rank matrix, cheaply | 3 |
# | `copying_score` | does it copy? the eigenvalues say | 2 |
# | `composition_score`, `k_composition_scores` | which heads talk to which | 2 |
# | `decompose_q`, `decompose_k` | what a head's queries and keys read | 2, 1 |

# %%
FULL_TRAINING = False  # True: retrain induction-2l from scratch in the last section (the full recipe, 3,000 steps)
LIVE_STEPS = 1000  # the shortened live run otherwise (the cell prints how long it took)

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
import time
from pathlib import Path

import torch
from IPython.display import Markdown, display

from minigpt import GPTConfig
from minigpt.checkpoints import list_snapshots, load_checkpoint, load_history
from minigpt.data import random_tokens
from minigpt.grading import check
from minigpt.interp import (analysis_model, apply_ln_final, composition_baseline, composition_scores,
                            decompose_attn_scores, full_ov_circuit, head_scores, k_composition_circuit,
                            logit_attribution, per_token_loss, pos_qk_circuit, previous_token_score,
                            repeat_positions, residual_stack)
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
# 128 meaningless tokens and a short context (the cell below prints its configuration). It was
# trained (`minigpt train induction-2l`) on random tokens, a BOS token (id 0) first, in which a chunk
# reappears later at a random distance (`minigpt.data.induction_batch`). Random tokens are
# unpredictable, so the only loss it could win is on the copies. (Why a *random* distance? If the
# copy always sat at the same distance, "look that many positions back" would solve the task from
# positions alone, and nothing would push the model towards an induction head.)

# %% [markdown]
# **Predict:** A model that knows nothing and spreads its bets evenly over the 128 tokens: how many
# nats of loss does it pay per token?
#
# <details><summary>Answer</summary>
#
# `log(128) ≈ 4.85` nats: the probability of the right token is 1/128 and the loss is its negative
# log. The cell below prints it next to the configuration. This is the bar every later loss is
# measured against.
# </details>

# %% [markdown]
# **Predict:** With no MLPs, attention is the only way information moves between positions. Where
# can a layer-0 head get its information from? And a layer-1 head?
#
# <details><summary>Answer</summary>
#
# A layer-0 head reads only the token and positional embeddings. A layer-1 head reads those *and*
# whatever the layer-0 heads wrote into the residual stream: with 2 layers, layer 1 is the only place
# two heads can work together (the cell below prints `n_layers` and `attn_only`).
# </details>

# %%
model = load_checkpoint("induction-2l")
cfg = model.cfg
BOS = cfg.bos_token_id
print(f"{cfg.n_layers} layers x {cfg.n_heads} heads (d_head {cfg.d_head}), d_model {cfg.d_model}, "
      f"d_vocab {cfg.d_vocab}, n_ctx {cfg.n_ctx}, attention only: {cfg.attn_only}, "
      f"LayerNorm: {cfg.normalization_type}")
print(f"a uniform guess pays log(d_vocab) = {math.log(cfg.d_vocab):.2f} nats per token")

# %% [markdown]
# ## 1. Behaviour: repeated random tokens
#
# Our probe is the simplest sequence on which copying helps: a BOS token, `seq_len` random tokens,
# then the same tokens again.
#
# **Exercise `repeated_tokens`**: `repeated_tokens(half, bos=None) -> Tensor`. `half: [batch, seq_len]`
# holds random token ids; return `[batch, 1 + 2 * seq_len]`: a column of `bos`, then each row of
# `half`, then the same row again (`[batch, 2 * seq_len]`, no BOS column, when `bos` is `None`); keep
# the dtype. Example: `repeated_tokens(torch.tensor([[5, 6, 7]]), bos=0)` returns
# `tensor([[0, 5, 6, 7, 5, 6, 7]])`.

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
#
# **Predict:** Where along the copy does the loss drop: already at its first token, or only from
# its second?
#
# <details><summary>Answer</summary>
#
# From the second. The copy's first token follows the random first chunk: nothing earlier says what
# it will be, so its loss stays near `log(d_vocab)`. Its second token follows a token seen before,
# and the token that came after that one earlier is the answer. The plot shows it, and the cell after
# the exercise below prints the loss at the copy's first token.
# </details>

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
# **Exercise `repeat_loss`**: the mean loss on the predictable part of the copy, the number we will
# watch under every intervention below. `repeat_loss(losses, seq_len) -> Tensor`: `losses: [batch,
# pos - 1]` is the per-token loss of repeated sequences (entry `i` predicts token `i + 1`); the copy
# is the last `seq_len` tokens, and its tokens 2 .. `seq_len` are predictable. Return the mean loss
# of predicting those `seq_len - 1` tokens, over the batch too, as a 0-d tensor. Example:
# `repeat_loss(torch.tensor([[9.0, 9.0, 9.0, 9.0, 1.0, 3.0]]), seq_len=3)` returns `tensor(2.)`.

# %%
check("ch03.repeat_loss", ex.repeat_loss)

# %% [markdown]
# **Predict:** Will the loss on the predictable part of the copy be near 0, near 1 nat, or still
# near `log(d_vocab)`?
#
# <details><summary>Answer</summary>
#
# About half a nat (the cell below prints it): far below the 4.85 nats of a uniform guess, not zero.
# The copy's first token stays near 4.85, as the plot showed.
# </details>

# %%
my_repeat_loss = mine_or_reference("ch03.repeat_loss", ex.repeat_loss)
clean_loss = my_repeat_loss(losses, SEQ_LEN).item()
print(f"loss on the first chunk:         {losses[:, :SEQ_LEN].mean():.3f}   "
      f"(log d_vocab = {math.log(cfg.d_vocab):.3f})")
print(f"loss on the copy's first token:  {losses[:, SEQ_LEN].mean():.3f}")
print(f"loss on the repeat (the rest):   {clean_loss:.3f}")

# %% [markdown]
# ## 2. Attention patterns: who looks where?
#
# Every head of both layers on one sequence. Look for two shapes: a line just below the diagonal
# (each token looks at the one before it) and, in layer 1, a line `seq_len - 1` below the diagonal in
# the copy (each token looks at the token *after* its earlier occurrence).
#
# **Predict:** In which layer will you find previous-token heads, and in which induction heads?
# Could an induction head sit in layer 0?
#
# <details><summary>Answer</summary>
#
# Previous-token heads in layer 0, induction heads in layer 1 (the detectors below score them). An
# induction head in layer 0 is impossible: to find "the position whose previous token is mine" its
# keys must already hold the previous token, which only an earlier head can have written there.
# </details>

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
# **Exercise `duplicate_token_score`**: `duplicate_token_score(pattern, seq_len) -> Tensor`.
# `pattern: [batch, n_heads, pos, pos]` is one layer's attention on repeated sequences; return
# `[n_heads]`: the mean, over the batch and the `seq_len` queries `q` of the copy (the last `seq_len`
# positions), of `pattern[..., q, q - seq_len]`. Hint: it is a diagonal of the pattern,
# `pattern.diagonal(offset=-seq_len, dim1=-2, dim2=-1)`. Example: on `x y x y` (`seq_len = 2`), a
# head whose queries 2 and 3 put all their attention on keys 0 and 1 scores `tensor([1.])`.

# %%
check("ch03.duplicate_token_score", ex.duplicate_token_score)

# %% [markdown]
# **Exercise `induction_score`**: `induction_score(pattern, seq_len) -> Tensor`, the same with one key
# later: return `[n_heads]`, the mean over the batch and the copy's queries `q` of
# `pattern[..., q, q - seq_len + 1]`. A perfect induction head scores 1. Example: on `x y x y`, a
# head whose query 2 (the second `x`) looks at key 1 (`y`) and query 3 at key 2 scores `tensor([1.])`.

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

# %% [markdown]
# **Predict:** A duplicate-token head ("this token appeared before, here") is a classic part of
# other circuits. Will any head of this model score high on duplicates?
#
# <details><summary>Answer</summary>
#
# No: every head's duplicate-token score is below 0.05 (the cell below prints the largest). The
# induction heads find earlier occurrences without one, through the previous-token head.
# </details>

# %%
plot_head_scores(scores["duplicate-token"], "duplicate-token score")

# %%
print(f"largest duplicate-token score of any head: {scores['duplicate-token'].max():.3f}")

# %% [markdown]
# Layer 0 has one clear previous-token head, layer 1 has four induction heads, and nothing looks at
# duplicates. <!-- claim: ch03.heads_by_kind --> The four induction heads back each other up
# (section 3 measures how). We name the best head of each kind, and keep the lists, for the rest of
# the chapter. (`minigpt.interp.head_scores(model, "induction")` does all of the above in one call,
# on fresh random sequences.)

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
# next token splits exactly into one term per component.
#
# **Exercise `logit_attribution`**: `logit_attribution(components, W_U, tokens) -> Tensor`.
# `components: [n_components, batch, pos, d_model]` is what each component wrote (after the final
# LayerNorm); `W_U: [d_model, d_vocab]`; `tokens: [batch, pos]`. Return `[n_components, batch,
# pos - 1]`: entry `[c, b, p]` is `components[c, b, p] @ W_U[:, tokens[b, p + 1]]`, component `c`'s
# push on the logit of the next token. Example: a component equal to `W_U[:, 7]` at position 0,
# with `tokens[0, 1] == 7`, scores `||W_U[:, 7]||²` there.

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
# **Predict:** On the repeat, which heads push the right logit up *directly*? Will the
# previous-token head be among them?
#
# <details><summary>Answer</summary>
#
# The induction heads, by about 0.8 to 1.9 logits each; the previous-token head contributes almost
# nothing directly (the cell below prints every head's mean). Its work is indirect: it feeds the
# induction heads' keys, which attribution to the logits cannot see.
# </details>

# %%
first = slice(0, SEQ_LEN)
repeat = repeat_positions(tokens.shape[1], SEQ_LEN)
heads = [labels.index(f"L{layer}H{head}") for layer in range(cfg.n_layers) for head in range(cfg.n_heads)]
per_head = {name: attribution[heads][:, :, where].mean(dim=(1, 2)).reshape(cfg.n_layers, cfg.n_heads)
            for name, where in (("first chunk", first), ("repeat", repeat))}
for layer in range(cfg.n_layers):
    print(f"layer {layer}, mean attribution on the repeat: "
          + ", ".join(f"L{layer}H{h} {v:+.3f}" for h, v in enumerate(per_head["repeat"][layer].tolist())))
plot_head_scores(per_head["repeat"], "direct logit attribution on the repeat (logits)", label="logit")

# %% [markdown]
# The induction heads' contributions add up; the previous-token head's direct effect is about
# zero. Ablation can see indirect effects too.
#
# ### Ablation
#
# Switch a head off and measure the damage. A head's output is `z @ W_O`, with `z` its pattern-weighted
# values (`blocks.{L}.attn.hook_z: [batch pos n_heads d_head]`); a hook that replaces `z` removes the
# head. **Zero ablation** sets it to 0; **mean ablation** to its mean over the batch (keeping what the
# head writes on *every* input, removing only what it says about *this* one).
#
# **Exercise `zero_ablation_hook`**: `zero_ablation_hook(z, head, hook=None) -> Tensor`. `z: [batch,
# pos, n_heads, d_head]`; return a new tensor of the same shape with head `head`'s vectors set to zero
# at every position (leave `z` itself alone). Example: `functools.partial(zero_ablation_hook, head=2)`
# on `blocks.0.attn.hook_z` switches L0H2 off.

# %%
check("ch03.zero_ablation_hook", ex.zero_ablation_hook)

# %% [markdown]
# **Exercise `mean_ablation_hook`**: `mean_ablation_hook(z, head, hook=None) -> Tensor`, the same
# shape: return a new tensor in which `z[b, p, head]` becomes the mean of `z[:, p, head]` over the
# batch (per position and dimension), other heads unchanged. Example: with a batch of two whose
# head-0 vectors at a position are `[1., 2.]` and `[3., 4.]`, both become `[2., 3.]`.

# %%
check("ch03.mean_ablation_hook", ex.mean_ablation_hook)

# %% [markdown]
# **Exercise `ablation_scores`** puts them to work on a real model. `ablation_scores(model, tokens,
# seq_len) -> Tensor`: for every `(layer, head)`, run the model with `zero_ablation_hook` on
# `blocks.{layer}.attn.hook_z` (`model.run_with_hooks(tokens, return_type="loss",
# loss_per_token=True, fwd_hooks=[(name, fn)])`), take `repeat_loss` of it, subtract the clean
# model's; return those rises, `[n_layers, n_heads]`. Example: a head the repeat does not use scores
# about 0; one it needs, well above 0.

# %%
check("ch03.ablation_scores", ex.ablation_scores)

# %% [markdown]
# **Predict:** Which single head, switched off, will hurt the loss on the repeat most: the best
# induction head, or the previous-token head?
#
# <details><summary>Answer</summary>
#
# The previous-token head, by far: about 4 nats, against 0.4 at most for any one induction head (the
# plot shows every head). Every induction head reads it, so without it none of
# them works; each induction head, on the other hand, is backed up by the others.
# </details>

# %%
my_ablation_scores = mine_or_reference("ch03.ablation_scores", ex.ablation_scores)
ablation = my_ablation_scores(model, tokens, SEQ_LEN)
plot_head_scores(ablation, "loss increase on the repeat when one head is zero-ablated", label="nats")

# %% [markdown]
# The previous-token head matters most: every induction head reads it. Each of the three strongest
# induction heads costs about 0.3 nats; every other head, the weakest induction head included,
# changes the loss by less than 0.05 nats alone. <!-- claim: ch03.ablation_ranking -->
#
# **Predict:** And all four induction heads switched off at once: back to a uniform guess's
# `log(d_vocab)`, or even worse?
#
# <details><summary>Answer</summary>
#
# Worse than a uniform guess: the second cell below prints a loss on the repeat above
# `log(d_vocab)` = 4.85. Removing one induction head costs little because the others back it up;
# removing them all removes the skill, and what the rest of the model predicts on the copy is worse
# than no guess at all.
# </details>
#
# Per position (`OTHER` is the head whose ablation changes the loss least):

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
print(f"{'(a uniform guess: log d_vocab)':45s}                    {math.log(cfg.d_vocab):.3f}")

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
# **Exercise `full_ov_circuit`**, for every head of a layer at once: `full_ov_circuit(W_E, W_V, W_O,
# W_U) -> Tensor` with `W_E: [d_vocab, d_model]`, `W_V: [n_heads, d_model, d_head]`, `W_O: [n_heads,
# d_head, d_model]`, `W_U: [d_model, d_vocab]`; return `[n_heads, d_vocab, d_vocab]`, head `h`'s
# matrix `W_E @ W_V[h] @ W_O[h] @ W_U` (rows: the attended token; columns: the logits). Example: with
# every matrix an identity of the right size, each head's circuit is the identity: it copies.

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
# the diagonal wins.
#
# **Exercise `top1_accuracy`**: `top1_accuracy(matrix) -> Tensor`. `matrix: [n, n]`; return the
# fraction of rows whose largest entry is on the diagonal, as a 0-d float tensor. Example:
# `top1_accuracy(torch.tensor([[3.0, 1.0], [5.0, 2.0]]))` returns `tensor(0.5000)`.

# %%
check("ch03.top1_accuracy", ex.top1_accuracy)

# %% [markdown]
# **Predict:** Only the best induction head, or every layer-1 head: whose OV circuit copies (the
# diagonal winning in most rows)?
#
# <details><summary>Answer</summary>
#
# Every layer-1 head: the diagonal wins in more than 90 % of the rows of each (printed below). All
# four are induction heads, and an induction head's job ends in a copy.
# </details>

# %%
my_top1 = mine_or_reference("ch03.top1_accuracy", ex.top1_accuracy)
for head in range(cfg.n_heads):
    print(f"L1H{head}: the diagonal wins in {my_top1(ov_layer1[head]):.0%} of the rows")

# %% [markdown]
# ### Big matrices kept factored
#
# That `[d_vocab, d_vocab]` matrix has rank at most `d_head` (16 here): it is `A @ B` with
# `A = W_E W_V: [d_vocab, d_head]` and `B = W_O W_U: [d_head, d_vocab]`. For GPT-2 (`d_vocab`
# 50,257, `d_head` 64) it would hold 50,257² ≈ 2.5 billion numbers; the factors hold
# 2 × 50,257 × 64 ≈ 6.4 million (the cell below computes both from GPT-2's configuration).
# `minigpt.interp.FactoredMatrix` keeps the two factors and computes products, norms and spectra from
# them.
#
# **Exercise `factored_singular_values`**: `factored_singular_values(A, B) -> Tensor`, the singular
# values of `A @ B` without forming it. `A: [m, k]`, `B: [k, n]`, `k` small; with the thin SVDs
# `A = U_A S_A Vh_A` and `B = U_B S_B Vh_B`, `A @ B` has the singular values of the `k x k` middle
# matrix `diag(S_A) Vh_A U_B diag(S_B)`: return those `k` values, `[k]`, largest first. Example: for
# `A = torch.eye(5, 2)` and `B = 3 * torch.eye(2, 5)` it returns `tensor([3., 3.])`.

# %%
check("ch03.factored_singular_values", ex.factored_singular_values)

# %%
gpt2 = GPTConfig.from_name("gpt2")
print(f"GPT-2's full OV circuit: {gpt2.d_vocab ** 2 / 1e9:.2f} billion numbers; "
      f"its factors: {2 * gpt2.d_vocab * gpt2.d_head / 1e6:.2f} million")
ov = full_ov_circuit(model, *IND)  # a FactoredMatrix
print(ov, "| factors:", tuple(ov.A.shape), tuple(ov.B.shape))
my_svals = mine_or_reference("ch03.factored_singular_values", ex.factored_singular_values, quiet=True)
print("your singular values equal FactoredMatrix.S:", torch.allclose(my_svals(ov.A, ov.B), ov.S, rtol=1e-3))
plot_curves({"SVD of the dense matrix (d_vocab values)": torch.linalg.svdvals(ov.AB).clamp_min(1e-8),
             "FactoredMatrix.S (d_head values)": ov.S},
            log_y=True, x_label="index", y_label="singular value",
            title=f"Spectrum of L1H{IND[1]}'s full OV circuit: rank {cfg.d_head}")

# %% [markdown]
# ### Copying, by eigenvalues
#
# Top-1 accuracy asks one question per row. Elhage et al. (2021) summarise the whole circuit by its
# **eigenvalues** `λ`: an eigenvector `v` of the full OV circuit `M` (`v M = λ v`) is a mix of tokens
# that, attended to, raises the logits of the same mix by `λ` times its weights when `λ > 0`, and
# lowers them when `λ < 0`. Eigenvalues of a real matrix may be complex; `|λ|` is the modulus. The
# **copying score** `Σλ / Σ|λ|` (its real part) is 1 when every eigenvalue is positive and -1 when
# every one is negative. The `[d_vocab, d_vocab]` circuit `A @ B` has at most `d_head` non-zero
# eigenvalues, and they are those of the small `B @ A: [d_head, d_head]` (if `A B v = λ v` with
# `λ ≠ 0`, then `B A (B v) = λ (B v)`).
#
# **Exercise `copying_score`**: `copying_score(A, B) -> Tensor`. `A: [..., n, k]`, `B: [..., k, n]`;
# return the real part of `Σλ / Σ|λ|` over the eigenvalues `λ` of `B @ A`
# (`torch.linalg.eigvals`), shape `[...]`. Example: `copying_score(torch.eye(3, 2), torch.eye(2, 3))`
# returns `tensor(1.)`.

# %%
check("ch03.copying_score", ex.copying_score)

# %% [markdown]
# **Predict:** The previous-token head L0H3 moves a token's identity one position on. Will its full
# OV circuit score near +1, like the induction heads'?
#
# <details><summary>Answer</summary>
#
# No: its score is negative, about -0.9 (printed below, with every other head's). Read directly by
# the unembedding, what it writes would mostly *lower* the logits of the token it attends to. That is not
# what its output is for: section 3 found no direct effect on the logits; the induction heads' keys
# read it. Every layer-1 head scores above 0.95.
# </details>

# %%
my_copying = mine_or_reference("ch03.copying_score", ex.copying_score)
for layer in range(cfg.n_layers):
    circuits = full_ov_circuit(model, layer)  # every head of the layer, factored: A [n_heads d_vocab d_head]
    copying = my_copying(circuits.A, circuits.B)  # [n_heads]
    print(f"layer {layer} copying scores: "
          + ", ".join(f"L{layer}H{h} {value:+.2f}" for h, value in enumerate(copying.tolist())))

# %% [markdown]
# Two layer-0 heads, L0H0 and L0H1, copy too: a positive score says what a head *would* do to the
# logits if it attended somewhere useful, not that anything uses it (their ablations above changed
# the loss on the repeat by less than 0.05 nats).
#
# ### The QK circuits: where each head looks
#
# The previous-token head must find "the position before me" from positions alone. Its positional
# QK circuit `W_pos W_Q W_K^T W_pos^T: [n_ctx, n_ctx]` gives the score each query position would put
# on each key position if the residual held only the positional embeddings. To read it as a pattern,
# scale it as the forward pass would: divide by `attn_scale = sqrt(d_head)`, and by `s²`, where `s`
# is the LayerNorm's scale `sqrt(var(x) + eps)` (the residual `x`'s standard deviation over `d_model`,
# which LayerNorm divides both the query's and the key's residual by; we take its mean over positions
# and sequences, printed below). Then soft-max over the causal keys.
#
# **Predict:** The previous-token head is needed wherever a repeated chunk's *first* copy can sit:
# there, it tags each token with its predecessor, for the induction heads to find. In the training
# data (`n_ctx` 32, 8-token chunks, the copy after the first), can the first copy reach the end of
# the context? Will the stripe cover every position?
#
# <details><summary>Answer</summary>
#
# No, and no. The first copy must leave room for its 8-token copy after it, so its last token sits
# at position 23 at the latest (BOS is position 0), and seldom that late; the stripe one below the
# diagonal holds up to about position 20 and fades after 21 (the next cell draws it).
# <!-- claim: ch03.positional_stripe -->
# </details>

# %%
ln_scale = full_cache["blocks.0.ln1.hook_scale"].mean() if cfg.normalization_type else torch.tensor(1.0)
print(f"s, the mean LayerNorm scale of layer 0: {ln_scale:.3f}")
pos_scores = pos_qk_circuit(model, *PREV).AB / (cfg.attn_scale * ln_scale**2)
causal = torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool).tril()
plot_attention_pattern(pos_scores.masked_fill(~causal, -math.inf).softmax(-1),
                       title=f"positional QK circuit of L0H{PREV[1]}, as a pattern")

# %% [markdown]
# A stripe one below the diagonal: "attend to the position before me", from positions alone, and
# only over the positions where the training data needed it.
#
# The induction head's keys are different: they must read "the token before me", which is not in
# the key's own embedding; the previous-token head wrote it there. So the key side of its QK circuit
# goes through the previous-token head's OV circuit: `W_E W_Q W_K^T (W_E W_V' W_O')^T`, where the
# primed `W_V'` and `W_O'` are the previous-token head's value and output matrices and the unprimed
# `W_Q`, `W_K` the induction head's. Its rows are query tokens, its columns the *previous* tokens of
# the keys. A diagonal means: "attend where the previous token equals mine".

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
# with `||M||_F` the Frobenius norm (the square root of the sum of squares of the entries), `W_A`
# the layer-0 head's OV circuit and `W_B` the layer-1 head's `W_QK^T` (K-composition: it feeds the
# keys), `W_QK` (Q-composition) or OV circuit (V-composition); `W_QK = W_Q W_K^T`.
#
# **Exercise `composition_score`**: `composition_score(W_A, W_B) -> Tensor`. `W_A, W_B: [..., d, d]`
# (leading axes are a batch); return `[...]`, the score above with every norm over the last two axes.
# Example: `composition_score(torch.eye(4), torch.eye(4))` returns `tensor(0.5000)`.

# %%
check("ch03.composition_score", ex.composition_score)

# %% [markdown]
# **Exercise `k_composition_scores`**: `k_composition_scores(W_V0, W_O0, W_Q1, W_K1) -> Tensor`, with
# `W_V0, W_Q1, W_K1: [n_heads, d_model, d_head]` and `W_O0: [n_heads, d_head, d_model]`; return
# `[n_heads_0, n_heads_1]`, entry `[i, j] = composition_score(W_OV[i], W_QK[j].T)` with
# `W_OV = W_V0 @ W_O0` and `W_QK = W_Q1 @ W_K1.T`. Example: entry `[3, 1]` says how much L1H1's keys
# read what L0H3 writes.

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
# rank-`d_head` matrices of size `d_model`, its mean and standard deviation over 200 draws.
#
# **Predict:** K-composition between the previous-token head and the induction head should stand
# far above that baseline. What about their Q- and V-composition: at chance, or below?
#
# <details><summary>Answer</summary>
#
# Below chance, by more than ten standard deviations each (printed below): the induction head's
# queries and values read directions of the residual stream that the previous-token head writes
# little into. That is what a score below chance means.
# </details>

# %%
baseline, spread = composition_baseline(cfg.d_model, cfg.d_head)
print(f"random baseline: {baseline:.3f} ± {spread:.3f}")
for kind in "QKV":
    table = composition_scores(model, kind)
    print(f"{kind}-composition L0H{PREV[1]} -> L1H{IND[1]}: {table[PREV[1], IND[1]]:.3f} "
          f"({(table[PREV[1], IND[1]] - baseline) / spread:+.1f} standard deviations from chance)")

# %% [markdown]
# K-composition between the two heads of the circuit stands far above chance; Q- and V-composition
# fall below it. <!-- claim: ch03.q_and_v_composition_below_chance --> And every induction head reads
# the previous-token head through its keys: L0H3's row of the K-composition table stands more than ten
# standard deviations above chance for all four. <!-- claim: ch03.every_induction_head_k_composes -->
#
# ### The circuit at work: what the induction head's queries and keys read
#
# Composition scores read weights. On the repeated sequences themselves we can split the induction
# head's queries and keys into what each earlier component contributes. Layer 1 reads
# `x = embed + pos_embed + Σ_h L0Hh + b_O0` (`L0Hh`: what head `h` of layer 0 wrote; `b_O0`: layer
# 0's output bias), `minigpt.interp.residual_stack(model, cache, layer=1)`. A head reads `x` through
# its LayerNorm, `LN(x) = (x - mean(x)) / scale * w + b`, with `mean(x)` and `scale =
# sqrt(var(x) + eps)` taken over `d_model`, one of each per position. The mean is linear, and the
# scale is a number per position we read from the cache (`blocks.1.ln1.hook_scale`) and hold fixed;
# with `w` and `b` folded into `W_Q` and `b_Q` (the `folded` model above), the query is
#
# `q = Σ_c ((c - mean(c)) / scale) @ W_Q + b_Q`
#
# one part per component `c`, and the bias.
#
# **Exercise `decompose_q`**: `decompose_q(components, scale, W_Q, b_Q) -> Tensor`. `components:
# [n_components, batch, pos, d_model]`, `scale: [batch, pos, 1]`, one head's `W_Q: [d_model, d_head]`
# and `b_Q: [d_head]`; return `[n_components + 1, batch, pos, d_head]`: each component's part, then
# `b_Q` at every position, which sum to the head's queries. Example: for one position with
# components `[1., 3.]` and `[2., 2.]`, `scale` 2, `W_Q = torch.eye(2)` and `b_Q = [0.5, 0.5]`, the
# parts are `[-0.5, 0.5]`, `[0., 0.]` and `[0.5, 0.5]`.

# %%
check("ch03.decompose_q", ex.decompose_q)

# %% [markdown]
# **Exercise `decompose_k`**: `decompose_k(components, scale, W_K, b_K) -> Tensor`, the same for the
# head's keys, with its `W_K: [d_model, d_head]` and `b_K: [d_head]`: return `[n_components + 1,
# batch, pos, d_head]`, each component's part and then `b_K`, which sum to the keys. Example:
# `decompose_k(components, scale, W_K, b_K).sum(0)` equals the head's `hook_k`. (One line, if you
# call `decompose_q`.)

# %%
check("ch03.decompose_k", ex.decompose_k)

# %% [markdown]
# **Predict:** Which component contributes most to the induction head's keys: the token embedding,
# the positional embedding or the previous-token head? And to its queries?
#
# <details><summary>Answer</summary>
#
# Its keys: the previous-token head's output, by far (the key reads "the token before me"). Its
# queries: the token embedding ("the token I am"). The cell below prints each part's mean length,
# largest first.
# </details>

# %%
my_decompose_q = mine_or_reference("ch03.decompose_q", ex.decompose_q)
my_decompose_k = mine_or_reference("ch03.decompose_k", ex.decompose_k)
layer1_input, input_labels = residual_stack(model, full_cache, layer=1)  # [n_components batch pos d_model]
ln1_scale = full_cache["blocks.1.ln1.hook_scale"]  # [batch pos 1]
with torch.no_grad():
    q_parts = my_decompose_q(layer1_input, ln1_scale, a1.W_Q[IND[1]], a1.b_Q[IND[1]])
    k_parts = my_decompose_k(layer1_input, ln1_scale, a1.W_K[IND[1]], a1.b_K[IND[1]])
part_labels = input_labels + ["bias"]
print("the parts sum to the head's queries and keys:",
      torch.allclose(q_parts.sum(0), full_cache["q", 1][:, :, IND[1]], atol=1e-4),
      torch.allclose(k_parts.sum(0), full_cache["k", 1][:, :, IND[1]], atol=1e-4))
for side, parts in (("query", q_parts), ("key", k_parts)):
    sizes = parts.norm(dim=-1).mean(dim=(1, 2))  # [n_parts]: each part's mean length
    order = sizes.argsort(descending=True).tolist()
    print(f"L1H{IND[1]}'s {side} parts, largest first: " + ", ".join(f"{part_labels[i]} {sizes[i]:.2f}" for i in order))

# %% [markdown]
# Size is not all: softmax ignores whatever adds the same amount to every key of a query. The score
# `q · k / attn_scale` is bilinear, so it splits into one term per (query part, key part) pair
# (`minigpt.interp.decompose_attn_scores`), and what moves the pattern is how much a pair's term
# *varies across keys*. Below: for the queries of the copy and the keys of the first chunk (every
# copy query sees all of them), the standard deviation across keys of each pair's term, averaged over
# queries and sequences.
#
# **Predict:** Which pair will vary most?
#
# <details><summary>Answer</summary>
#
# The query's token embedding against the key's previous-token-head output: "the token I am"
# against "the token before you", the induction mechanism itself. It varies about three times as much
# as any other pair (the cell prints the three largest).
# </details>

# %%
score_parts = decompose_attn_scores(q_parts, k_parts, cfg.attn_scale)  # [q_part k_part batch query_pos key_pos]
copy_queries, first_chunk = slice(SEQ_LEN + 1, 2 * SEQ_LEN + 1), slice(1, SEQ_LEN + 1)
pair_spread = score_parts[..., copy_queries, first_chunk].std(dim=-1).mean(dim=(-1, -2))  # [q_part k_part]
plot_matrix(pair_spread, "key part", "query part", f"L1H{IND[1]}: how much each pair's score varies across keys",
            signed=False, x_ticks=part_labels, y_ticks=part_labels)

# %%
for index in pair_spread.flatten().argsort(descending=True)[:3].tolist():
    q_index, k_index = divmod(index, len(part_labels))
    print(f"query part {part_labels[q_index]:9s} x key part {part_labels[k_index]:9s}: "
          f"{pair_spread[q_index, k_index]:.2f}")

# %% [markdown]
# The induction head's keys read the previous-token head: K-composition, seen at work. Its queries
# read the token embedding, consistent with its Q-composition with the previous-token head falling
# below chance. The same pair leads for every layer-1 head.
# <!-- claim: ch03.every_induction_head_reads_embed_and_prev --> The circuit is the one described at
# the top.
#
# ## 6. The phase change
#
# The training run saved snapshots of the weights and logged its metrics as it went (the cell below
# prints how often).
#
# **Predict:** Before the circuit forms, does the loss on the repeat stay flat at `log(d_vocab)`?
#
# <details><summary>Answer</summary>
#
# Not quite flat: it drifts down slowly, from about 4.9 to about 4.1 nats over the first 600 steps,
# while no head scores as an induction head yet. Then, within 200 steps, it falls below 1 nat: the
# phase change. <!-- claim: ch03.phase_change -->
# </details>

# %%
history = load_history("induction-2l")["rows"]
snapshots = list_snapshots("induction-2l")
print(f"{len(snapshots)} snapshots, every {snapshots[1] - snapshots[0]} steps, from step {snapshots[0]} to "
      f"{snapshots[-1]}")


def column(rows, name):
    """(steps, values) of one metric, over the rows that logged it."""
    rows = [row for row in rows if name in row]
    return [row["step"] for row in rows], [row[name] for row in rows]


plot_curves({"training loss": column(history, "train_loss"), "loss on the repeat": column(history, "loss_second_half")},
            y_label="loss (nats)", title="induction-2l: the loss during training")

# %% [markdown]
# **Predict:** Which forms first, the previous-token head or the induction head?
#
# <details><summary>Answer</summary>
#
# Neither: they form together, within the same 100 steps, as neither is useful without the other.
# <!-- claim: ch03.heads_form_together --> The curves below follow both heads and their
# K-composition through every snapshot.
# </details>

# %%
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
# `LIVE_STEPS` steps only, at a constant learning rate (the full run warms up over 100 steps, then
# decays it along a cosine): long enough, going by the shipped run, to cross the plateau and see the
# phase change (the cell prints where yours crossed). Set
# `FULL_TRAINING = True` at the top for the whole run (then everything above can be re-run on your
# own model: `load_checkpoint(folder)`).
#
# **Predict:** Will your run's loss on the repeat fall below 1 nat at about the same step as the
# shipped run's?
#
# <details><summary>Answer</summary>
#
# About the same: the shipped run's fell below 1 nat at step 800, while its learning rate was still
# within 15 % of its peak, and yours runs at that peak throughout. The cell prints both steps.
# <!-- claim: ch03.shipped_run_crosses_at_peak_lr -->
# </details>

# %% [markdown]
# **Predict:** Once it has crossed, will your model's induction score come close to the shipped
# model's final score?
#
# <details><summary>Answer</summary>
#
# Close: in the shipped run the induction score was within 0.05 of its final value 200 steps after
# the crossing. <!-- claim: ch03.score_settles_after_crossing --> The cell prints yours next to it.
# </details>

# %%
from minigpt.train.recipes import get_recipe

folder = Path(tempfile.mkdtemp(prefix="induction-2l-"))
overrides = {} if FULL_TRAINING else {"steps": LIVE_STEPS, "schedule": "constant"}
start = time.perf_counter()
get_recipe("induction-2l").run(folder, device="auto", seed=0, progress=True, **overrides)
print(f"trained in {time.perf_counter() - start:.0f} s")
mine = load_history(folder)["rows"]


def crossing(rows, below=1.0):
    """The first step at which the loss on the repeat is below `below` (None if never)."""
    return next((step for step, loss in zip(*column(rows, "loss_second_half")) if loss < below), None)


print(f"loss on the repeat below 1 nat from step: shipped {crossing(history)}, yours {crossing(mine)}")
print(f"induction score at the end: shipped {column(history, 'induction_score')[1][-1]:.2f}, "
      f"yours {column(mine, 'induction_score')[1][-1]:.2f}")
plot_curves({"shipped run: loss on the repeat": column(history, "loss_second_half"),
             "your run: loss on the repeat": column(mine, "loss_second_half"),
             "your run: induction score": column(mine, "induction_score")},
            y_label="loss (nats) / score", title="Your training run next to the shipped one")

# %% [markdown]
# ## Summary

# %%
display(Markdown(f"""
- On repeated random tokens, `induction-2l` predicts the copy: its loss on the repeat is
  {clean_loss:.2f} nats, against {math.log(cfg.d_vocab):.2f} for a uniform guess.
- Two kinds of heads do it: a previous-token head in layer 0 (L{PREV[0]}H{PREV[1]}) and induction
  heads in layer 1 ({name(INDUCTION_HEADS)}). Their patterns and attributions single them out;
  ablation shows that the induction heads back each other up and that all of them need the
  previous-token head. The weights say the same: the induction heads' OV circuits copy (top-1
  accuracy and positive eigenvalues), and their QK circuits match the previous token, which their
  keys read from the previous-token head (K-composition). On data, L1H{IND[1]}'s keys read
  L0H{PREV[1]}'s output and its queries the token embedding.
- The circuit appeared abruptly during training, both kinds of heads at once.

Further reading: Elhage et al., *A Mathematical Framework for Transformer Circuits* (2021);
Olsson et al., *In-context Learning and Induction Heads* (2022); ARENA's chapter 1.2.
"""))
