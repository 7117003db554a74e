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
# # Chapter 2 — Attention
#
# In a transformer, attention is the only place where one position reads from another: the MLPs work
# on each position alone. So everything a model knows about *context* (the previous character, the
# name defined ten lines up, the bracket still open) went through an attention pattern. This chapter
# takes attention apart and puts it back together three times:
#
# 1. **as maths**: scores, the `1/sqrt(d_head)` scale, the causal mask, the softmax, heads;
# 2. **as something to read**: the patterns of a small trained model, and heads that look at fixed
#    positions (the previous token, the first token);
# 3. **as a computation that costs time and memory**: why the naive pattern is `O(T²)`, how
#    FlashAttention's tiles and *online softmax* avoid ever building it (you will write that kernel and
#    run a whole model on it), and what a KV cache saves when generating.
#
# Your code goes in `exercises/ch02_attention.py`. Each piece is checked right after it is introduced;
# later cells use your piece once it passes its check (the reference until then, with a note).
#
# | exercise | what | difficulty |
# | --- | --- | --- |
# | `attention_scores` | `q · k` for every query and key, scaled | 1 |
# | `causal_mask` | who may look at whom, also with a KV cache | 1 |
# | `softmax_stable` | a softmax that never overflows | 1 |
# | `pattern_entropy` | how spread out a pattern is | 1 |
# | `prev_token_score` | find the previous-token heads | 1 |
# | `online_softmax_step` | FlashAttention's running max and sum | 2 |
# | `tiled_attention` | a FlashAttention kernel, registered and run in a model | 3 |
# | `kv_cache_step` | one generation step with cached keys and values | 2 |
#
# <!-- claim: ch02.exercise_table -->

# %%
FULL = False  # True: also measure the cost of attention at 4,096 tokens (slower; naive then holds about 0.8 GiB)

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
import time

import matplotlib.pyplot as plt
import torch

from minigpt import GPTConfig, KVCache
from minigpt.attention import get_attention, naive_attention, register_attention
from minigpt.checkpoints import load_checkpoint
from minigpt.data.corpus import stdlib_corpus
from minigpt.grading import check
from minigpt.tokenizer import ByteTokenizer
from minigpt.viz import (head_view, model_view, plot_attention_pattern, plot_head_grid, plot_head_scores,
                         plot_matrix)
from minigpt.workspace import load_exercises, mine_or_reference, setup_notebook

setup_notebook()
torch.manual_seed(0)
ex = load_exercises("ch02_attention")

# %% [markdown]
# ## The model we will look inside
#
# A 2-layer GPT that reads **bytes** (`d_vocab = 256`, one token per byte) and was trained on the
# source code of Python's standard library: chapter 1's model, shipped with minigpt as the checkpoint
# `stdlib-bytes` (its recipe: `minigpt train stdlib-bytes`, about two minutes on one CPU thread). Bytes
# make every position easy to read: a token is one character of code. Like GPT-2, which starts every
# text with `<|endoftext|>`, it saw a beginning-of-sequence token, **BOS**, first in every training
# window (here the byte 0, which its training text never contains); `model.to_tokens` puts it in
# front. <!-- claim: ch02.model_recipe -->
#
# Its sizes, printed by the cell below: `d_model` is the width of the residual stream (the vector
# each position carries from layer to layer), `n_heads` the number of attention heads per layer,
# `d_head` the size of each head's queries, keys and values, `n_ctx` the longest sequence it reads.
# We run the model on one line of Python and keep every activation in a cache.

# %% [markdown]
# **Predict:** the line is `def greet(name):`, a newline, then `    return "Hello, " + name` and a
# newline: 45 bytes. How many tokens does the model read?
#
# <details><summary>Answer</summary>
#
# 46: one per byte, plus the BOS in front. The cell prints them (`·` is a space, `⏎` a newline).
#
# </details>

# %% [markdown]
# **Predict:** 2 layers with `d_model = 128`, an MLP of width `d_mlp = 512`, 256 byte embeddings and
# 128 positions. About how many parameters: 45 thousand, 450 thousand or 4.5 million?
#
# <details><summary>Answer</summary>
#
# About 450 thousand. Each layer holds `4·d_model²` in attention (`W_Q, W_K, W_V, W_O`) and
# `2·d_model·d_mlp = 8·d_model²` in the MLP: `2 × 12 × 128² ≈ 393k`; the embeddings add
# `256 × 128 + 128 × 128 ≈ 49k` (the unembedding reuses the token embedding). The cell prints 0.45M.
#
# </details>

# %%
model = load_checkpoint("stdlib-bytes")
tok = ByteTokenizer()
model.set_tokenizer(tok)
cfg = model.cfg
print(f"{cfg.n_layers} layers, {cfg.n_heads} heads of d_head {cfg.d_head}, d_model {cfg.d_model}, d_mlp {cfg.d_mlp}, "
      f"context {cfg.n_ctx} bytes, {model.n_params(non_embedding=False) / 1e6:.2f}M parameters")



def readable(tokens):
    """Each byte as a label: BOS for the beginning-of-sequence byte, ⏎ for a newline, · for a space."""
    return ["BOS" if t == "\x00" else t.replace("\n", "⏎").replace(" ", "·") for t in model.to_str_tokens(tokens)]


code = 'def greet(name):\n    return "Hello, " + name\n'
tokens = model.to_tokens(code)  # [batch=1, pos]: BOS, then one token per byte
labels = readable(tokens[0])
with torch.no_grad():
    _, cache = model.run_with_cache(tokens)
print(len(code.encode()), "bytes ->", len(labels), "tokens:", " ".join(labels))

# %% [markdown]
# ## 1. Scores: how well each query matches each key
#
# Every head projects each position's residual stream into a **query** `q` ("what am I looking
# for?"), a **key** `k` ("what do I offer?") and a **value** `v` ("what I pass on if chosen"), each
# of size `d_head`. The score of query `i` for key `j` is the dot product `q_i · k_j`, scaled by
# `1/sqrt(d_head)` (section 4 shows why). minigpt's kernels take `[batch n_heads pos d_head]`
# tensors, so the scores are `[batch n_heads query_pos key_pos]`.
#
# **Exercise** `attention_scores(q, k, scale=None) -> scores` in `exercises/ch02_attention.py`.
# `q: [batch n_heads query_pos d_head]`, `k: [batch n_heads key_pos d_head]`; return
# `[batch n_heads query_pos key_pos]` with `scores[..., i, j] = scale · q_i · k_j`, where `scale`
# defaults to `1/sqrt(d_head)` and a `scale` that is given is used as it is (any leading axes work).
# Example: one query `[1, 0]` and keys `[1, 1]`, `[3, 0]` with `scale=1.0` give `[[1., 3.]]`. A
# named-axes `einops.einsum` makes it one line and keeps the axes straight.

