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

# %%
FULL = False  # True: also measure the cost of attention at 4,096 tokens (a minute more, ~1 GiB of memory)

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

from minigpt import KVCache
from minigpt.attention import get_attention, naive_attention, register_attention
from minigpt.checkpoints import load_checkpoint
from minigpt.data.corpus import stdlib_corpus
from minigpt.grading import check
from minigpt.tokenizer import ByteTokenizer
from minigpt.viz import head_view, plot_attention_pattern, plot_head_grid, plot_head_scores, plot_matrix
from minigpt.workspace import load_exercises, mine_or_reference, setup_notebook

setup_notebook()
torch.manual_seed(0)
ex = load_exercises("ch02_attention")

# %% [markdown]
# ## The model we will look inside
#
# A 2-layer GPT that reads **bytes** (`d_vocab = 256`, one token per byte) and was trained on the
# source code of Python's standard library: chapter 1's model, shipped with minigpt as the checkpoint
# `stdlib-bytes` (its recipe: `minigpt train stdlib-bytes`, two minutes on a CPU). Bytes make every
# position easy to read: a token is one character of code. Like GPT-2, which starts every text with
# `<|endoftext|>`, it saw a beginning-of-sequence token first in every training window (here the
# byte 0, which Python source never contains); `model.to_tokens` puts it in front. We run the model
# on one line of Python and keep every activation in a cache.

# %%
model = load_checkpoint("stdlib-bytes")
tok = ByteTokenizer()
model.set_tokenizer(tok)
cfg = model.cfg
print(f"{cfg.n_layers} layers, {cfg.n_heads} heads of d_head {cfg.d_head}, d_model {cfg.d_model}, "
      f"context {cfg.n_ctx} bytes, {model.n_params(non_embedding=False) / 1e6:.2f}M parameters")



def readable(tokens):
    """Each byte as a label: BOS for the beginning-of-sequence byte, ⏎ for a newline, · for a space."""
    return ["BOS" if t == "\x00" else t.replace("\n", "⏎").replace(" ", "·") for t in model.to_str_tokens(tokens)]


code = 'def greet(name):\n    return "Hello, " + name\n'
tokens = model.to_tokens(code)  # [batch=1, pos]: BOS, then one token per byte
labels = readable(tokens[0])
with torch.no_grad():
    _, cache = model.run_with_cache(tokens)
print(len(labels), "tokens:", " ".join(labels))

# %% [markdown]
# ## 1. Scores: how well each query matches each key
#
# Every head projects each position's residual stream into a **query** `q` ("what am I looking
# for?"), a **key** `k` ("what do I offer?") and a **value** `v` ("what I pass on if chosen"), each
# of size `d_head`. The score of query `i` for key `j` is the dot product `q_i · k_j`, scaled by
# `1/sqrt(d_head)` (section 4 shows why). minigpt's kernels take `[batch n_heads pos d_head]`
# tensors, so the scores are `[batch n_heads query_pos key_pos]`.
#
# **Exercise** `attention_scores(q, k, scale=None)` in `exercises/ch02_attention.py`. A named-axes
# `einops.einsum` makes it one line and keeps the axes straight.

# %%
check("ch02.attention_scores", ex.attention_scores)

# %% [markdown]
# Now compute the scores of layer 0 from the model's own queries and keys, and compare them with
# the scores the model computed (`hook_attn_scores`, where the future is already `-inf`):

# %%
attention_scores = mine_or_reference("ch02.attention_scores", ex.attention_scores)
q, k, v = (cache[name, 0].transpose(1, 2) for name in ("q", "k", "v"))  # [batch n_heads pos d_head]
scores = attention_scores(q, k)
model_scores = cache["attn_scores", 0]
visible = torch.isfinite(model_scores)
torch.testing.assert_close(scores[visible], model_scores[visible])
print("scores:", tuple(scores.shape), "= the model's own on every visible entry")
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
#
# **Exercise** `causal_mask(query_pos, key_pos)`.