# %%
check("ch02.attention_scores", ex.attention_scores)

# %% [markdown]
# Now compute the scores of layer 0 from the model's own queries and keys, and compare them with
# the scores the model computed (`hook_attn_scores`, where the future is already `-inf`).

# %% [markdown]
# **Predict:** what shape will the scores of layer 0 have for our line?
#
# <details><summary>Answer</summary>
#
# `(1, 4, 46, 46)`: batch 1, 4 heads, 46 queries, 46 keys. Every query gets a score for every key,
# the future included; the mask (section 2) hides those later.
#
# </details>

# %% [markdown]
# **Predict:** for random queries and keys with entries of variance 1, the scale makes the scores'
# standard deviation about 1 (section 4 measures it). After training, will the visible scores of
# layer 0 on our line spread less than that, about as much, or more?
#
# <details><summary>Answer</summary>
#
# More: about 2.8, printed by the cell. Training makes queries and keys line up where a head needs
# a sharp pattern; the scale only sets the starting point. <!-- claim: ch02.trained_scores_wide -->
#
# </details>

# %%
attention_scores = mine_or_reference("ch02.attention_scores", ex.attention_scores)
q, k, v = (cache[name, 0].transpose(1, 2) for name in ("q", "k", "v"))  # [batch n_heads pos d_head]
scores = attention_scores(q, k)
model_scores = cache["attn_scores", 0]
visible = torch.isfinite(model_scores)
torch.testing.assert_close(scores[visible], model_scores[visible])
print("scores:", tuple(scores.shape), "= the model's own on every visible entry")
print(f"std of the visible scores of layer 0: {scores[visible].std():.1f}")
plot_matrix(scores[0, 0].tril(), "key", "query", "layer 0, head 0: scores (upper triangle shown as 0)",
            x_ticks=labels, y_ticks=labels, signed=True)

# %% [markdown]
# ## 2. The causal mask, aligned to the end
#
# A language model predicts the next token, so position `i` must not read positions after `i`. The
# mask is a boolean `[query_pos, key_pos]` matrix, `True` where a query may look. With a **KV cache**
# (section 9) the keys of earlier positions are already there and only the newest positions send
# queries: fewer queries than keys. minigpt's convention, used by every kernel: the queries are the
# *last* `query_pos` positions, so query `i` sits at position `key_pos - query_pos + i`.
# <!-- claim: ch02.mask_convention -->
#
# **Exercise** `causal_mask(query_pos, key_pos) -> mask`: return a boolean `[query_pos, key_pos]`
# tensor, `True` where query `i` may attend to key `j`, i.e. where `j <= key_pos - query_pos + i`.
# Example: `causal_mask(2, 4)` is `[[True, True, True, False], [True, True, True, True]]` (the two
# queries sit at positions 2 and 3).

# %%
check("ch02.causal_mask", ex.causal_mask)

# %% [markdown]
# **Predict:** how many entries of `causal_mask(8, 8)` are `True`? And of `causal_mask(3, 8)`?
#
# <details><summary>Answer</summary>
#
# 36 = 1 + 2 + ... + 8, and 21 = 6 + 7 + 8: the three queries sit at positions 5, 6 and 7 and see
# 6, 7 and 8 keys. The cell prints both counts.
#
# </details>

# %% [markdown]
# **Predict:** suppose you aligned the three queries to the *start* instead (`torch.ones(3, 8).tril()`).
# What would the newest query, the token at position 7, be allowed to see?
#
# <details><summary>Answer</summary>
#
# Only keys 0, 1 and 2: not the five tokens before it, and not itself. The cell prints both masks.
#
# </details>

# %%
causal_mask = mine_or_reference("ch02.causal_mask", ex.causal_mask)
print("True entries:", int(causal_mask(8, 8).sum()), "in causal_mask(8, 8),", int(causal_mask(3, 8).sum()),
      "in causal_mask(3, 8)")
print("aligned to the end (ours):\n", causal_mask(3, 8).int(), "\naligned to the start (wrong):\n",
      torch.ones(3, 8).tril().int())
fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
for ax, (nq, nk) in zip(axes, [(8, 8), (3, 8)]):
    ax.imshow(causal_mask(nq, nk), cmap="Greys", vmin=-0.3, vmax=1.3)
    ax.set(title=f"causal_mask({nq}, {nk})", xlabel="key position", ylabel="query",
           yticks=range(nq), yticklabels=[f"pos {nk - nq + i}" for i in range(nq)])
fig.suptitle("True (dark) = may attend; with 3 new queries after 5 cached keys, the mask lines up at the end")
fig.tight_layout()

# %% [markdown]
# ## 3. Softmax, without overflow
#
# Masked scores become `-inf`; a softmax over the keys turns each row into weights that are `>= 0`
# and sum to 1: the **attention pattern** `p`. Written as `exp(s) / sum(exp(s))` it breaks as soon as
# scores are large, because `exp` overflows float32 just above 88.7 (the cell below shows where).

# %% [markdown]
# **Predict:** in float32, what are `exp(1000.0)` and the naive softmax `exp(s) / sum(exp(s))` of the
# scores `[1000, 999]`? What should the softmax be?
#
# <details><summary>Answer</summary>
#
# `exp(1000)` is `inf`, and `inf / inf` is `nan`: the naive softmax gives `[nan, nan]`. The right
# answer is the softmax of `[1, 0]` (only differences matter), `[0.73, 0.27]`, which `torch.softmax`
# returns.
#
# </details>

# %%
big = torch.tensor([1000.0, 999.0])
print("exp:", big.exp(), "  naive softmax:", big.exp() / big.exp().sum(), "  torch:", big.softmax(-1))
print("float32 exp of 88.7 and 88.8:", torch.tensor([88.7, 88.8]).exp())

# %% [markdown]
# Subtracting each row's maximum first changes nothing mathematically (`exp(-max)` cancels between
# numerator and denominator) and makes every exponent `<= 0`. This is how every real softmax is
# computed, and it is the seed of FlashAttention's trick in section 8.
#
# **Exercise** `softmax_stable(scores) -> pattern`: `scores: [..., key_pos]`, masked keys `-inf`,
# every row with at least one finite score; return a tensor of the same shape whose rows sum to 1,
# computed as `exp(s - max) / sum(exp(s - max))` with each row's own maximum. Example:
# `softmax_stable(torch.tensor([1000., 1000., 999.]))` is `[0.4223, 0.4223, 0.1554]`, with no `nan`.

# %%
check("ch02.softmax_stable", ex.softmax_stable)

# %% [markdown]
# With your three pieces, the pattern of layer 0 is the model's, and so is the head's output `z`:
# each query's mix of the values, weighted by its row of the pattern (`z = p @ v`, `[batch n_heads
# query_pos d_head]`).

# %% [markdown]
# **Predict:** query 0 is the BOS. What weight does it put on key 0 in each head of layer 0? And how
# much weight, in all, lands on the masked entries above the diagonal?
#
# <details><summary>Answer</summary>
#
# Weight 1 on key 0 in every head: the mask leaves query 0 a single key, so its softmax has one term.
# Exactly 0 above the diagonal: `exp(-inf)` is 0, not merely small. The cell prints both.
#
# </details>

# %%
softmax_stable = mine_or_reference("ch02.softmax_stable", ex.softmax_stable)
mask = causal_mask(scores.shape[-2], scores.shape[-1])
pattern = softmax_stable(scores.masked_fill(~mask, float("-inf")))
torch.testing.assert_close(pattern, cache["pattern", 0])
torch.testing.assert_close(pattern @ v, naive_attention(q, k, v))  # z: each query's weighted mix of values
print("rows sum to 1:", torch.allclose(pattern.sum(-1), torch.ones(1)), "| pattern == the model's, z == naive's")
print("query 0's weight on key 0, per head:", pattern[0, :, 0, 0].tolist(),
      "| total weight above the diagonal:", pattern[..., ~mask].sum().item())

# %% [markdown]
# ## 4. Why `1 / sqrt(d_head)`?
#
# If the entries of `q` and `k` are independent with variance 1, `q · k` is a sum of `d_head` such
# products: its variance is `d_head`. Without the scale, wider heads give wider scores, and a softmax
# of wide scores is nearly one-hot: one key takes all the weight. Two things go wrong then: the head
# can no longer *average* over several keys, and the softmax **saturates**: the derivative of the
# pattern `p` with respect to the scores, the matrix `diag(p) - p pᵀ`, vanishes when `p` is one-hot,
# so the head stops learning. Dividing by `sqrt(d_head)` keeps the scores' spread at 1 whatever the
# head size.
#
# Let us measure it on random queries and keys: first the scores themselves.

# %% [markdown]
# **Predict:** with `d_head = 1024` and entries of variance 1, what is the standard deviation of `q · k`?
# And of `q · k / sqrt(d_head)`?
#
# <details><summary>Answer</summary>
#
# About `sqrt(1024) = 32` unscaled, and about 1 scaled, for every width. The cell prints both.
#
# </details>

# %%
g = torch.Generator().manual_seed(0)
d_heads = [4, 16, 64, 256, 1024, 4096]
n_queries, n_keys = 256, 64
raw = {d: torch.randn(n_queries, d, generator=g) @ torch.randn(n_keys, d, generator=g).T for d in d_heads}

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
for d in (4, 64, 1024):
    axes[0].hist(raw[d].flatten(), bins=80, histtype="step", density=True, label=f"d_head={d}")
    axes[1].hist(raw[d].flatten() / math.sqrt(d), bins=80, histtype="step", density=True, label=f"d_head={d}")
axes[0].set(title="q · k  (unscaled)", xlabel="score", ylabel="density")
axes[1].set(title="q · k / sqrt(d_head)", xlabel="score")
for ax in axes:
    ax.legend()
fig.tight_layout()
print({d: round(float(raw[d].std()), 1) for d in d_heads}, "<- std of q·k, about sqrt(d_head)")
print({d: round(float(raw[d].std() / math.sqrt(d)), 2) for d in d_heads}, "<- std of q·k / sqrt(d_head)")

# %% [markdown]
# How spread out is a pattern? Its **entropy**, `-Σ p log p` over the keys: 0 when one key takes
# everything, `log(n)` when `n` keys share equally.
#
# **Exercise** `pattern_entropy(pattern) -> entropy`: `pattern: [..., query_pos, key_pos]`, rows
# summing to 1; return `[..., query_pos]`, each query's `-Σ_k p_k log p_k` in nats. Mind the masked
# keys: their weight is exactly 0, and `0 * log(0)` is `nan` in floating point although the limit is
# 0. Example: the row `[0.5, 0.5, 0.0]` has entropy `log 2 = 0.6931`.

# %%
check("ch02.pattern_entropy", ex.pattern_entropy)

# %% [markdown]
# Now the entropy of the pattern, and the size of the gradient that flows back through the softmax
# (for a random upstream gradient), as the head gets wider, with and without the scale. A uniform
# pattern over the 64 keys would have entropy `log 64 = 4.16` nats.

# %% [markdown]
# **Predict:** unscaled, at `d_head = 4096`, is the pattern's entropy near `log 64 = 4.16` or near 0?
# And scaled?
#
# <details><summary>Answer</summary>
#
# Unscaled, about 0.07 nats: each query puts nearly all its weight on one key. Scaled, about 3.7 at
# every width: spread out, though not uniform, since random scores are not all equal. The cell
# prints both rows.
#
# </details>

# %% [markdown]
# **Predict:** as `d_head` grows, what happens to the gradient that reaches the scores, with and
# without the scale?
#
# <details><summary>Answer</summary>
#
# Scaled, it stays between 0.17 and 0.19 per query. Unscaled, it grows a little from `d_head = 4` to 16, then
# shrinks at every step: at 4,096 it is about 7 times smaller than at 16. The cell prints both rows.
# <!-- claim: ch02.scale_saturation -->
#
# </details>

# %%
pattern_entropy = mine_or_reference("ch02.pattern_entropy", ex.pattern_entropy)
upstream = torch.randn(n_queries, n_keys, generator=g)
rows = {"entropy": {"scaled": [], "unscaled": []}, "grad": {"scaled": [], "unscaled": []}}
for d in d_heads:
    for name, s in (("scaled", raw[d] / math.sqrt(d)), ("unscaled", raw[d])):
        s = s.clone().requires_grad_(True)
        p = s.softmax(dim=-1)
        (p * upstream).sum().backward()
        rows["entropy"][name].append(pattern_entropy(p.detach()).mean().item())
        rows["grad"][name].append(s.grad.norm(dim=-1).mean().item())

fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for name, style in (("scaled", "o-"), ("unscaled", "s--")):
    axes[0].plot(d_heads, rows["entropy"][name], style, label=name)
    axes[1].plot(d_heads, rows["grad"][name], style, label=name)
axes[0].axhline(math.log(n_keys), color="grey", lw=0.8, ls=":", label=f"uniform over {n_keys} keys")
axes[0].set(xscale="log", xlabel="d_head", ylabel="entropy (nats)", title="how spread out the pattern is")
axes[1].set(xscale="log", yscale="log", xlabel="d_head", ylabel="|dL/dscores| per query",
            title="gradient through the softmax")
for ax in axes:
    ax.legend()