# %%
check("ch02.causal_mask", ex.causal_mask)

# %%
causal_mask = mine_or_reference("ch02.causal_mask", ex.causal_mask)
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
# and sum to 1: the **attention pattern**. Written as `exp(s) / sum(exp(s))` it breaks as soon as
# scores are large, because `exp` overflows float32 above about 88.7:

# %%
big = torch.tensor([1000.0, 999.0])
print("exp:", big.exp(), "  naive softmax:", big.exp() / big.exp().sum(), "  torch:", big.softmax(-1))

# %% [markdown]
# Subtracting each row's maximum first changes nothing mathematically (`exp(-max)` cancels between
# numerator and denominator) and makes every exponent `<= 0`. This is how every real softmax is
# computed, and it is the seed of FlashAttention's trick in section 8.
#
# **Exercise** `softmax_stable(scores)`.

# %%
check("ch02.softmax_stable", ex.softmax_stable)

# %% [markdown]
# With your three pieces, the pattern of layer 0 is the model's, exactly:

# %%
softmax_stable = mine_or_reference("ch02.softmax_stable", ex.softmax_stable)
mask = causal_mask(scores.shape[-2], scores.shape[-1])
pattern = softmax_stable(scores.masked_fill(~mask, float("-inf")))
torch.testing.assert_close(pattern, cache["pattern", 0])
torch.testing.assert_close(pattern @ v, naive_attention(q, k, v))  # z: each query's weighted mix of values
print("rows sum to 1:", torch.allclose(pattern.sum(-1), torch.ones(1)), "| pattern == the model's, z == naive's")

# %% [markdown]
# ## 4. Why `1 / sqrt(d_head)`?
#
# If the entries of `q` and `k` are independent with variance 1, `q · k` is a sum of `d_head` such
# products: its variance is `d_head`. Without the scale, wider heads give wider scores, and a softmax
# of wide scores is nearly one-hot: one key takes all the weight. Two things go wrong then: the head
# can no longer *average* over several keys, and the softmax **saturates**: its gradient
# `diag(p) - p pᵀ` vanishes when `p` is one-hot, so the head stops learning. Dividing by
# `sqrt(d_head)` keeps the scores' spread at 1 whatever the head size.
#
# Let us measure it on random queries and keys: first the scores themselves.

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

# %% [markdown]
# How spread out is a pattern? Its **entropy**, `-Σ p log p` over the keys: 0 when one key takes
# everything, `log(n)` when `n` keys share equally.
#
# **Exercise** `pattern_entropy(pattern)`. Mind the masked keys: their weight is exactly 0, and
# `0 * log(0)` is `nan` in floating point although the limit is 0.

# %%
check("ch02.pattern_entropy", ex.pattern_entropy)

# %% [markdown]
# Now the entropy of the pattern, and the size of the gradient that flows back through the softmax
# (for a random upstream gradient), as the head gets wider, with and without the scale:

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
print("entropy, unscaled:", [round(e, 2) for e in rows["entropy"]["unscaled"]])
print("entropy, scaled:  ", [round(e, 2) for e in rows["entropy"]["scaled"]])

# %% [markdown]
# Unscaled, the patterns collapse towards one key (entropy → 0) and the gradient keeps shrinking as
# `d_head` grows; scaled, both stay put whatever the head size. (A trained model can
# still *learn* sharp patterns — by growing `W_Q` and `W_K` where it needs to — but it starts from a
# softmax that passes gradients.)
#
# ## 5. Heads: many patterns at once
#
# A layer runs `n_heads` attention heads side by side, each with its own `W_Q, W_K, W_V, W_O`, so
# each head computes its own pattern and moves its own information; their outputs are added into
# the residual stream. Here is every head of both layers on our line of code (brighter = more
# weight; the rows are queries, the columns keys):

# %%
patterns = torch.stack([cache["pattern", layer][0] for layer in range(cfg.n_layers)])  # [n_layers n_heads q k]
plot_head_grid(patterns, labels, title="every head's pattern on one line of code")