fig.tight_layout()
print("d_head:           ", d_heads)
for what in ("entropy", "grad"):
    for name in ("unscaled", "scaled"):
        print(f"{what}, {name}:".ljust(19), [round(x, 2 if what == "entropy" else 3) for x in rows[what][name]])

# %% [markdown]
# Unscaled, the patterns collapse towards one key (entropy → 0) and, past the smallest widths, the
# gradient shrinks as `d_head` grows; scaled, both stay put whatever the head size. A trained model can
# still make sharp patterns where it needs them, by learning queries and keys that line up: layer 0's
# scores spread about 2.8 times as wide as scaled random ones (section 1). But it starts from a softmax that
# passes gradients.
#
# ## 5. Heads: many patterns at once
#
# A layer runs `n_heads` attention heads side by side, each with its own query, key, value and output
# matrices (`W_Q, W_K, W_V: [d_model, d_head]`, `W_O: [d_head, d_model]`), so each head computes its
# own pattern and moves its own information; their outputs are added into the residual stream. Here
# is every head of both layers on our line of code (brighter = more weight; the rows are queries, the
# columns keys), and each head's mean entropy on it.

# %% [markdown]
# **Predict:** which layer's heads will be sharper on our line (lower mean entropy): layer 0's, or
# layer 1's?
#
# <details><summary>Answer</summary>
#
# Layer 0's: every layer-1 head has a higher mean entropy than every layer-0 head, on our line (the
# cell prints them) and on held-out code. Layer 0 holds the sharp, local heads of section 6.
# <!-- claim: ch02.layer0_sharper -->
#
# </details>

# %% [markdown]
# **Predict:** the first row of every pattern belongs to query 0, the BOS. What will it look like in
# each of the 8 heads?
#
# <details><summary>Answer</summary>
#
# The same in all 8: one cell of weight 1, on key 0 (the BOS itself), the only key the mask leaves it
# (section 3). The cell prints that weight for every head.
#
# </details>

# %%
patterns = torch.stack([cache["pattern", layer][0] for layer in range(cfg.n_layers)])  # [n_layers n_heads q k]
plot_head_grid(patterns, labels, title="every head's pattern on one line of code")
print("mean entropy per head (nats), one row per layer:\n", pattern_entropy(patterns).mean(-1).numpy().round(2))
print("query 0's weight on key 0:\n", patterns[:, :, 0, 0].numpy())

# %% [markdown]
# A heatmap shows all weights at once; the viewer below shows them *as text*: hover a character on the
# left to see where it looks, on the right to see who looks at it; pick the layer and head at the top.

# %%
head_view(patterns, labels, layer=0, head=0, title="stdlib-bytes on one line of Python")

# %% [markdown]
# The **model view** puts every layer × head side by side as small heatmaps (the same 8 patterns as
# the grid above): click one to open it large and hover a cell for its weight. It is the quickest way
# to find the heads worth a closer look, here the stripes below the diagonal in layer 0.

# %%
model_view(patterns, labels, title="stdlib-bytes: every layer x head on one line of Python")

# %% [markdown]
# ## 6. Heads that look at a position: previous-token and first-token heads
#
# Some heads ignore *what* the tokens are and look at *where* they are. Two kinds are reported in
# many trained transformers: a **previous-token head** (query `q` looks at key `q - 1`: a diagonal
# stripe just below the diagonal; Elhage et al. 2021, Olsson et al. 2022) and a **first-token head**
# (queries look at position 0, a place to "park" attention when nothing else is relevant; Vig &
# Belinkov 2019 on GPT-2, Xiao et al. 2023's "attention sinks"). For a byte-level model a
# previous-token head is very useful: it lets position `q` know the character before it, i.e. build
# two-character features.
#
# A head's **previous-token score** is the mean weight that queries put on the key just before them.
#
# **Exercise** `prev_token_score(pattern) -> scores`: `pattern: [batch n_heads pos pos]` (one layer's
# `cache["pattern", layer]`); return `[n_heads]`: for each head, the mean over the batch and over the
# queries `q = 1 .. pos-1` of `pattern[..., q, q - 1]` (query 0 has no previous token). Example: a
# head whose every query looks one back scores 1; a head that looks at itself (`torch.eye`) scores 0.

# %%
check("ch02.prev_token_score", ex.prev_token_score)

# %% [markdown]
# We score every head on 16 windows of standard-library code that the model never saw in training
# (the last 5 % of its corpus, held out when it was trained), each a BOS byte and 127 bytes of code,
# along with the **first-token score**: the mean weight on key 0, the BOS, leaving out query 0, which
# has no other choice. For comparison, a head that spread its weight evenly over the keys it can see
# would score the average of `1/(q+1)`, printed below. <!-- claim: ch02.held_out_windows -->

# %% [markdown]
# **Predict:** in which layer will the best previous-token head sit, and will its score be nearer 0.1,
# 0.5 or 0.9?
#
# <details><summary>Answer</summary>
#
# Layer 0: head 3 (L0H3) scores 0.51, half of each query's weight on the byte just before it, and
# puts another 0.21 on the byte two back. An even spread would score 0.03. The distance plot and the
# cell after it print these numbers. <!-- claim: ch02.best_heads -->
#
# </details>

# %%
prev_token_score = mine_or_reference("ch02.prev_token_score", ex.prev_token_score)
held_out = stdlib_corpus(val_fraction=0.05).eval_batch(cfg.n_ctx - 1, n=16)  # [16, n_ctx - 1]
windows = torch.cat([torch.full((16, 1), model.bos_token_id), held_out], dim=1)  # [16, n_ctx]: BOS first
with torch.no_grad():
    _, wcache = model.run_with_cache(windows, names_filter=lambda name: name.endswith("hook_pattern"))
prev = torch.stack([prev_token_score(wcache["pattern", layer]) for layer in range(cfg.n_layers)])
first = torch.stack([wcache["pattern", layer][..., 1:, 0].mean(dim=(0, -1)) for layer in range(cfg.n_layers)])
plot_head_scores(prev, "previous-token score", label="mean weight on key q-1")

# %%
plot_head_scores(first, "first-token score", label="mean weight on key 0")

# %% [markdown]
# A score looks at one offset. To see a head's whole positional habit, average its weight by the
# *distance* between query and key: `d = 0` is the token itself, `d = 1` the previous one, and so on.
# Local heads show up as curves that peak at small distances; the cell also prints each head's peak.

# %%
distances = range(12)
fig, axes = plt.subplots(1, cfg.n_layers, figsize=(5 * cfg.n_layers, 3.2), sharey=True, squeeze=False)
for L in range(cfg.n_layers):
    p_L = wcache["pattern", L]  # [batch n_heads q k]
    for h in range(cfg.n_heads):
        by_distance = [p_L[:, h].diagonal(offset=-d, dim1=-2, dim2=-1).mean().item() for d in distances]
        axes[0, L].plot(distances, by_distance, "o-", ms=3, label=f"L{L}H{h}")
        print(f"L{L}H{h}: peak at d = {max(distances, key=lambda d: by_distance[d])}, weight at d = 0, 1, 2, 3: "
              + ", ".join(f"{w:.2f}" for w in by_distance[:4]))
    axes[0, L].set(title=f"layer {L}", xlabel="distance q - k", xticks=list(distances))
    axes[0, L].legend()