# %% [markdown]
# A heatmap shows all weights at once; the viewer below shows them *as text*: hover a character on the
# left to see where it looks, on the right to see who looks at it; pick the layer and head at the top.

# %%
head_view(patterns, labels, layer=0, head=0, title="stdlib-bytes on one line of Python")

# %% [markdown]
# ## 6. Heads that look at a position: previous-token and first-token heads
#
# Some heads ignore *what* the tokens are and look at *where* they are. The most common: a
# **previous-token head** (query `q` looks at key `q - 1`: a diagonal stripe just below the
# diagonal) and a **first-token head** (every query looks at position 0, a place to "park"
# attention when nothing else is relevant). For a byte-level model a previous-token head is very
# useful: it lets position `q` know the character before it, i.e. build two-character features.
#
# A head's **previous-token score** is the mean weight that queries put on the key just before them.
#
# **Exercise** `prev_token_score(pattern)`.

# %%
check("ch02.prev_token_score", ex.prev_token_score)

# %% [markdown]
# We score every head on 16 windows of standard-library code that the model never saw in training
# (the last 5 % of its corpus, held out), each a BOS byte and 127 bytes of code, along with the
# **first-token score**: the mean weight on key 0, the BOS, leaving out query 0, which has no other
# choice. For comparison, a head that spread its weight evenly over the keys it can see would score
# the average of `1/(q+1)`, printed below.

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
# Local heads show up as curves that peak at small distances.

# %%
distances = range(12)
fig, axes = plt.subplots(1, cfg.n_layers, figsize=(5 * cfg.n_layers, 3.2), sharey=True, squeeze=False)
for L in range(cfg.n_layers):
    p_L = wcache["pattern", L]  # [batch n_heads q k]
    for h in range(cfg.n_heads):
        by_distance = [p_L[:, h].diagonal(offset=-d, dim1=-2, dim2=-1).mean().item() for d in distances]
        axes[0, L].plot(distances, by_distance, "o-", ms=3, label=f"L{L}H{h}")
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

# %%
f_layer, f_head = divmod(int(first.argmax()), cfg.n_heads)
print(f"the strongest first-token head is L{f_layer}H{f_head}: score {first[f_layer, f_head]:.2f}")
plot_attention_pattern(wcache["pattern", f_layer][0, f_head, :40, :40], readable(windows[0, :40]),
                       title=f"L{f_layer}H{f_head} on the first 40 bytes of a window")

# %% [markdown]
# The previous-token head draws the stripe just below the diagonal, and in layer 0 it is rarely
# alone: a small byte-level model spreads "read the last few characters" over several local heads
# (the curves above that peak at distance 1 or 2). A first-token head is subtler: the BOS carries no
# information, so attending to it is a way of doing *nothing*, and a head does that only at the
# positions where it has nothing better to do — look for the rows whose weight sits in the first
# column. In GPT-2 some heads put most of their weight on the first token almost everywhere.
#
# minigpt has these detectors (and the induction score of the next chapter) in
# `minigpt.interp.detectors`; chapter 3 uses a previous-token head as the first half of an
# *induction head*.
#
# ## 7. What attention costs
#
# The naive kernel materialises the scores and the pattern: `batch × n_heads × T × T` numbers each,
# for a sequence of `T` tokens. Time and memory both grow as `T²`. For GPT-2 small (12 heads) at its
# full context of 1,024 tokens, one pattern is 12 × 1024² × 4 bytes = 48 MiB per layer per sequence;
# at 32k tokens it would be 48 GiB. Let us measure three kernels from minigpt's registry on one head
# group of 4 heads × `d_head` 64:
#
# - `naive`: scores, mask, softmax, `pattern @ v`, as you just wrote;
# - `sdpa`: PyTorch's fused `scaled_dot_product_attention` (a FlashAttention kernel on GPUs, a tiled
#   C++ kernel on CPUs);
# - `online`: FlashAttention's algorithm in plain PyTorch (tiles and an online softmax), which you will
#   write yourself in section 8.
#
# Peak memory counts the bytes of every tensor created during the call, at their high-water mark
# (PyTorch's `MemTracker` on a CPU, the CUDA allocator's counter on a GPU); a fused kernel's small
# internal scratch space is not seen.

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