axes[0, 0].set_ylabel("mean weight")
fig.suptitle("where each head looks, by distance (16 held-out windows)")
fig.tight_layout()

# %%
layer, head = divmod(int(prev.argmax()), cfg.n_heads)
uniform = (1 / torch.arange(2, cfg.n_ctx + 1)).mean()  # an even spread over the visible keys, queries 1..
print(f"the strongest previous-token head is L{layer}H{head}: score {prev[layer, head]:.2f} "
      f"(an even spread would score {uniform:.2f})")
plot_attention_pattern(patterns[layer, head], labels, title=f"L{layer}H{head}, the best previous-token head")

# %% [markdown]
# **Predict:** the best first-token head puts 0.30 of its weight on the BOS, on average. Does it give
# the BOS about 0.3 at every query, or nearly everything at some queries and nothing at the others?
# If the latter, at which bytes?
#
# <details><summary>Answer</summary>
#
# All or nothing. The head is L0H2: about 30 % of its queries put more than half their weight on the
# BOS, about 70 % less than a tenth. The queries that rest on the BOS are the **spaces**: 0.99 on
# average, against at most 0.06 for every other byte seen at least 10 times. The cell prints these
# numbers. <!-- claim: ch02.first_token_spaces -->
#
# </details>

# %%
f_layer, f_head = divmod(int(first.argmax()), cfg.n_heads)
print(f"the strongest first-token head is L{f_layer}H{f_head}: score {first[f_layer, f_head]:.2f}")
bos_weight = wcache["pattern", f_layer][:, f_head, 1:, 0]  # [batch query_pos - 1]: each query's weight on the BOS
query_bytes = windows[:, 1:]  # [batch query_pos - 1]: the byte at each of those queries
print(f"queries with weight > 0.5 on the BOS: {(bos_weight > 0.5).float().mean():.0%}; "
      f"< 0.1: {(bos_weight < 0.1).float().mean():.0%}")
by_byte = sorted(((bos_weight[query_bytes == b].mean().item(), int((query_bytes == b).sum()), b)
                  for b in query_bytes.unique().tolist() if (query_bytes == b).sum() >= 10), reverse=True)
for w, n, b in by_byte[:4]:
    print(f"  query byte {tok.decode([b])!r:>5}: mean weight on the BOS {w:.2f} ({n} queries)")
plot_attention_pattern(wcache["pattern", f_layer][0, f_head, :40, :40], readable(windows[0, :40]),
                       title=f"L{f_layer}H{f_head} on the first 40 bytes of a window")

# %% [markdown]
# The previous-token head draws the stripe just below the diagonal, and in layer 0 it is not alone:
# the distances printed above show three of layer 0's four heads with their peak at distance 1, one of
# them (L0H1) spreading its weight almost evenly over distances 0 to 2, while L0H0 peaks on the token
# itself. A small byte-level model spreads "read the last few characters" over several local heads.
# Layer 1's curves are flatter: none of its heads puts more than 0.15 on any one distance.
# <!-- claim: ch02.local_heads -->
#
# A first-token head is subtler: the BOS carries no information, so attending to it is a way of doing
# *nothing*, and this head does it at one kind of position only, the spaces, where it rests its weight
# almost entirely on the BOS. At every other byte it reads that byte and the three before it (more
# than 0.8 of its weight at distances 0 to 3, most at distance 1). <!-- claim: ch02.first_token_elsewhere -->
# Look for the rows of the plot above whose weight sits in the first column. In GPT-2, Vig & Belinkov
# (2019) found many heads whose attention goes mostly to the first token, and Xiao et al. (2023) call
# such tokens *attention sinks*.
#
# minigpt has these detectors (and the induction score of the next chapter) in
# `minigpt.interp.detectors`; chapter 3 uses a previous-token head as the first half of an
# *induction head*.
#
# ## 7. What attention costs
#
# The naive kernel materialises the scores and the pattern: `batch × n_heads × T × T` numbers each,
# for a sequence of `T` tokens. Time and memory both grow as `T²`. For GPT-2 small at its full
# context, one layer's pattern already takes tens of MiB per sequence, and at 32k tokens tens of GiB:
# the cell below computes both from GPT-2's config.

# %% [markdown]
# **Predict:** GPT-2 small has 12 heads per layer and a context of 1,024 tokens. How much memory
# does one layer's float32 pattern take for one sequence? And at 32,768 tokens?
#
# <details><summary>Answer</summary>
#
# `12 × 1024² × 4` bytes = 48 MiB; at 32 times the length, `32² = 1,024` times more: 48 GiB.
#
# </details>

# %%
gpt2 = GPTConfig.from_name("gpt2")
for T in (gpt2.n_ctx, 32_768):
    mib = gpt2.n_heads * T**2 * 4 / 2**20
    print(f"GPT-2 small, T = {T:,}: {gpt2.n_heads} heads x {T:,}² x 4 bytes = "
          + (f"{mib:,.0f} MiB" if mib < 1024 else f"{mib / 1024:,.0f} GiB") + " per layer per sequence")

# %% [markdown]
# Let us measure three kernels from minigpt's registry on one head group of 4 heads × `d_head` 64:
#
# - `naive`: scores, mask, softmax, `pattern @ v`, as you just wrote;
# - `sdpa`: PyTorch's fused `scaled_dot_product_attention` (a FlashAttention kernel on GPUs, a fused
#   C++ kernel on CPUs);
# - `online`: FlashAttention's algorithm in plain PyTorch (tiles and an online softmax), which you will
#   write yourself in section 8.
#
# Peak memory counts the bytes of every tensor created during the call, at their high-water mark
# (PyTorch's `MemTracker` on a CPU, the CUDA allocator's counter on a GPU); a fused kernel's small
# internal scratch space is not seen.

# %% [markdown]
# **Predict:** `naive` holds about 52 MiB at `T = 1024` here. About how much at `T = 2048`? And how
# much more does `sdpa` need when `T` doubles?
#
# <details><summary>Answer</summary>
#
# About 4 times as much (about 200 MiB): scores and pattern are `T × T`. `sdpa` and `online` need
# about twice as much, since they never hold a `T × T` matrix. The cell prints the table and, last,
# each kernel's ratio from `T = 1024` to `T = 2048`.
#
# </details>

# %%
device = "cuda" if torch.cuda.is_available() else "cpu"
sizes = [128, 256, 512, 1024, 2048] + ([4096] if FULL else [])


def seconds(fn, repeat=3):
    """The best of `repeat` timed runs, after one warm-up run."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def peak_mib(fn):
    """The high-water mark of memory held by the tensors that `fn` creates, in MiB."""
    if device == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    try:
        from torch.distributed._tools.mem_tracker import MemTracker
    except ImportError:  # a torch without the tracker: time only
        return float("nan")
    tracker = MemTracker()
    with tracker:
        fn()
    return tracker.get_tracker_snapshot("peak")[torch.device("cpu")]["Total"] / 2**20


def measure(kernel, sizes, heads=4, d_head=64):
    times, mems = [], []
    for T in sizes:
        q, k, v = torch.randn(3, 1, heads, T, d_head, device=device).unbind(0)
        with torch.no_grad():
            times.append(seconds(lambda: kernel(q, k, v)))
            mems.append(peak_mib(lambda: kernel(q, k, v)))
    return times, mems


def memory_ratios(cost):
    """Each kernel's peak memory at the largest size over its memory at the size before."""
    return ", ".join(f"{name} x{mems[-1] / mems[-2]:.1f}" for name, (_, mems) in cost.items())


cost = {name: measure(get_attention(name), sizes) for name in ("naive", "sdpa", "online")}
print(f"{'T':>6}" + "".join(f"{name:>22}" for name in cost))
for i, T in enumerate(sizes):
    print(f"{T:>6}" + "".join(f"{cost[n][0][i] * 1e3:>11.1f} ms {cost[n][1][i]:>6.1f} MiB" for n in cost))
print(f"memory from T = {sizes[-2]} to {sizes[-1]}: {memory_ratios(cost)}")


# %%
def plot_cost(cost, sizes):
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.8))
    for name, (times, mems) in cost.items():
        axes[0].plot(sizes, [t * 1e3 for t in times], "o-", label=name)
        axes[1].plot(sizes, mems, "o-", label=name)
    ref = cost["naive"][1][-1] * (torch.tensor(sizes, dtype=torch.float) / sizes[-1]) ** 2
    axes[1].plot(sizes, ref, ":", color="grey", label="∝ T²")
    axes[0].set(xscale="log", yscale="log", xlabel="sequence length T", ylabel="ms per call",
                title=f"time (4 heads, d_head 64, {device})")
    axes[1].set(xscale="log", yscale="log", xlabel="sequence length T", ylabel="MiB", title="peak memory")
    for ax in axes:
        ax.set_xticks(sizes, [str(T) for T in sizes])
        ax.minorticks_off()
        ax.legend()
        ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()


plot_cost(cost, sizes)

# %% [markdown]
# On log-log axes a power law is a straight line whose slope is the exponent. `naive`'s memory runs
# parallel to the `T²` line: each doubling of `T` takes about 4× the memory. `sdpa` and `online` grow
# as `T`, about 2× per doubling: they never hold the `T × T` matrix (`online` builds even its causal
# mask one tile at a time). The ratios printed under the table say so. The *work* is `O(T²)` for all
# three — every query still meets every earlier key — and the times depend on the machine and how busy
# it is. On a GPU, FlashAttention's speed comes from never writing the `T × T` matrix to the GPU's main
# memory and reading it back (Dao et al. 2022).
#
# ## 8. FlashAttention: tiles and the online softmax
#
# The obstacle to working tile by tile is the softmax: each weight `exp(s_j - max) / Σ exp(s_i - max)`
# needs the maximum and the sum over *all* keys. The **online softmax** (Milakov & Gimelshein 2018,
# the heart of FlashAttention, Dao et al. 2022) keeps, for each query, three running quantities while
# it walks over blocks of keys: the largest score so far `m`, the sum `l = Σ exp(s_j - m)`, and the
# output so far `acc = Σ exp(s_j - m) v_j`. When a block raises the maximum from `m` to `m'`,
# everything accumulated so far was relative to the old `m`, so it is rescaled by `exp(m - m')`:
#
# `l' = l · exp(m - m') + Σ_block exp(s_j - m')`  and  `acc' = acc · exp(m - m') + Σ_block exp(s_j - m') v_j`
#
# and at the end `z = acc / l` is exactly `softmax(s) @ v`.
#
# **Exercise** `online_softmax_step(m, l, acc, s, v) -> (m_new, l_new, acc_new)`: one block. For each
# query (leading axes `batch n_heads query_pos`), `m, l: [..., 1]`, `acc: [..., d_head]`, this block's
# scores `s: [..., block_k]` (masked keys `-inf`) and values `v: [batch n_heads block_k d_head]`; return
# the three statistics after the block. Remember a query whose keys so far are all masked: its `m` is
# still `-inf`, and `-inf - (-inf)` is `nan`; it must keep `l = 0` and `acc = 0`. Example: after one key
# with score 0 and value 2 (`m = 0, l = 1, acc = 2`), a key with score `log 3` and value 4 gives
# `m = 1.0986, l = 4/3, acc = 14/3`, and `acc / l = 3.5`, the softmax's `1/4 · 2 + 3/4 · 4`.

# %%
check("ch02.online_softmax_step", ex.online_softmax_step)

# %% [markdown]
# Here is one query streaming over 48 keys in blocks of 8. Top: the scores and the running maximum.
# Bottom: the running answer `acc / l` after each block, with `d_head = 1` so it is one number.

# %% [markdown]
# **Predict:** does the running maximum `m` ever go down from one block to the next? And after the
# last block, how far is `acc / l` from the softmax computed in one go: 1e-2, 1e-6, or exactly 0?
#
# <details><summary>Answer</summary>
#
# Never down: `m` is the largest score seen so far. And `acc / l` matches the one-go answer to float32
# rounding (both print the same 6 decimals; the cell prints the difference too), not to an
# approximation: the online softmax is exact.
#
# </details>

# %%
online_softmax_step = mine_or_reference("ch02.online_softmax_step", ex.online_softmax_step)
gen = torch.Generator().manual_seed(3)
s_row = torch.randn(1, 48, generator=gen) * 2 + torch.linspace(0, 3, 48)  # [query=1, keys]
v_row = torch.randn(48, 1, generator=gen)  # [keys, d_head=1]
m, l, acc = torch.full((1, 1), -math.inf), torch.zeros(1, 1), torch.zeros(1, 1)
ms, answers = [], []
for k0 in range(0, 48, 8):
    m, l, acc = online_softmax_step(m, l, acc, s_row[:, k0 : k0 + 8], v_row[k0 : k0 + 8])
    ms.append(m.item())
    answers.append((acc / l).item())
exact = (s_row.softmax(-1) @ v_row).item()