cost = {name: measure(get_attention(name), sizes) for name in ("naive", "sdpa", "online")}
print(f"{'T':>6}" + "".join(f"{name:>22}" for name in cost))
for i, T in enumerate(sizes):
    print(f"{T:>6}" + "".join(f"{cost[n][0][i] * 1e3:>11.1f} ms {cost[n][1][i]:>6.1f} MiB" for n in cost))


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
# parallel to the `T²` line: each doubling of `T` takes 4× the memory. `sdpa` and `online` grow as
# `T`: they never hold the `T × T` matrix. (`online` keeps a boolean `T × T` mask on top, one byte
# per entry, which shows at the largest sizes.) Time is `O(T²)` for all three — every query still
# meets every earlier key — but a fused kernel does it without writing the matrix to memory and
# reading it back, which on a GPU is where the time goes.
#
# ## 8. FlashAttention: tiles and the online softmax
#
# The obstacle to working tile by tile is the softmax: each weight `exp(s_j - max) / Σ exp(s_i - max)`
# needs the maximum and the sum over *all* keys. The **online softmax** keeps, for each query, three
# running quantities while it walks over blocks of keys: the largest score so far `m`, the sum
# `l = Σ exp(s_j - m)`, and the output so far `acc = Σ exp(s_j - m) v_j`. When a block raises the
# maximum from `m` to `m'`, everything accumulated so far was relative to the old `m`, so it is
# rescaled by `exp(m - m')`:
#
# `l' = l · exp(m - m') + Σ_block exp(s_j - m')`  and  `acc' = acc · exp(m - m') + Σ_block exp(s_j - m') v_j`
#
# and at the end `z = acc / l` is exactly `softmax(s) @ v`.
#
# **Exercise** `online_softmax_step(m, l, acc, s, v)`: one block. Remember a query whose keys so far
# are all masked: its `m` is still `-inf`, and `-inf - (-inf)` is `nan`.

# %%
check("ch02.online_softmax_step", ex.online_softmax_step)

# %% [markdown]
# Here is one query streaming over 48 keys in blocks of 8. Top: the scores and the running maximum
# (it only ever moves up). Bottom: the running answer `acc / l` after each block, with `d_head = 1`
# so it is one number; it lands exactly on the softmax answer computed in one go.

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
print(f"after the last block: {answers[-1]:.6f}; all at once: {exact:.6f}")

# %% [markdown]
# Now the whole kernel. For each block of queries, start from `m = -inf, l = 0, acc = 0`, fold in the
# blocks of keys one by one, and finish with `acc / l`. The causal mask is computed per tile from
# positions (never as a `T × T` matrix), and with a causal mask the blocks of keys after a block's
# last query can be skipped entirely: half the work.
#
# **Exercise** `tiled_attention(q, k, v, *, causal=True, scale=None, attn_mask=None, block_q=32,
# block_k=32)`. Its signature is the one every minigpt kernel has, so once it passes it can run the
# model. The check compares it with the reference on causal and non-causal cases, fewer queries than
# keys, lengths that are not multiples of the tiles, padding masks, and queries that see no key at all.

# %%
check("ch02.tiled_attention", ex.tiled_attention)

# %% [markdown]
# Proof by comparison: your kernel against `naive` on a few shapes, including the KV-cache case of
# fewer queries than keys and lengths that are not multiples of the tile size:

# %%
tiled_attention = mine_or_reference("ch02.tiled_attention", ex.tiled_attention)
for query_pos, key_pos, block in [(100, 100, 32), (37, 37, 16), (5, 83, 16), (1, 50, 8)]:
    q_, k_, v_ = torch.randn(3, 2, 4, key_pos, 16).unbind(0)
    q_ = q_[..., -query_pos:, :]
    ours = tiled_attention(q_, k_, v_, block_q=block, block_k=block)
    torch.testing.assert_close(ours, naive_attention(q_, k_, v_), atol=1e-5, rtol=1e-5)
    print(f"query_pos {query_pos:>3}, key_pos {key_pos:>3}, tiles of {block:>2}: "
          f"max |tiled - naive| = {(ours - naive_attention(q_, k_, v_)).abs().max():.1e}")

# %% [markdown]
# Register it under a name and the whole model runs on it: every layer's attention now goes through
# your loops. (`overwrite=True` lets you re-run this cell after editing your kernel.)

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
# the fused kernel's. (In plain PyTorch each tile is a handful of small operations, so it is not
# fast on a CPU: FlashAttention's speed comes from doing all of this inside one GPU kernel, in fast
# on-chip memory.)

# %%
# 128 x 128 tiles: fewer, bigger steps of Python (the 32 x 32 default makes 2,000 tiles at T = 2,048)
cost["mine"] = measure(lambda q, k, v: tiled_attention(q, k, v, block_q=128, block_k=128), sizes)
print("mine:", ", ".join(f"T={T}: {t * 1e3:.0f} ms, {m:.1f} MiB" for T, t, m in zip(sizes, *cost["mine"])))
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
# **Exercise** `kv_cache_step(q, k_new, v_new, k_cache, v_cache)`.

# %%
check("ch02.kv_cache_step", ex.kv_cache_step)

# %% [markdown]
# Step by step over our line of code, with layer 0's queries, keys and values, the cached
# computation gives the same `z` as the full pattern computed at once — and the cache ends up
# holding exactly the keys and values minigpt's own `KVCache` keeps for that layer:

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
print(f"{q.shape[-2]} steps = the full pattern; minigpt's KVCache holds the same {kv.pos} keys per head")

# %% [markdown]
# What it saves: without the cache, step `t` does `O(t²)` work in attention (and re-runs every
# layer on all `t` positions); with it, `O(t)`. Generating a few hundred bytes shows the difference
# even on this small model:

# %%
prompt = windows[:1, :32]
times, texts = {}, {}
for use_cache in (True, False):
    start = time.perf_counter()
    texts[use_cache] = model.generate(prompt, max_new_tokens=cfg.n_ctx - 32, temperature=0.0, use_kv_cache=use_cache)
    times[use_cache] = time.perf_counter() - start
print(f"{cfg.n_ctx - 32} new bytes: {times[True]:.2f} s with the KV cache, {times[False]:.2f} s without "
      f"(same text: {torch.equal(texts[True], texts[False])})")
gpt2 = dict(n_layers=12, n_heads=12, d_head=64, T=1024)
cache_mib = 2 * gpt2["n_layers"] * gpt2["n_heads"] * gpt2["T"] * gpt2["d_head"] * 4 / 2**20
print(f"the price: memory. GPT-2 small's cache at 1,024 tokens holds {cache_mib:.0f} MiB per sequence (fp32)")

# %% [markdown]
# ## Summary
#
# - Attention scores are scaled dot products `q · k / sqrt(d_head)`; without the scale the softmax
#   saturates as heads get wider (entropy → 0, gradients vanish).
# - The causal mask hides the future; aligned to the end of the keys, it also serves a KV cache.
# - A stable softmax subtracts the row maximum; the *online* softmax does it block by block with a
#   running maximum and a rescaled running sum, which is what lets FlashAttention compute exact
#   attention tile by tile without ever holding the `T × T` pattern: `O(T)` memory instead of `O(T²)`.
# - Heads can be read: a previous-token head is a stripe below the diagonal, and a score finds it.
# - A KV cache turns each generation step's attention into one query against cached keys.
#
# Next, chapter 3: a previous-token head in layer 0 and a head in layer 1 that uses it make an
# **induction head**, the circuit behind in-context copying.