fig, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
axes[0].plot(range(48), s_row[0], ".", color="grey", label="score s_j")
axes[0].hlines(ms, [k0 - 0.5 for k0 in range(0, 48, 8)], [k0 + 7.5 for k0 in range(0, 48, 8)], color="C3",
               label="running max m after the block")
for k0 in range(0, 48, 8):
    axes[0].axvline(k0 - 0.5, color="k", lw=0.3)
axes[0].set(ylabel="score", title="one query, 48 keys in blocks of 8")
axes[0].legend(loc="upper left")
axes[1].plot([k0 + 8 for k0 in range(0, 48, 8)], answers, "o-", label="acc / l after the block")
axes[1].axhline(exact, color="C2", ls="--", label="softmax(s) @ v, all at once")
axes[1].set(xlabel="keys seen", ylabel="z")
axes[1].legend()
fig.tight_layout()
print("running max after each block:", [round(x, 2) for x in ms])
print(f"after the last block: {answers[-1]:.6f}; all at once: {exact:.6f}; difference {abs(answers[-1] - exact):.1e}")

# %% [markdown]
# Now the whole kernel. For each block of queries, start from `m = -inf, l = 0, acc = 0`, fold in the
# blocks of keys one by one, and finish with `acc / l`. The causal mask is computed per tile from
# positions (never as a `T × T` matrix), and with a causal mask the blocks of keys after a block's
# last query can be skipped entirely: about half the tiles (a prediction below counts them).
#
# **Exercise** `tiled_attention(q, k, v, *, causal=True, scale=None, attn_mask=None, block_q=32,
# block_k=32) -> z`: `q: [batch n_heads query_pos d_head]`, `k, v: [batch n_heads key_pos d_head]`;
# return `z: [batch n_heads query_pos d_head]`, equal to `naive_attention(q, k, v, causal=causal,
# scale=scale, attn_mask=attn_mask)`: the causal mask aligned to the end, `scale` defaulting to
# `1/sqrt(d_head)`, `attn_mask` a boolean mask (`True` = may attend) broadcastable to `[batch n_heads
# query_pos key_pos]`, and zeros for a query that sees no key at all. Example: for `q, k, v` of shape
# `[1, 2, 5, 4]`, `tiled_attention(q, k, v, block_q=2, block_k=3)` equals `naive_attention(q, k, v)`
# to 1e-6. Its signature is the one every minigpt kernel has, so once it passes it can run the model.
# The check compares it with the reference on causal and non-causal cases, fewer queries than keys,
# lengths that are not multiples of the tiles, padding masks, and queries that see no key at all.
# <!-- claim: ch02.tiled_cases -->

# %%
check("ch02.tiled_attention", ex.tiled_attention)

# %% [markdown]
# Proof by comparison: your kernel against `naive` on a few shapes, including the KV-cache case of
# fewer queries than keys and lengths that are not multiples of the tile size.

# %% [markdown]
# **Predict:** a 2,048-token sequence in tiles of 32 × 32 has `64 × 64 = 4,096` tiles. With the causal
# mask, how many does the kernel compute?
#
# <details><summary>Answer</summary>
#
# 2,080 = 1 + 2 + ... + 64: the `i`-th block of queries needs only the first `i` blocks of keys. Just
# over half; the cell counts them by running the kernel's own loops.
#
# </details>

# %%
tiled_attention = mine_or_reference("ch02.tiled_attention", ex.tiled_attention)
for query_pos, key_pos, block in [(100, 100, 32), (37, 37, 16), (5, 83, 16), (1, 50, 8)]:
    q_, k_, v_ = torch.randn(3, 2, 4, key_pos, 16).unbind(0)
    q_ = q_[..., -query_pos:, :]
    ours = tiled_attention(q_, k_, v_, block_q=block, block_k=block)
    torch.testing.assert_close(ours, naive_attention(q_, k_, v_), atol=1e-5, rtol=1e-5)
    print(f"query_pos {query_pos:>3}, key_pos {key_pos:>3}, tiles of {block:>2}: "
          f"max |tiled - naive| = {(ours - naive_attention(q_, k_, v_)).abs().max():.1e}")


def tiles(T, block, causal=True):
    """How many (query block, key block) tiles a tiled kernel computes on T tokens: the kernel's own loops."""
    return sum(len(range(0, min(q0 + block, T) if causal else T, block)) for q0 in range(0, T, block))


print(f"T = 2048, tiles of 32: {tiles(2048, 32):,} tiles with the causal mask, {tiles(2048, 32, causal=False):,} "
      "without")

# %% [markdown]
# Register it under a name and the whole model runs on it: every layer's attention now goes through
# your loops. (`overwrite=True` lets you re-run this cell after editing your kernel.)

# %% [markdown]
# **Predict:** the largest difference between the model's logits on your kernel and on `sdpa`: exactly
# 0, about 1e-5, or about 1e-2?
#
# <details><summary>Answer</summary>
#
# Not 0, but tiny: about 1e-5 with the reference kernel. Both compute the same attention; they add up
# the same numbers in a different order, and float32 rounding differs. The cell asserts it is below
# 1e-4.
#
# </details>

# %%
register_attention("mine", overwrite=True)(tiled_attention)
with torch.no_grad():
    model.set_attention("mine")
    logits_mine = model(windows[:4])
    model.set_attention("sdpa")
    logits_sdpa = model(windows[:4])
print(f"max |logits(mine) - logits(sdpa)| = {(logits_mine - logits_sdpa).abs().max():.1e}")
torch.testing.assert_close(logits_mine, logits_sdpa, atol=1e-4, rtol=1e-4)
model.set_attention("mine")
prompt = model.to_tokens("    def __init__(self")
print(tok.decode(model.generate(prompt, max_new_tokens=60, temperature=0.0)[0, 1:].tolist()))  # after the BOS
_ = model.set_attention("sdpa")

# %% [markdown]
# And its cost, next to the others: with its per-tile masks, your kernel's memory grows as `T`, like
# the fused kernel's (the last line printed gives the ratio per doubling). Its speed depends on the
# tile size and the machine: in plain PyTorch each tile is a handful of separate operations, each
# reading and writing memory. FlashAttention's speed comes from doing all of them inside one GPU
# kernel, in fast on-chip memory (Dao et al. 2022).

# %%
# 128 x 128 tiles: fewer, bigger steps of Python (the 32 x 32 default computes 2,080 tiles at T = 2,048)
cost["mine"] = measure(lambda q, k, v: tiled_attention(q, k, v, block_q=128, block_k=128), sizes)
print("mine:", ", ".join(f"T={T}: {t * 1e3:.0f} ms, {m:.1f} MiB" for T, t, m in zip(sizes, *cost["mine"])))
print(f"memory from T = {sizes[-2]} to {sizes[-1]}: {memory_ratios(cost)}")
plot_cost(cost, sizes)

# %% [markdown]
# ## 9. The KV cache, from the attention side
#
# When a model generates, token `t + 1` is computed from positions `0 .. t`. Without a cache, every
# step recomputes the keys and values of the whole prefix and a `T × T` pattern, to use only its
# last row. But the keys and values of earlier positions never change (the mask stops them from
# seeing later tokens), so they can be kept: each step then computes one query, one key and one
# value, appends the key and value to the cache, and attends with that single query over all the
# keys. No mask is needed: the newest token may see everything before it (this is
# `causal_mask(1, key_pos)`, all `True`).
#
# **Exercise** `kv_cache_step(q, k_new, v_new, k_cache, v_cache, scale=None) -> (z, k_cache, v_cache)`:
# `q, k_new, v_new: [batch n_heads 1 d_head]` (the new token's query, key and value), `k_cache,
# v_cache: [batch n_heads past d_head]` (`past` may be 0). Return the new token's attention output
# `z: [batch n_heads 1 d_head]` over all `past + 1` keys (its own included), and the caches with the
# new key and value appended at the end (`[batch n_heads past+1 d_head]`). Example: with `q = 0` every
# key scores the same, so a cached value `[1, 1]` and a new value `[3, 0]` give `z = [2, 0.5]`, their
# mean, and caches of 2 positions.

# %%
check("ch02.kv_cache_step", ex.kv_cache_step)

# %% [markdown]
# Step by step over our line of code, with layer 0's queries, keys and values, the cached
# computation gives the same `z` as the full pattern computed at once, and the cache ends up
# holding exactly the keys and values minigpt's own `KVCache` keeps for that layer.

# %% [markdown]
# **Predict:** after the last step over our 46-token line, what shape does `k_cache` have?
#
# <details><summary>Answer</summary>
#
# `(1, 4, 46, 32)`: batch 1, 4 heads, one key per position seen, `d_head = 32`. It grows by one
# position per step. The cell prints it.
#
# </details>

# %%
kv_cache_step = mine_or_reference("ch02.kv_cache_step", ex.kv_cache_step)
k_cache, v_cache = k[..., :0, :], v[..., :0, :]  # empty: [batch n_heads 0 d_head]
steps = []
for t in range(q.shape[-2]):
    z_t, k_cache, v_cache = kv_cache_step(q[..., t : t + 1, :], k[..., t : t + 1, :], v[..., t : t + 1, :],
                                          k_cache, v_cache)
    steps.append(z_t)
torch.testing.assert_close(torch.cat(steps, dim=-2), pattern @ v, atol=1e-5, rtol=1e-5)

kv = KVCache.for_model(model, batch=1)
with torch.no_grad():
    model(tokens[:, :20], kv_cache=kv)  # the prompt in one go...
    for t in range(20, tokens.shape[1]):  # ...then one token at a time
        model(tokens[:, t : t + 1], kv_cache=kv)
torch.testing.assert_close(kv.k[0, :, :, : kv.pos], k_cache, atol=1e-5, rtol=1e-5)
print(f"{q.shape[-2]} steps = the full pattern; k_cache: {tuple(k_cache.shape)}; "
      f"minigpt's KVCache holds the same {kv.pos} keys per head")

# %% [markdown]
# What it saves: without the cache, step `t` does `O(t²)` work in attention and re-runs every layer on
# all `t` positions; with it, `O(t)` in attention and one position through the layers. We generate 96
# bytes after a 32-byte prompt (the rest of the 128-byte context), both ways. The cell counts the
# positions the model processes (a hook on the embedding sees each call's tokens) and times both runs:
# the counts are the same on every machine, the times depend on the machine and how busy it is.

# %% [markdown]
# **Predict:** 96 new bytes after a 32-byte prompt. How many positions go through the model with the
# cache, and how many without? Will the two texts be the same?
#
# <details><summary>Answer</summary>
#
# With the cache, 127: the prompt's 32 once, then one position per step for the other 95 steps.
# Without, 7,632 = 32 + 33 + ... + 127: every step re-reads everything. The texts are the same (greedy
# decoding, the same logits). The cell prints it all.
#
# </details>

# %%
prompt = windows[:1, :32]
positions, times, texts = {}, {}, {}


def count_positions(embedded, hook):  # embedded: [batch pos d_model]
    positions[use_cache] += embedded.shape[1]


for use_cache in (True, False):
    positions[use_cache] = 0
    start = time.perf_counter()
    with model.hooks(fwd_hooks=[("hook_embed", count_positions)]):
        texts[use_cache] = model.generate(prompt, max_new_tokens=cfg.n_ctx - 32, temperature=0.0,
                                          use_kv_cache=use_cache)
    times[use_cache] = time.perf_counter() - start
print(f"{cfg.n_ctx - 32} new bytes: {positions[True]:,} positions through the model with the KV cache, "
      f"{positions[False]:,} without (same text: {torch.equal(texts[True], texts[False])})")
print(f"time: {times[True]:.2f} s with the KV cache, {times[False]:.2f} s without")
cache_mib = 2 * gpt2.n_layers * gpt2.n_heads * gpt2.n_ctx * gpt2.d_head * 4 / 2**20
print(f"the price: memory. GPT-2 small's cache at {gpt2.n_ctx:,} tokens holds {cache_mib:.0f} MiB per sequence (fp32)")

# %% [markdown]
# ## Summary
#
# - Attention scores are scaled dot products `q · k / sqrt(d_head)`; without the scale the softmax
#   saturates as heads get wider (entropy → 0, shrinking gradients).
# - The causal mask hides the future; aligned to the end of the keys, it also serves a KV cache.
# - A stable softmax subtracts the row maximum; the *online* softmax does it block by block with a
#   running maximum and a rescaled running sum, which is what lets FlashAttention compute exact
#   attention tile by tile without ever holding the `T × T` pattern: `O(T)` memory instead of `O(T²)`.
# - Heads can be read: a previous-token head is a stripe below the diagonal, and a score finds it; a
#   first-token head parks its attention on the BOS where it has nothing to do (here, at spaces).
# - A KV cache turns each generation step's attention into one query against cached keys.
#
# Next, chapter 3: a previous-token head in layer 0 and a head in layer 1 that uses it make an
# **induction head**, the circuit behind in-context copying.
#
# **References.** Vaswani et al. 2017, *Attention is all you need* (scaled dot-product attention);
# Milakov & Gimelshein 2018, *Online normalizer calculation for softmax*; Vig & Belinkov 2019,
# *Analyzing the structure of attention in a transformer language model*; Elhage et al. 2021, *A
# mathematical framework for transformer circuits*; Olsson et al. 2022, *In-context learning and
# induction heads*; Dao et al. 2022, *FlashAttention*; Xiao et al. 2023, *Efficient streaming language
# models with attention sinks*.
