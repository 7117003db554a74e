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
# # Chapter 5 — Interventions
#
# Chapters 3 and 4 read circuits that the training data planted. This chapter *finds* circuits in two
# small language-like models, with the causal methods interpretability uses on real ones: change
# one thing inside the model, rerun it, and measure what moves.
#
# - The **logit lens** (nostalgebraist, 2020) and the **tuned lens** (Belrose et al., 2023): read the
#   residual stream halfway through, as if the model stopped there.
# - **Activation patching** and **path patching** (Wang et al., 2022, *Interpretability in the Wild*):
#   run the model on a prompt with one activation taken from another prompt, and find the heads
#   that do indirect-object identification ("When Mary and John went to the store, John gave a
#   drink to" → "Mary").
# - **Causal tracing** and **ROME** (Meng et al., 2022, *Locating and Editing Factual Associations in
#   GPT*): find the hidden states that carry a fact, then rewrite the fact with a rank-one change of
#   one MLP's weights.
#
# The papers worked on GPT-2, whose weights cannot be downloaded here. minigpt ships two small
# models trained for this chapter, and every claim below is what *these* models measurably do; where
# it differs from what the papers report for GPT-2, the chapter says so.
#
# - **`facts`** recalls 1,200 invented facts about 300 invented people ("Ivo van Pellow speaks"
#   → "Welsh"); `minigpt train facts` rebuilds it.
# - **`ioi`** completes IOI sentences; `minigpt train ioi` rebuilds it.
#
# Your code goes in `exercises/ch05_interventions.py`; each piece is checked right after it is
# introduced, and later cells use yours once it passes.
#
# | exercise | what | difficulty |
# | --- | --- | --- |
# | `accumulated_resid`, `logit_lens` | the residual stream at every layer, read as an answer | 1, 1 |
# | `logit_diff`, `patching_metric` | the IOI metric, 0 for the corrupted run and 1 for the clean | 1, 1 |
# | `act_patch_resid_pre` | activation patching by layer and position | 2 |
# | `act_patch_head_out`, `act_patch_head_pattern` | ... by head: its output, its pattern | 2, 2 |
# | `path_patch_to_logits`, `path_patch_to_queries` | path patching: direct effects, effects through queries | 3, 3 |
# | `circuit_faithfulness` | how much a circuit keeps with everything else ablated | 2 |
# | `noise_subject_hook`, `trace_state` | causal tracing: corrupt the subject, restore one state | 1, 2 |
# | `rome_key`, `rome_update` | ROME's key and its rank-one update | 1, 2 |
# | `edit_metrics` | efficacy, paraphrase, neighbourhood | 1 |

# %%
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

import copy
import functools
import json
import random

import torch
from IPython.display import Markdown, display

from minigpt.checkpoints import load_checkpoint
from minigpt.checkpoints.format import checkpoint_path
from minigpt.data import facts as F
from minigpt.data import ioi
from minigpt.data.ioi import ioi_batch
from minigpt.grading import check
from minigpt.interp import (TunedLens, apply_ln_final, causal_trace, edit_metrics as score_edit, mlp_key_covariance,
                            path_patch, residual_stack, rome_edit, rome_update as lib_rome_update)
from minigpt.viz import (causal_trace_view, logit_lens_view, model_view, patching_heatmap, plot_causal_trace,
                         plot_curves, plot_matrix, plot_patching)
from minigpt.workspace import load_exercises, mine_or_reference, setup_notebook

setup_notebook()
torch.manual_seed(0)
torch.set_num_threads(1)  # these models are small: one thread is the fastest on a shared CPU
ex = load_exercises("ch05_interventions")

# %% [markdown]
# ## 1. The logit lens: at which layer does the answer appear?
#
# The `facts` model has 4 layers, `d_model = 128`, 4 heads, MLPs of 512 neurons and a word-level
# vocabulary of 152 words (the cell below prints its config and training run). Its world: 300 people
# named by two or three words (a first name, sometimes `van`, `de` or `al`, a surname), each with four
# facts drawn at random: where they live, their job, the language they speak, the instrument they
# play (12 possible answers each). A fact can only be remembered, never guessed, and neither the
# first name nor the surname alone tells it: each is shared by about ten people.
#
# Every relation can be asked in five wordings (*frames*); one per relation never appears in
# training, so it tests paraphrase (`minigpt.data.facts`, whose docstring lists them).

# %%
facts_model = load_checkpoint("facts")  # the factual-recall model
fcfg = facts_model.cfg
facts_run = json.loads((checkpoint_path("facts") / "train.json").read_text())
print(f"facts: {fcfg.n_layers} layers x {fcfg.n_heads} heads, d_model {fcfg.d_model}, d_mlp {fcfg.d_mlp}, "
      f"vocabulary {fcfg.d_vocab} words, tied embeddings: {fcfg.tie_embeddings}; trained {facts_run['step']:,} "
      f"steps ({facts_run['cpu_s']:.0f} s of CPU, one thread): {facts_run['command']}")
print(f"recall (greedy next word): {F.recall_accuracy(facts_model, 'train'):.1%} of the facts in the four trained "
      f"wordings, {F.recall_accuracy(facts_model, 'test'):.1%} in the held-out one")
person = F.fact_table()[0].subject
for relation in F.RELATIONS:
    for frame in F.frames(relation.name, "all"):
        text = F.prompt(person, relation.name, frame)
        guess = facts_model.to_string([int(facts_model(facts_model.to_tokens(text))[0, -1].argmax())])
        held = "  (held out)" if frame in F.frames(relation.name, "test") else ""
        print(f"  {text!r:52} -> {guess!r}{held}")
    break

# %% [markdown]
# The model reads its answer off the **residual stream** at the last position, after the last block:
# `ln_final`, then the unembedding. The stream is a running sum, each block adding to it, so we can
# read it *before* each block in the same way and ask what the model would answer if it stopped
# there: the **logit lens** (nostalgebraist, 2020).
#
# **Exercise `accumulated_resid(model, tokens) -> Tensor`**: return the residual stream at every
# block boundary, `[n_layers + 1, batch, pos, d_model]` for `tokens [batch, pos]`. Entry `L` is
# `blocks.L.hook_resid_pre` (so entry 0 is the embeddings) and the last entry is the last block's
# `hook_resid_post`, the stream `ln_final` reads (TransformerLens: `cache.accumulated_resid()`).
# For example, a 4-layer model with `d_model = 128` on `tokens [2, 9]` returns `[5, 2, 9, 128]`,
# and `out[0]` equals `cache["hook_embed"] + cache["hook_pos_embed"]`.

# %%
check("ch05.accumulated_resid", ex.accumulated_resid)

# %% [markdown]
# **Exercise `logit_lens(model, tokens) -> Tensor`**: read every snapshot of
# `accumulated_resid(model, tokens)` as the model reads its last one, and return the log-probs
# `[n_layers + 1, batch, pos, d_vocab]`: `model.ln_final`, then `model.unembed` (`W_U` and `b_U`),
# then `log_softmax` over the vocabulary. Entry `L` is what the model would predict if it stopped
# before block `L`. E.g. the last entry equals `model(tokens).log_softmax(-1)`, and the whole result
# equals `minigpt.interp.logit_lens(model, tokens)`.

# %%
check("ch05.logit_lens", ex.logit_lens)

# %% [markdown]
# We ask 64 facts in the first wording (`"Alba Brakmor lives in"`) and read the lens at each
# prompt's last token.
#
# **Predict:** the `facts` model ties its unembedding to its embedding (`W_U = W_Eᵀ`). What will the
# logit lens read off entry 0, the embeddings alone, at each position?
#
# <details><summary>Answer</summary>
#
# The input token itself: the embedding of a word is closest to its own row of `W_U`. At every
# position of the 64 prompts the lens's top word at entry 0 is the word that is already there (the
# cell below prints the fraction), which says nothing about the next word.
#
# </details>

# %% [markdown]
# **Predict:** at which entry does the right answer first become the lens's top guess?
#
# <details><summary>Answer</summary>
#
# Only at the end, after the last block (entry 4): before blocks 1, 2 and 3 the right object is the
# top guess for only a minority of the facts. But already before block 1 almost every top guess is
# an object *of the right relation*: a city after `lives in`, a job after `works as a`. The model
# knows early which kind of answer comes, and picks the person's own at the end (the cell prints
# both fractions).
#
# </details>

# %%
logit_lens = mine_or_reference("ch05.logit_lens", ex.logit_lens)
lens_facts = random.Random(1).sample(F.fact_table(), 64)
lens_prompts = [F.prompt(f.subject, f.relation) for f in lens_facts]
lens_tokens = facts_model.to_tokens(lens_prompts)  # [64 pos], right-padded with BOS
rows = torch.arange(len(lens_facts))
last = torch.tensor([len(facts_model.to_str_tokens(p)) - 1 for p in lens_prompts])  # each prompt's last token
answers = torch.tensor([facts_model.to_tokens(f.object, prepend_bos=False)[0, 0] for f in lens_facts])
objects_of = {r.name: facts_model.to_tokens(" ".join(r.objects), prepend_bos=False)[0] for r in F.RELATIONS}

lens = logit_lens(facts_model, lens_tokens)  # [n_layers + 1, 64, pos, d_vocab]
real = torch.arange(lens_tokens.shape[1])[None] <= last[:, None]  # [64 pos]: positions before the padding
print(f"entry 0 (the embeddings): the top word is the input word itself at "
      f"{(lens[0].argmax(-1) == lens_tokens)[real].float().mean():.0%} of the positions")


def lens_table(lens):
    """Per entry, at the last token: the right object's probability, top-1 right, top-1 of the right relation."""
    at_last = lens[:, rows, last]  # [n_layers + 1, 64, d_vocab]
    top = at_last.argmax(-1)  # [n_layers + 1, 64]
    right_kind = torch.stack([torch.isin(top[:, i], objects_of[f.relation]) for i, f in enumerate(lens_facts)], 1)
    return {"P(answer)": at_last[:, rows, answers].exp().mean(1), "top-1 right": (top == answers).float().mean(1),
            "top-1 of the relation": right_kind.float().mean(1)}


logit_table = lens_table(lens)
print("entry:                  " + "  ".join(f"{name:>7}" for name in [f"L{i}" for i in range(fcfg.n_layers)] + ["out"]))
for name, values in logit_table.items():
    print(f"{name:24}" + "  ".join(f"{v:7.2f}" for v in values.tolist()))

# %% [markdown]
# One prompt in the lens viewer: a row per entry (`L0` reads the stream entering block 0, `out` is
# the model's own output), a column per input word, each cell the lens's top next word coloured by
# its probability; hover a cell for the top 10.

# %%
lens_prompt = lens_prompts[0]
logit_lens_view(facts_model, lens_prompt, lens=logit_lens(facts_model, facts_model.to_tokens(lens_prompt)))

# %% [markdown]
# ## 2. The tuned lens: a translator per layer
#
# The logit lens assumes every layer writes in the basis the unembedding reads. Nothing forces that:
# entry 0 reads the current word, not a prediction, and the middle of the stream may hold the answer
# in a form the unembedding does not read directly. The **tuned lens** (Belrose et al., 2023) gives
# each entry `L < n_layers` an affine *translator* `h ↦ h W_L + b_L`, trained (the model frozen) to
# make the lens's distribution match the model's final one: it minimises `KL(final ‖ lens_L)` over
# the tokens of a corpus. `W_L` starts as the identity and `b_L` at zero, so before training it *is*
# the logit lens.
#
# The cell below trains one on 256 rows of the model's training text, 150 Adam steps (a few seconds;
# the paper trains on far more tokens), and measures both lenses on the same 64 facts.
#
# **Predict:** before block 0, at the last token of `"Alba Brakmor lives in"`, the stream holds the
# word `in` and its position, nothing else. Will the tuned lens find the right city there?
#
# <details><summary>Answer</summary>
#
# No. No translator can recover who the person is from the word `in`: the best it can do is guess a
# city, right about one time in twelve. Its top-1 accuracy at entry 0 stays near that chance level,
# while its KL to the final distribution falls far below the logit lens's (the cell prints both).
#
# </details>

# %% [markdown]
# **Predict:** before the last block (entry 3), will the tuned lens get more facts right than the
# logit lens?
#
# <details><summary>Answer</summary>
#
# Yes: the translator of entry 3 reads part of the answer the unembedding cannot read directly, and
# its top-1 accuracy is higher than the logit lens's there (the cell below prints both rows). It is
# still far from the model's own 100 %: the last block adds the answer, it does not just translate it.
#
# </details>

# %%
lens_corpus = F.facts_batch(torch.Generator().manual_seed(7), 256)  # [256 48]: training-like text
tuned = TunedLens.for_model(facts_model)
tuned_losses = tuned.fit(facts_model, lens_corpus, steps=150, batch_size=16, lr=1e-3, seed=0)
with torch.no_grad():
    tuned_lens = tuned(facts_model, lens_tokens)  # [n_layers + 1, 64, pos, d_vocab]
tuned_table = lens_table(tuned_lens)


def kl_at_real(lens):  # KL(final || lens) per entry, over the real (unpadded) positions of the 64 prompts
    final = lens[-1]
    return ((final.exp() * (final - lens)).sum(-1))[:, real].mean(-1)


print("entry:                       " + "  ".join(f"{n:>6}" for n in [f"L{i}" for i in range(fcfg.n_layers)] + ["out"]))
for name, table_of in (("logit lens", logit_table), ("tuned lens", tuned_table)):
    print(f"{name} top-1 right          " + "  ".join(f"{v:6.2f}" for v in table_of["top-1 right"].tolist()))
for name, lp in (("logit lens", lens), ("tuned lens", tuned_lens)):
    print(f"{name} KL(final || lens)    " + "  ".join(f"{v:6.2f}" for v in kl_at_real(lp).tolist()))
plot_curves({"tuned lens training loss (mean KL over entries 0-3)": (list(range(len(tuned_losses))), tuned_losses)},
            x_label="step", y_label="nats", title="the tuned lens's translators, trained on the facts model")

# %%
logit_lens_view(facts_model, lens_prompt, lens=tuned, title="tuned lens: the top next word at each layer")

# %% [markdown]
# So, in the `facts` model, the answer to "at which layer does the answer appear?" is: the *kind* of
# answer early, the answer itself only in the last block. Section 7 finds, by intervening, which
# part of that block writes it. Both lenses are readouts, not interventions: a lens shows what a
# linear map can read off a layer, not what the model uses.

# %% [markdown]
# ## 3. IOI: a metric between two prompts
#
# **Indirect-object identification** (IOI): "When Mary and John went to the store, John gave a drink
# to" → "Mary". Two people are introduced, one of them (the *subject*, S) is named again, and the
# answer is the other one, the *indirect object* (IO). Wang et al. (2022) found the circuit GPT-2
# small uses for it, 26 heads in 7 classes; the best known are the **name movers**, late heads that
# attend from the last token to IO and copy it into the logits, and the **S-inhibition** heads
# upstream, which tell the name movers' queries *not* to attend to S.
#
# The `ioi` model was trained on sentences in the style of Wang et al.'s templates (both name orders,
# ABBA and BABA, and distractor clauses such as ", who was tired,") mixed with filler text
# (`minigpt.data.ioi`). Its **test split** holds out three templates and a fifth of the name pairs:
# a model that memorised would fail there. `ioi_batch(n, seed, split)` gives test prompts as `clean`
# and `corrupted` (`[batch, pos]`), with `io` and `s` (`[batch]`, the two names' token ids). The
# corrupted prompt is Wang et al.'s "ABC" prompt: S's second mention is replaced by a third name C,
# so no name is repeated and nothing says which of the first two is the answer.
#
# The conventions of this chapter's IOI exercises: the answer is predicted at the last position; a
# hook is `fn(activation, hook)` and returns the new activation; `hook.name` is its hook point.

# %%
ioi_model = load_checkpoint("ioi")  # the IOI model
icfg = ioi_model.cfg
ioi_run = json.loads((checkpoint_path("ioi") / "train.json").read_text())
print(f"ioi: {icfg.n_layers} layers x {icfg.n_heads} heads, d_model {icfg.d_model}, MLPs: "
      f"{'none (attention only)' if icfg.attn_only else icfg.d_mlp}, vocabulary {icfg.d_vocab} words; trained "
      f"{ioi_run['step']:,} steps ({ioi_run['cpu_s']:.0f} s of CPU, one thread): {ioi_run['command']}")
test = ioi_batch(64, seed=0, split="test")  # 64 held-out prompts (random templates and distractors)
for key in ("clean", "corrupted"):
    print(f"{key:9}: {' '.join(ioi_model.to_str_tokens(test[key][0]))!r}")
print(f"io: {ioi_model.to_string([int(test['io'][0])])!r}, s: {ioi_model.to_string([int(test['s'][0])])!r}")

# %% [markdown]
# **Exercise `logit_diff(logits, io, s, per_prompt=False) -> Tensor`**: `logits [batch, pos, d_vocab]`,
# `io` and `s` `[batch]`. For each prompt `i`, the difference `logits[i, -1, io[i]] - logits[i, -1, s[i]]`
# at the last position; return them all (`[batch]`) when `per_prompt=True`, else their mean (a 0-d
# tensor). E.g. with `logits = torch.zeros(2, 3, 4)`, `logits[0, -1, 1] = 2.0`, `logits[1, -1, 2] = 4.0`,
# `io = [1, 2]`, `s = [0, 0]`: `tensor([2., 4.])` per prompt, `tensor(3.)` otherwise.

# %%
check("ch05.logit_diff", ex.logit_diff)

# %% [markdown]
# **Predict:** on the 64 held-out test prompts (templates and name pairs never seen in training), is
# the mean logit difference `logit(IO) - logit(S)` positive, and is IO above S on nearly every prompt?
#
# <details><summary>Answer</summary>
#
# Yes to both: the logit difference is large and positive, and IO beats S on (nearly) every prompt.
# The cell below prints the mean, the share of prompts where IO wins, and the same on training
# prompts for comparison. <!-- claim: ch05.ioi_works -->
#
# </details>

# %% [markdown]

# %% [markdown]
# **Predict:** on the corrupted (ABC) prompts, what will the logit difference be, and will the model
# answer C, the third name, which stands where S's second mention stood?
#
# <details><summary>Answer</summary>
#
# Near 0: IO and S are each named once, and nothing tells them apart; the model's top answer is IO
# about as often as S. And almost never C: the model has learnt not to answer the name it just read
# before the verb (section 5 shows how). The cell below prints the shares.
# <!-- claim: ch05.abc_prompt -->
#
# </details>

# %%
logit_diff = mine_or_reference("ch05.logit_diff", ex.logit_diff)
train = ioi_batch(64, seed=0, split="train")
with torch.no_grad():
    test_clean_logits, test_corrupted_logits = ioi_model(test["clean"]), ioi_model(test["corrupted"])
    train_logits = ioi_model(train["clean"])
for name, logits, batch in (("test, clean", test_clean_logits, test), ("train, clean", train_logits, train),
                            ("test, corrupted", test_corrupted_logits, test)):
    per_prompt = logit_diff(logits, batch["io"], batch["s"], per_prompt=True)
    print(f"{name:16}: mean logit difference {per_prompt.mean():6.2f}; IO above S on {(per_prompt > 0).float().mean():.0%}")
top = test_corrupted_logits[:, -1].argmax(-1)  # the corrupted run's top answer
shares = {key: (top == test[key]).float().mean() for key in ("io", "s", "c")}
print(f"corrupted run's top answer: IO {shares['io']:.0%}, S {shares['s']:.0%}, C {shares['c']:.0%}, "
      f"another word {1 - sum(shares.values()):.0%} (a fourth name from a distractor clause, or a name not in the prompt)")

# %% [markdown]
# To compare interventions, Wang et al. rescale the logit difference so that the corrupted run scores
# 0 and the clean run 1: a patched run at 0.5 has recovered half of the difference between them.
#
# **Exercise `patching_metric(logits, io, s, clean_diff, corrupted_diff) -> Tensor`**: return the mean
# logit difference of `logits` rescaled so that the corrupted run scores 0 and the clean run 1, a
# 0-d tensor: `(logit_diff(logits, io, s) - corrupted_diff) / (clean_diff - corrupted_diff)`;
# `clean_diff` and `corrupted_diff` are the (unpatched) runs' logit differences, as numbers. E.g. a
# mean logit difference of 1.5 with `clean_diff = 2.0` and `corrupted_diff = 1.0` gives `tensor(0.5000)`.

# %%
check("ch05.patching_metric", ex.patching_metric)

# %% [markdown]
# ## 4. Activation patching: which states carry the answer?
#
# **Activation patching** runs the model on the corrupted prompt with one activation taken from the
# clean run, and scores the result with `patching_metric`: a state that brings the metric back to 1
# carries everything the clean run needed. (The other direction, a clean run with one corrupted
# activation, asks which states the answer *needs*; path patching, next section, works that way.)
#
# For patching by position every prompt must have its words at the same places: the cell below
# draws 16 test prompts of one held-out template without distractors. IO and S1 swap places with the
# name order (ABBA or BABA), so the x labels call the first two names `A/B`; `S2` (S's second
# mention, the only word the corrupted prompt changes) and the last word are the same for every row.
#
# **Exercise `act_patch_resid_pre(model, clean, corrupted, io, s) -> Tensor`**: activation patching of
# the residual stream; return `[n_layers, pos]`. For each layer `L` and position `p`, run the
# **corrupted** prompts with `blocks.L.hook_resid_pre` at position `p` (every prompt of the batch) set
# to its value on the **clean** prompts, and score the logits with `patching_metric` (clean and
# corrupted logit differences from unpatched runs). E.g. for a 3-layer model and prompts of 15 tokens
# that differ only at position 7, the result is `[3, 15]` and its row 0 is 1 at position 7 and 0
# everywhere else (before block 0, only that token differs); it equals
# `minigpt.interp.get_act_patch_resid_pre(model, corrupted, clean_cache, metric)`.

# %%
check("ch05.act_patch_resid_pre", ex.act_patch_resid_pre)

# %% [markdown]
# **Predict:** in the grid, which cells can be non-zero at all? (Think of which positions differ
# between the prompts, and which positions a causal model lets them reach.)
#
# <details><summary>Answer</summary>
#
# Only `S2` and the positions after it: before `S2` the two prompts are identical, so patching there
# changes nothing. Row 0 is exactly 1 at `S2` (the whole difference is that word) and 0 elsewhere.
#
# </details>

# %% [markdown]

# %% [markdown]
# **Predict:** by the stream entering the last layer, where will the information have moved: still at
# `S2`, or at the last word, where the answer is read?
#
# <details><summary>Answer</summary>
#
# Neither, at first: entering block 1, the whole effect sits on the word right *after* `S2` (the verb,
# `gave`); entering block 2 most of it is still there and part has reached the last word. The cell
# prints each row. <!-- claim: ch05.resid_moves -->
#
# </details>

# %%
act_patch_resid_pre = mine_or_reference("ch05.act_patch_resid_pre", ex.act_patch_resid_pre)
patch = ioi_batch(16, seed=1, split="test", template=ioi.HELD_OUT_FRAMES[0], distractors=(0, 0))
args = (ioi_model, patch["clean"], patch["corrupted"], patch["io"], patch["s"])
labels = ioi_model.to_str_tokens(patch["clean"][0])
for pos, role in ((int(patch["io_pos"][0]), "A/B"), (int(patch["s1_pos"][0]), "A/B"), (int(patch["s2_pos"][0]), "S2")):
    labels[pos] = role
resid_grid = act_patch_resid_pre(*args)  # [n_layers pos]
S2, END = int(patch["s2_pos"][0]), patch["clean"].shape[1] - 1
elsewhere = [pos for pos in range(END + 1) if pos not in (S2, S2 + 1, END)]
print(" ".join(ioi_model.to_str_tokens(patch["clean"][0])))
for layer in range(icfg.n_layers):
    print(f"entering block {layer}: S2 {resid_grid[layer, S2]:.2f}, the word after S2 {resid_grid[layer, S2 + 1]:.2f}, "
          f"the last word {resid_grid[layer, END]:.2f}, elsewhere at most {resid_grid[layer, elsewhere].abs().max():.2f}")
patching_heatmap(resid_grid, x_labels=labels, title="activation patching: resid_pre, corrupted run, one clean state")

# %% [markdown]
# **Exercise `act_patch_head_out(model, clean, corrupted, io, s) -> Tensor`**: as
# `act_patch_resid_pre`, one head at a time; return `[n_layers, n_heads]`. In the corrupted run, head
# `h`'s output `blocks.L.attn.hook_z` (`[batch, pos, n_heads, d_head]`, so `z[:, :, h]`) takes its clean
# value at every position; score with `patching_metric`. E.g. a 3-layer, 4-head model gives `[3, 4]`,
# equal to `minigpt.interp.get_act_patch_attn_head_out_all_pos(model, corrupted, clean_cache, metric)`.

# %%
check("ch05.act_patch_head_out", ex.act_patch_head_out)

# %% [markdown]
# **Exercise `act_patch_head_pattern(model, clean, corrupted, io, s) -> Tensor`**: as
# `act_patch_head_out`, but patch only *where* the head looks: its whole pattern
# `blocks.L.attn.hook_pattern` (`[batch, n_heads, query_pos, key_pos]`, so `pattern[:, h]`) takes its
# clean value while the values it averages stay corrupted. Return `[n_layers, n_heads]`. E.g. a head
# whose pattern is the same on both prompts (one that looks only at BOS, say) scores exactly 0; the
# result equals `minigpt.interp.get_act_patch_attn_head_pattern_all_pos(model, corrupted, clean_cache, metric)`.

# %%
check("ch05.act_patch_head_pattern", ex.act_patch_head_pattern)

# %% [markdown]
# **Predict:** patching one head's output brings back the part of the answer that flows through it.
# Will one head alone bring the metric back to about 1?
#
# <details><summary>Answer</summary>
#
# Yes, one: L0H1, in layer 0, brings back the whole difference. Whatever `S2` changes goes on through
# that head. In the later layers the effect is shared among several heads, none above one half.
# The cell prints both grids. <!-- claim: ch05.head_out -->
#
# </details>

# %% [markdown]
# **Predict:** will patching the heads' *patterns* (where they look) bring back as much as patching
# their outputs?
#
# <details><summary>Answer</summary>
#
# No: patching the patterns brings back almost nothing (every entry within 0.02 of 0). The heads look
# at the same places whichever name is repeated; what differs is what they read there.
# <!-- claim: ch05.patterns_nothing -->
#
# </details>

# %%
act_patch_head_out = mine_or_reference("ch05.act_patch_head_out", ex.act_patch_head_out)
act_patch_head_pattern = mine_or_reference("ch05.act_patch_head_pattern", ex.act_patch_head_pattern)
head_out_grid, head_pattern_grid = act_patch_head_out(*args), act_patch_head_pattern(*args)  # [n_layers n_heads]
torch.set_printoptions(precision=2, sci_mode=False)
print("each head's output patched (clean into corrupted):\n", head_out_grid)
print("each head's pattern patched:\n", head_pattern_grid)
plot_patching(torch.cat([head_out_grid, head_pattern_grid], dim=1), kind="layer_head",
              x_labels=[f"out H{h}" for h in range(icfg.n_heads)] + [f"pattern H{h}" for h in range(icfg.n_heads)],
              title="activation patching per head: its output (left), its pattern (right)")

# %% [markdown]
# ## 5. Path patching: which heads talk to the logits, and which to them?
#
# Activation patching a head measures its *total* effect, through every later component. **Path
# patching** (Wang et al., 2022) keeps one path: the sender's change may reach the receiver only
# directly, through no other head. It works the other way round, on the clean run: corrupt the sender,
# freeze every other head at its clean output, and see how far the metric falls from 1. With the
# logits as the receiver it finds the heads that write the answer themselves, the *output heads* (in
# GPT-2, the name movers).
#
# **Exercise `path_patch_to_logits(model, clean, corrupted, io, s) -> Tensor`**: each head's direct
# effect on the logits; return `[n_layers, n_heads]`. For each sender head `(L, h)`, run the **clean**
# prompts with every head's `hook_z` frozen to its clean value, except the sender's, set to its
# **corrupted** value (MLPs and LayerNorms recompute); score with `patching_metric`: 1 means the head
# does not matter by this path, lower means its corrupted output hurts the answer directly. E.g. for
# the last layer's heads, which reach the logits through no other head, the row equals plain
# activation patching the other way round (the clean run with that one head corrupted); each entry
# equals `minigpt.interp.path_patch(model, clean, corrupted, [(L, h)], "logits", metric, receiver_input="resid")`.

# %%
check("ch05.path_patch_to_logits", ex.path_patch_to_logits)

# %% [markdown]
# **Exercise `path_patch_to_queries(model, clean, corrupted, io, s, receivers) -> Tensor`**: each
# earlier head's effect through the receivers' queries alone; `receivers` is a list of `(layer, head)`
# pairs (the name movers, say). Return `[min receiver layer, n_heads]`, one entry per sender in the
# layers before the first receiver. Per sender: (1) cache every head's `hook_z` on both prompts;
# (2) run the clean prompts with every head frozen clean except the sender, corrupted, and keep the
# receivers' queries `blocks.L.attn.hook_q`; (3) run the clean prompts with only the receivers'
# queries (every position) set to those, and score with `patching_metric`. E.g. receivers
# `[(2, 0), (2, 3)]` in a 3-layer, 4-head model give `[2, 4]`; each entry equals
# `minigpt.interp.path_patch(model, clean, corrupted, [(L, h)], receivers, metric, receiver_input="q")`.

# %%
check("ch05.path_patch_to_queries", ex.path_patch_to_queries)

# %% [markdown]
# **Predict:** which heads will have a direct effect on the logits (a path-patching score well below
# 1): heads of every layer, or of the later layers only?
#
# <details><summary>Answer</summary>
#
# Of layers 1 and 2 only: three heads (L1H2, L2H0, L2H2) each carry 15 % or more of the gap by their
# direct path, L2H0 the most; no layer-0 head writes to the logits directly. The cell lists them.
# <!-- claim: ch05.output_heads -->
#
# </details>

# %% [markdown]
# **Predict:** in GPT-2, Wang et al. (2022) report *name movers*: heads that attend from the last
# token to IO and copy it. From the last word, where will this model's output heads look: at IO, at
# S, or elsewhere?
#
# <details><summary>Answer</summary>
#
# Elsewhere: at the word right after `S2` (`gave`), and almost not at all at IO or S. They are not
# name movers. Their direct logit attribution (the second cell below) says what they do instead: they
# push the logit of S *down* and leave IO's where it is. <!-- claim: ch05.output_heads_look -->
#
# </details>

# %%
path_patch_to_logits = mine_or_reference("ch05.path_patch_to_logits", ex.path_patch_to_logits)
to_logits = path_patch_to_logits(*args)  # [n_layers n_heads]
direct = 1 - to_logits  # the share of the clean-corrupted gap each head's direct path carries
OUTPUT_HEADS = [(layer, head) for layer in range(icfg.n_layers) for head in range(icfg.n_heads)
                if direct[layer, head] >= 0.15]
print("path patching to the logits (1 = no direct effect):\n", to_logits)
print("heads whose direct path carries >= 15 % of the gap:", [f"L{l}H{h} ({direct[l, h]:.2f})" for l, h in OUTPUT_HEADS])
plot_patching(direct, kind="layer_head", title="direct effect on the logits: 1 - path patching score")

# %%
with torch.no_grad():
    _, pattern_cache = ioi_model.run_with_cache(patch["clean"], names_filter=lambda name: name.endswith("hook_pattern"))
n_rows = torch.arange(len(patch["clean"]))


def looks_at(layer: int, head: int, query: str = "end") -> dict[str, float]:
    """Mean attention of a head from the last word (or the word after S2) to IO, S1, S2 and the word after S2."""
    pattern = pattern_cache[f"blocks.{layer}.attn.hook_pattern"][:, head]  # [batch query_pos key_pos]
    q = torch.full_like(n_rows, END) if query == "end" else patch["s2_pos"] + 1
    keys = {"IO": patch["io_pos"], "S1": patch["s1_pos"], "S2": patch["s2_pos"], "after S2": patch["s2_pos"] + 1}
    return {key: pattern[n_rows, q, k].mean().item() for key, k in keys.items()}


def show_looks(layer: int, head: int, query: str = "end") -> str:
    return ", ".join(f"{key} {value:.2f}" for key, value in looks_at(layer, head, query).items())


for layer, head in OUTPUT_HEADS:
    print(f"L{layer}H{head}, attention from the last word: {show_looks(layer, head)}")

# %% [markdown]
# What do the output heads write? Their **direct logit attribution** (chapter 3): each head's output at
# the last word, through `ln_final` (its scale frozen) and the unembedding, read on IO's logit and on
# S's, each minus the mean logit of the 50 names (a push on every name alike counts as none), averaged
# over the 64 test prompts of section 3.

# %%
with torch.no_grad():
    _, test_cache = ioi_model.run_with_cache(test["clean"])
stack, components = residual_stack(ioi_model, test_cache)  # [n_components 64 pos d_model]
at_end = apply_ln_final(ioi_model, stack, test_cache)[:, :, -1]  # [n_components 64 d_model]
name_ids = torch.tensor([ioi.tokenizer().encode(name)[0] for name in ioi.NAMES])
to_names = at_end @ ioi_model.W_U[:, name_ids]  # [n_components 64 n_names]
mean_name = to_names.mean(-1)  # [n_components 64]
push_io = (at_end * ioi_model.W_U[:, test["io"]].T).sum(-1) - mean_name  # [n_components 64]
push_s = (at_end * ioi_model.W_U[:, test["s"]].T).sum(-1) - mean_name
for i, name in enumerate(components):  # every head that moves IO or S by half a logit or more
    if max(abs(push_io[i].mean()), abs(push_s[i].mean())) >= 0.5:
        role = " (an output head)" if name in [f"L{l}H{h}" for l, h in OUTPUT_HEADS] else ""
        print(f"{name}{role}: pushes IO by {push_io[i].mean():+.2f}, S by {push_s[i].mean():+.2f} (logits, relative "
              f"to the mean name)")

# %% [markdown]
# Now the heads upstream. With layer 2's output heads as receivers (a receiver comes after its
# senders), path patching through their queries asks which earlier heads tell them where to look (as
# GPT-2's S-inhibition heads do). Your function patches queries; the cell
# also runs `minigpt.interp.path_patch` through their keys and values, for comparison.
#
# **Predict:** will the upstream heads act on the output heads through their queries (where the last
# word looks), or through their keys and values (what it finds where it looks)?
#
# <details><summary>Answer</summary>
#
# Through their values: no head acts through the output heads' queries or keys (every entry within
# 0.02 of 0), two act through their values, L0H1 and L1H0. The output heads look at the same word
# whatever the names; the upstream heads decide what they find there. <!-- claim: ch05.upstream_values -->
#
# </details>

# %% [markdown]
# **Predict:** L0H1 carried the whole effect in activation patching, and the output heads read the
# word after `S2`. Sitting at that word, where will L0H1 look?
#
# <details><summary>Answer</summary>
#
# Back at `S2`, one word before (about half its attention; the rest is spread): it copies the repeated
# name onto the verb, where the output heads read it and push that name down. The cell prints it.
# <!-- claim: ch05.upstream_look -->
#
# </details>

# %%
path_patch_to_queries = mine_or_reference("ch05.path_patch_to_queries", ex.path_patch_to_queries)
RECEIVERS = [(layer, head) for layer, head in OUTPUT_HEADS if layer == max(l for l, _ in OUTPUT_HEADS)]  # layer 2's
to_queries = path_patch_to_queries(*args, RECEIVERS)  # [min receiver layer, n_heads]
with torch.no_grad():
    clean_diff = logit_diff(ioi_model(patch["clean"]), patch["io"], patch["s"]).item()
    corrupted_diff = logit_diff(ioi_model(patch["corrupted"]), patch["io"], patch["s"]).item()
patching_metric = mine_or_reference("ch05.patching_metric", ex.patching_metric)
metric = functools.partial(patching_metric, io=patch["io"], s=patch["s"], clean_diff=clean_diff,
                           corrupted_diff=corrupted_diff)
via = {"q": 1 - to_queries}
for kind in ("k", "v"):
    via[kind] = torch.tensor([[1 - float(path_patch(ioi_model, patch["clean"], patch["corrupted"], [(layer, head)],
                                                    RECEIVERS, metric, receiver_input=kind))
                               for head in range(icfg.n_heads)] for layer in range(to_queries.shape[0])])
for kind, grid in via.items():
    print(f"effect through the receivers' {kind} ({', '.join(f'L{l}H{h}' for l, h in RECEIVERS)}):\n{grid}")
UPSTREAM = sorted({(layer, head) for grid in via.values() for layer, head in (grid >= 0.15).nonzero().tolist()})
print("upstream heads (>= 15 % of the gap through q, k or v):", [f"L{l}H{h}" for l, h in UPSTREAM])
for layer, head in UPSTREAM:
    print(f"L{layer}H{head}, attention from the word after S2: {show_looks(layer, head, 'after')}; from the last word: "
          f"{show_looks(layer, head)}")

# %% [markdown]
# Put together, what the cells above print: L0H1, sitting on the verb after `S2`, copies the repeated
# name there; L1H0 passes it on at the verb (and, at the last word, pushes *both* introduced names up,
# IO and S alike, which is why the ABC corruption, keeping both, does not see it directly); the output
# heads read the verb from the last word and push that name down. They are **S-suppression** heads,
# and the model's answer is "the names of the sentence, minus the repeated one": a circuit of heads
# in sequence, but not GPT-2's.
#
# Every head's pattern on one clean prompt: click a head to open it (L0H1 at the verb, and the output
# heads at the last word, show the looks measured above).

# %%
model_view(ioi_model, " ".join(ioi_model.to_str_tokens(patch["clean"][0])[1:]),
           layer=OUTPUT_HEADS[-1][0], head=OUTPUT_HEADS[-1][1])

# %% [markdown]
# ## 6. Faithfulness: does the circuit do the task alone?
#
# A circuit is a claim: *these* heads do the task. Test it by taking every other head away and
# measuring what is left. "Away" is **mean ablation**: each head outside the circuit outputs its mean
# over the corrupted prompts (per position), so it still writes what it writes on average, but no
# longer anything that depends on which name is repeated.
#
# **Exercise `circuit_faithfulness(model, tokens, io, s, circuit, mean_tokens) -> float`**: mean-ablate
# every head *outside* `circuit` (a list of `(layer, head)` pairs): replace its `hook_z` by its mean
# over the prompts `mean_tokens` (`[n, pos]`, the same length as `tokens`; e.g. the corrupted
# prompts), one mean per position. Return, as a float, the logit difference with the ablation divided
# by the intact model's, both on `tokens`. E.g. a circuit of every head keeps everything: `1.0`;
# `circuit_faithfulness(model, batch["clean"], batch["io"], batch["s"], circuit, batch["corrupted"])`.

# %%
check("ch05.circuit_faithfulness", ex.circuit_faithfulness)

# %% [markdown]
# **Predict:** keep the output heads alone and mean-ablate everything else. How much of the logit
# difference is left?
#
# <details><summary>Answer</summary>
#
# Nothing, or about 0 %: the output heads read at the verb what the upstream heads put there; with
# those mean-ablated, there is nothing name-specific to read. <!-- claim: ch05.faithfulness -->
#
# </details>
#

# %% [markdown]
# **Predict:** keep the whole circuit (output heads and upstream heads). Will it keep at least 80 % of
# the logit difference? And a random set of as many heads?
#
# <details><summary>Answer</summary>
#
# About four fifths: the five heads keep 80 % or more of the logit difference on average over the
# held-out templates, a little less on the hardest one, while random sets of five heads keep a small
# fraction (the text under the cell gives each figure). The other seven heads matter a little, but
# the circuit does most of the task alone. <!-- claim: ch05.circuit_keeps -->
#
# </details>

# %%
circuit_faithfulness = mine_or_reference("ch05.circuit_faithfulness", ex.circuit_faithfulness)
CIRCUIT = sorted(set(OUTPUT_HEADS) | set(UPSTREAM))
all_heads = [(layer, head) for layer in range(icfg.n_layers) for head in range(icfg.n_heads)]
faith = {}
for template in ioi.HELD_OUT_FRAMES:  # each held-out template, 32 prompts, with and without distractors
    for distractors in ((0, 0), (1, 2)):
        batch = ioi_batch(32, seed=2, split="test", template=template, distractors=distractors)
        for name, heads in (("output heads", OUTPUT_HEADS), ("circuit", CIRCUIT), ("no head", [])):
            faith.setdefault(name, []).append(circuit_faithfulness(ioi_model, batch["clean"], batch["io"], batch["s"],
                                                                   heads, batch["corrupted"]))
        randoms = [random.Random(k).sample(all_heads, len(CIRCUIT)) for k in range(3)]
        faith.setdefault("random heads", []).append(sum(
            circuit_faithfulness(ioi_model, batch["clean"], batch["io"], batch["s"], heads, batch["corrupted"])
            for heads in randoms) / len(randoms))
display(Markdown(
    f"The circuit: {', '.join(f'L{l}H{h}' for l, h in CIRCUIT)} ({len(CIRCUIT)} of {len(all_heads)} heads). "
    "Share of the logit difference kept, mean over the 3 held-out templates with and without distractors "
    "(32 prompts each): " + "; ".join(f"{name} {sum(v) / len(v):.1%} (from {min(v):.0%} to {max(v):.0%})"
                                      for name, v in faith.items()) + "."))

# %% [markdown]
# ## 7. Causal tracing: where does the model recall a fact?
#
# Back to the `facts` model. Causal tracing (Meng et al., 2022) runs the model three ways on a prompt
# such as `"Alba Brakmor lives in"`:
#
# 1. **clean**: `p_clean = P(answer)` at the last position;
# 2. **corrupted**: Gaussian noise of standard deviation `ν` added to the subject's token embeddings
#    (`hook_embed`), so the model no longer knows who it is: `p_corrupted`;
# 3. **restored**: the corrupted run again, with one hidden state at `(layer, position)` put back to
#    its clean value: `p_restored[layer, position]`.
#
# A state that brings the probability back carries what the corruption destroyed: the subject, or the
# fact. Its **indirect effect** is `p_restored - p_corrupted`. Following the paper, `ν` is three times
# the standard deviation of the embedding matrix's entries.
#
# **Exercise `noise_subject_hook(embed, positions, noise, seed, hook=None) -> Tensor`**: a `hook_embed`
# hook; `embed [batch, pos, d_model]`. Return a new tensor with Gaussian noise added at the subject's
# `positions` only: `noise * torch.randn(batch, len(positions), d_model,
# generator=torch.Generator().manual_seed(seed))` (`noise` is the standard deviation ν; each prompt
# of the batch gets its own draw). Use it as `functools.partial(noise_subject_hook, positions=[1, 2],
# noise=0.3, seed=0)`. E.g. on `embed = torch.zeros(1, 4, 3)` with `positions=[1, 2]`, positions 0 and 3
# stay 0 and positions 1–2 hold `0.3 * torch.randn(1, 2, 3, generator=torch.Generator().manual_seed(0))`.

# %%
check("ch05.noise_subject_hook", ex.noise_subject_hook)

# %% [markdown]
# **Predict:** with the subject's embeddings noised (`ν = 3σ`), how likely is the right answer, on
# average over 16 facts? Near `p_clean`, near chance (1/12, one of the relation's objects), or near 0?
#
# <details><summary>Answer</summary>
#
# Far below `p_clean`, and close to chance among the relation's 12 objects: with the subject's words
# drowned in noise, the model still knows which relation is asked, but not whose. The cell below
# prints the average of each.
#
# </details>

# %% [markdown]
# **Predict:** in the noised run, what does the model answer instead, mostly: an object of the right
# relation, or anything?
#
# <details><summary>Answer</summary>
#
# An object of the right relation: the relation words are not noised, and (section 1) the model
# knows the kind of answer from them alone. The cell prints the share.
#
# </details>

# %%
noise_subject_hook = mine_or_reference("ch05.noise_subject_hook", ex.noise_subject_hook)
NOISE = 3 * facts_model.W_E.std().item()  # ν = 3σ of the embeddings' entries
trace_facts = random.Random(0).sample(F.fact_table(), 16)
p_clean, p_noised, right_kind = [], [], []
for f in trace_facts:
    tokens = facts_model.to_tokens(F.prompt(f.subject, f.relation))  # [1 pos]
    subject = list(range(1, 1 + len(f.subject.split())))  # the subject's words follow BOS
    answer = facts_model.to_tokens(" " + f.object, prepend_bos=False)[0, 0]
    with torch.no_grad():
        clean_probs = facts_model(tokens)[0, -1].softmax(-1)
        noised = facts_model.run_with_hooks(tokens.expand(8, -1), fwd_hooks=[(
            "hook_embed", functools.partial(noise_subject_hook, positions=subject, noise=NOISE, seed=0))])
    noised_probs = noised[:, -1].softmax(-1)  # [8 d_vocab]: 8 noise draws
    p_clean.append(clean_probs[answer].item())
    p_noised.append(noised_probs[:, answer].mean().item())
    right_kind.append(torch.isin(noised_probs.argmax(-1), objects_of[f.relation]).float().mean().item())
print(f"ν = {NOISE:.3f}; over {len(trace_facts)} facts: mean p_clean {sum(p_clean) / 16:.2f}, mean p_corrupted "
      f"{sum(p_noised) / 16:.2f} (chance among the relation's objects: {1 / 12:.2f}); the noised run's answer is an "
      f"object of the right relation in {sum(right_kind) / 16:.0%} of the draws")

# %% [markdown]
# **Exercise `trace_state(model, tokens, positions, answer, layer, position, noise, samples=4, seed=0) -> float`**:
# one cell of a causal trace. `tokens [pos]` is one prompt and `positions` its subject's positions.
# Run `samples` copies of the prompt with `noise_subject_hook(positions, noise, seed)` on `hook_embed`
# and with `blocks.{layer}.hook_resid_post` at `position` set to its value in the clean (un-noised)
# run; return the probability of `answer` at the last position, averaged over the copies, as a
# float. E.g. restoring the last layer at the last position gives back the clean `P(answer)`; every
# cell equals `minigpt.interp.causal_trace(model, tokens, subject=tokens[positions], answer=answer,
# noise=noise, samples=samples, seed=seed).p_restored[layer, position]`.

# %%
check("ch05.trace_state", ex.trace_state)

# %% [markdown]
# Your `trace_state` gives one cell; `minigpt.interp.causal_trace` computes the whole grid, batched,
# and also restores a sub-layer's output instead of the whole stream (`kind="mlp"` restores
# `hook_mlp_out`, `kind="attn"` `hook_attn_out`; `window=1`: one layer at a time). The cell below
# checks one of its cells against yours, then draws the grid for one fact, the paper's way: tokens
# down (`*` marks the subject), restored layer across.
#
# **Predict:** in the paper's GPT-2 traces, restoring the stream at the subject's last token in the
# early-to-middle layers brings the answer back (Meng et al., 2022). Where will restoring one
# residual state bring it back in the `facts` model: at the subject's words, or at the last token?
#
# <details><summary>Answer</summary>
#
# At the last token, from the middle layers on; restoring one of the subject's words alone does
# little (the other subject word stays noised, and the later layers read both). The grid below and
# the average over 16 facts after it show it.
#
# </details>

# %%
trace_state = mine_or_reference("ch05.trace_state", ex.trace_state)
fact = trace_facts[0]
trace_prompt, trace_answer = F.prompt(fact.subject, fact.relation), " " + fact.object
trace = causal_trace(facts_model, trace_prompt, fact.subject, trace_answer, noise=NOISE, samples=8)
tokens = trace.tokens
mine = trace_state(facts_model, tokens, trace.subject_positions, trace.answer, layer=2,
                   position=len(tokens) - 1, noise=NOISE, samples=8)
print(f"{trace_prompt!r} -> {trace_answer!r}: p_clean {trace.p_clean:.3f}, p_corrupted {trace.p_corrupted:.3f}; "
      f"layer 2, last token restored: yours {mine:.4f}, causal_trace {trace.p_restored[2, -1]:.4f}")
causal_trace_view(trace, facts_model)

# %% [markdown]
# One fact is noisy evidence. The cell below traces 16 facts with each kind of restoration and
# averages the indirect effects over four columns every prompt has: the subject's first word, its
# last word, the word after it, and the prompt's last word.
#
# **Predict:** which single sub-layer output, restored at one position, brings the answer back most:
# an MLP or an attention layer, at which layer and which position?
#
# <details><summary>Answer</summary>
#
# The last MLP (MLP 3) at the last token, by far: attention layers there bring back much less, and
# every MLP at the subject's words little. The site is not where GPT-2's is (the subject's last token,
# in the early-to-middle MLPs, as Meng et al. report): this model lets attention carry the subject's
# words to the last token and looks the fact up there, in its last MLP. The cell below prints the
# grids and names the largest cell. <!-- claim: ch05.trace_site -->
#
# </details>

# %%
COLUMNS = ["subject's first", "subject's last", "word after", "last"]


def mean_trace(kind: str) -> torch.Tensor:
    """``[n_layers, 4]``: indirect effects averaged over ``trace_facts`` at the four columns."""
    grids = []
    for f in trace_facts:
        t = causal_trace(facts_model, F.prompt(f.subject, f.relation), f.subject, " " + f.object, kind=kind,
                         window=1, noise=NOISE, samples=5)
        first, subject_last = t.subject_positions[0], t.subject_positions[-1]
        grids.append(t.effects[:, [first, subject_last, subject_last + 1, -1]])
    return torch.stack(grids).mean(0)


traces = {kind: mean_trace(kind) for kind in ("resid", "mlp", "attn")}
for kind, grid in traces.items():
    layer, column = divmod(int(grid.argmax()), len(COLUMNS))
    print(f"{kind:5}: largest mean indirect effect {grid.max():.2f} at layer {layer}, {COLUMNS[column]} word; at the "
          f"subject's words at most {grid[:, :2].max():.2f}")
fig = plot_matrix(torch.cat([traces[k].T for k in traces], dim=1), x_label="layer (resid | mlp | attn)",
                  y_label="position", title="mean indirect effect over 16 facts: resid, then MLP, then attention",
                  x_ticks=[f"{k[0]}{layer}" for k in traces for layer in range(fcfg.n_layers)], y_ticks=COLUMNS)
fig

# %% [markdown]
# The same fact, restoring MLP outputs one layer at a time:

# %%
plot_causal_trace(causal_trace(facts_model, trace_prompt, fact.subject, trace_answer, kind="mlp", window=1,
                               noise=NOISE, samples=8), facts_model)

# %% [markdown]
# ## 8. Editing a fact with ROME
#
# If MLP 3 at the last token looks the fact up, we can read it as a key-value memory (Meng et al.,
# 2022): the MLP's hidden activation `k = hook_post` (`[d_mlp]`) is a *key*, and `k W_out + b_out`
# (`[d_model]`) the *value* it writes. To make a person recall `o*` instead of `o`:
#
# - the key `k*`: the activation at the edit site, averaged over the prompt behind a few prefixes of
#   ordinary text (so it does not depend on one context);
# - the value `v*`: what the MLP should write there so that the model says `o*` (found by gradient
#   descent on a delta added to the MLP's output, `minigpt.interp.rome_update`);
# - the update: a rank-one change of `W_out` that sends `k*` to `v*` and changes typical keys least.
#
# The paper puts the key at the subject's last token, where GPT-2's trace points. Here the trace
# points at the last token, so we read the key and write the value there (`fact_token="last"`, a
# setting of the authors' code too).
#
# **Exercise `rome_key(model, layer, contexts, positions) -> Tensor`**: ROME's key `k*`, `[d_mlp]`.
# `contexts [n, pos]` is the prompt behind `n` different prefixes (right-padded) and `positions[i]`
# the subject's last token in row `i`. Read the MLP's hidden activation `blocks.{layer}.mlp.hook_post`
# (`[n, pos, d_mlp]`) at those positions and return its mean over the rows. E.g. with one context and
# `positions=[3]` it is `cache[f"blocks.{layer}.mlp.hook_post"][0, 3]`; on `rome_update`'s own contexts
# it equals `minigpt.interp.rome_update(...).key`.

# %%
check("ch05.rome_key", ex.rome_key)

# %% [markdown]
# **Exercise `rome_update(W_out, b_out, C, k_star, v_star) -> Tensor`**: ROME's rank-one update; return
# `delta_W [d_mlp, d_model]` (the shape of `W_out`). `b_out [d_model]`; `C [d_mlp, d_mlp]` is the keys'
# uncentred covariance `E[k kᵀ]`; `k_star [d_mlp]`, `v_star [d_model]`. With `u = C⁻¹ k*`
# (`torch.linalg.solve(C, k_star)`) and `Λ = (v* - k* W_out - b_out) / (u · k*)`, return `outer(u, Λ)`.
# E.g. afterwards `k_star @ (W_out + delta_W) + b_out` equals `v_star`, and with `C` the identity
# `delta_W = outer(k*, v* - k* W_out - b_out) / (k* · k*)`.

# %%
check("ch05.rome_update", ex.rome_update)

# %% [markdown]
# **Exercise `edit_metrics(edited_logits, paraphrase_logits, neighbour_logits, neighbour_targets, new, old) -> (efficacy, paraphrase, neighbourhood)`**:
# from the edited model's last-position logits, return three floats. `edited_logits [d_vocab]` on the
# edited prompt, `paraphrase_logits [n_para, d_vocab]` on other wordings of it, `neighbour_logits
# [n_facts, d_vocab]` on facts about other subjects with answers `neighbour_targets [n_facts]`;
# `new`, `old`: the edited fact's new and old answers. **Efficacy**: 1.0 if `new` beats `old` on the
# edited prompt, else 0.0; **paraphrase**: the fraction of paraphrases where it does;
# **neighbourhood**: the fraction of other facts whose top answer (argmax) is still their target. E.g.
# an edit where `new` beats `old` on the prompt and on 3 of 4 paraphrases, and 9 of 10 neighbours keep
# their answer, returns `(1.0, 0.75, 0.9)`.

# %%
check("ch05.edit_metrics", ex.edit_metrics)

# %% [markdown]
# Now one edit, with your three pieces: `Cyra Ashgrove lives in Cairo` becomes `... lives in Oslo`.
# `C` is measured over 256 rows of training text; `minigpt.interp.rome_update` finds `v*` (and a
# key, to compare with yours); your `rome_update` makes `ΔW`; your `edit_metrics` scores the edited
# copy on the four other wordings (the held-out one among them) and on 40 other people's cities.
#
# **Predict:** will the edited model say `Oslo` in the wordings the edit never saw, and will the 40
# other people keep their cities?
#
# <details><summary>Answer</summary>
#
# Yes to both, on this edit: efficacy 1, paraphrase 1 (all four other wordings), neighbourhood 1
# (every neighbour keeps its city), as the cell prints. <!-- claim: ch05.one_edit -->
#
# </details>

# %% [markdown]
# **Predict:** `ΔW` is rank one, `outer(u, Λ)` with `u = C⁻¹ k*`. A key `k` changes its value by
# `(u · k) / (u · k*)` times the edit. For the keys of ordinary text, will that ratio be near 0 or
# near 1?
#
# <details><summary>Answer</summary>
#
# Near 0 for almost every key: `C⁻¹` turns `k*` towards the directions typical keys do not use. The
# cell prints the share of the corpus's keys with `|ratio| > 0.5`.
#
# </details>

# %%
rome_key = mine_or_reference("ch05.rome_key", ex.rome_key)
my_rome_update = mine_or_reference("ch05.rome_update", ex.rome_update)
my_edit_metrics = mine_or_reference("ch05.edit_metrics", ex.edit_metrics)
SITE = 3  # MLP 3 at the last token, where the trace points
cov = mlp_key_covariance(facts_model, SITE, F.facts_batch(torch.Generator().manual_seed(123), 256))  # [d_mlp d_mlp]
prefixes = F.context_prefixes(8, seed=0)
case = F.edit_case("Cyra Ashgrove", "lives in", "Oslo")
update = lib_rome_update(facts_model, SITE, case.prompt, case.subject, case.new_target, cov, prefixes=prefixes,
                         fact_token="last")

# your key, on the same contexts: the prompt alone, then behind each prefix (after BOS), right-padded
prompt_ids = facts_model.to_tokens(case.prompt)[0]
rows_ctx = [prompt_ids] + [torch.cat([prompt_ids[:1], facts_model.to_tokens(p, prepend_bos=False)[0], prompt_ids[1:]])
                           for p in prefixes]
contexts = torch.zeros(len(rows_ctx), max(map(len, rows_ctx)), dtype=torch.long)
for i, row in enumerate(rows_ctx):
    contexts[i, :len(row)] = row
k_star = rome_key(facts_model, SITE, contexts, [len(row) - 1 for row in rows_ctx])
print(f"your k* vs rome_update's: largest difference {(k_star - update.key).abs().max():.1e}")

mlp = facts_model.blocks[SITE].mlp
C = cov + 1e-6 * cov.diagonal().mean() * torch.eye(fcfg.d_mlp)  # rome_update's ridge: C stays invertible
delta_W = my_rome_update(mlp.W_out.detach(), mlp.b_out.detach(), C, update.key, update.value)
print(f"your ΔW: rank {torch.linalg.matrix_rank(delta_W).item()}, largest difference from rome_update's "
      f"{(delta_W - update.delta_W).abs().max():.1e}")
edited = copy.deepcopy(facts_model)
with torch.no_grad():
    edited.blocks[SITE].mlp.W_out += delta_W


def last_logits(model, prompts):  # [n d_vocab]: each prompt's last-position logits
    with torch.no_grad():
        return torch.stack([model(model.to_tokens(p))[0, -1] for p in prompts])


new, old = (facts_model.to_tokens(t, prepend_bos=False)[0, 0].item() for t in (case.new_target, case.old_target))
neighbour_targets = torch.tensor([facts_model.to_tokens(t, prepend_bos=False)[0, 0] for _, t in case.neighbours])
efficacy, paraphrase, neighbourhood = my_edit_metrics(
    last_logits(edited, [case.prompt])[0], last_logits(edited, case.paraphrases),
    last_logits(edited, [p for p, _ in case.neighbours]), neighbour_targets, new, old)
print(f"{case.prompt!r}: {case.old_target!r} -> {case.new_target!r}: efficacy {efficacy:.2f}, paraphrase "
      f"{paraphrase:.2f} over {len(case.paraphrases)} wordings, neighbourhood {neighbourhood:.2f} over "
      f"{len(case.neighbours)} other people")
for text in case.paraphrases:
    print(f"  edited: {text!r:48} -> {facts_model.to_string([int(last_logits(edited, [text])[0].argmax())])!r}")

with torch.no_grad():
    _, key_cache = facts_model.run_with_cache(lens_corpus[:64], names_filter=f"blocks.{SITE}.mlp.hook_post")
keys = key_cache[f"blocks.{SITE}.mlp.hook_post"].flatten(0, 1)  # [64 * 48, d_mlp]
ratio = (keys @ update.u) / (update.u @ update.key)
print(f"keys of ordinary text: |(u·k)/(u·k*)| > 0.5 for {(ratio.abs() > 0.5).float().mean():.2%} of "
      f"{len(keys):,}; median |ratio| {ratio.abs().median():.3f}")

# %% [markdown]
# One edit can be luck. The cell below makes 8 edits (random facts, random new answers) with
# `minigpt.interp.rome_edit` and scores each with `minigpt.interp.edit_metrics`, which also counts the
# person's *other* facts (their job, language and instrument when the city is edited).
#
# **Predict:** averaged over the 8 edits, will efficacy and paraphrase stay near 1, and will the
# other people's facts drop by more than a few points?
#
# <details><summary>Answer</summary>
#
# Efficacy and paraphrase stay at or near 1, and the neighbourhood hardly moves (a point or less);
# the person's other facts are kept. The text under the cell is written from the run.
#
# </details>

# %% [markdown]
# **Predict:** the paper edits GPT-2 at the subject's last token. Here, at MLP 1 and the subject's
# last token (where the trace found little), will the edit take?
#
# <details><summary>Answer</summary>
#
# Mostly not: the efficacy falls well below 1 and the paraphrase further. The edit has to go where
# the fact is read. The cell after the next one measures it on 4 edits.
#
# </details>

# %%
def edit_scores(layer: int, fact_token: str, n_edits: int, seed: int = 2) -> dict[str, float]:
    """ROME at ``layer`` / ``fact_token`` on ``n_edits`` random facts: mean scores, before and after."""
    layer_cov = cov if layer == SITE else mlp_key_covariance(facts_model, layer, lens_corpus)
    totals = {"efficacy": 0.0, "paraphrase": 0.0, "neighbourhood before": 0.0, "neighbourhood after": 0.0,
              "same person before": 0.0, "same person after": 0.0}
    for i, f in enumerate(random.Random(seed).sample(F.fact_table(), n_edits)):
        c = F.edit_case(f.subject, f.relation, seed=i)
        model_after = rome_edit(facts_model, layer, c.prompt, c.subject, c.new_target, cov=layer_cov,
                                prefixes=prefixes, fact_token=fact_token)
        kw = dict(prompt=c.prompt, new_target=c.new_target, old_target=c.old_target)
        after = score_edit(facts_model, model_after, c.neighbours, paraphrases=c.paraphrases, **kw)
        before = score_edit(facts_model, facts_model, c.neighbours, **kw)
        same_after = score_edit(facts_model, model_after, c.same_subject, **kw)
        same_before = score_edit(facts_model, facts_model, c.same_subject, **kw)
        for name, value in (("efficacy", after.efficacy), ("paraphrase", after.paraphrase),
                            ("neighbourhood before", before.neighbourhood), ("neighbourhood after", after.neighbourhood),
                            ("same person before", same_before.neighbourhood),
                            ("same person after", same_after.neighbourhood)):
            totals[name] += value / n_edits
    return totals


at_site = edit_scores(SITE, "last", 8)
display(Markdown(
    f"ROME at MLP {SITE}, last token, 8 edits: efficacy {at_site['efficacy']:.2f}, paraphrase "
    f"{at_site['paraphrase']:.2f}; other people's facts kept {at_site['neighbourhood after']:.3f} "
    f"(before the edit {at_site['neighbourhood before']:.3f}: a change of "
    f"{100 * (at_site['neighbourhood after'] - at_site['neighbourhood before']):+.1f} points); the person's other "
    f"three facts kept {at_site['same person after']:.2f} (before {at_site['same person before']:.2f})."))

# %%
at_subject = {layer: edit_scores(layer, "subject_last", 4) for layer in (0, 1)}
for layer, scores in at_subject.items():
    print(f"ROME at MLP {layer}, subject's last token, 4 edits: efficacy {scores['efficacy']:.2f}, paraphrase "
          f"{scores['paraphrase']:.2f}, neighbourhood {scores['neighbourhood after']:.3f}, the person's other facts "
          f"kept {scores['same person after']:.2f}")

# %% [markdown]
# ## 9. What an edit breaks
#
# Where the key is read decides what else the edit touches. The cell below reads the figures of the
# last two cells (the text is written from them): at the subject's last token, the MLP's activation
# is the person's *representation*, read by every question about them; at the last token the key
# already holds the question.

# %%
s0, s1 = at_subject[0], at_subject[1]
display(Markdown(
    f"At MLP 1 and the subject's last token, the edit takes in {s1['efficacy']:.0%} of the edits and "
    f"{s1['paraphrase']:.0%} of their paraphrases. At MLP 0 there (the trace's largest MLP effect at the subject's "
    f"words, small as it was) it takes ({s0['efficacy']:.0%}, paraphrases {s0['paraphrase']:.0%}), but the person "
    f"keeps only {s0['same person after']:.0%} of their other three facts: the new answer leaks into them. At the "
    f"traced site (MLP {SITE}, last token) the person keeps {at_site['same person after']:.0%} of them."))

# %% [markdown]
# **Predict:** after one edit at the traced site (MLP 3, last token), how many of the 6,000 prompts
# of the world (every fact in every wording), other than the edited fact's own five, change their
# answer?
#
# <details><summary>Answer</summary>
#
# A handful at most: the cell below counts them and prints which (2 of 5,995 for this edit). They
# need not even be about cities: the edit's rank-one change reaches any key with a component along
# `u`, whatever the question. <!-- claim: ch05.one_edit_side_effects -->
#
# </details>

# %% [markdown]
# **Predict:** ROME edits one fact at a time, each with the covariance of the *unedited* model. After
# ten edits in a row, each on the model the previous one left, how much recall do the facts that were
# not edited lose?
#
# <details><summary>Answer</summary>
#
# Little, but it adds up: recall of the unedited facts falls by a few tenths of a point over the ten
# edits, and the loss on ordinary training text rises slightly, in the third decimal. The cell
# prints both after 1, 3, 5 and 10 edits. <!-- claim: ch05.sequential_edits -->
#
# </details>

# %%
all_facts = [(f, frame) for f in F.fact_table() for frame in F.frames(f.relation, "all")]
all_tokens, all_last, truth = F.recall_prompts("all")  # [6000 pos], [6000], [6000]: the same order as all_facts


def world_answers(model) -> torch.Tensor:  # [6000]: the greedy answer to every prompt of the world
    with torch.no_grad():
        return torch.cat([model(all_tokens[i:i + 1000])[torch.arange(len(all_tokens[i:i + 1000])),
                                                      all_last[i:i + 1000]].argmax(-1)
                          for i in range(0, len(all_tokens), 1000)])


before = world_answers(facts_model)
after = world_answers(edited)
own = torch.tensor([f.subject == case.subject and f.relation == "lives in" for f, _ in all_facts])
changed = ((before != after) & ~own).nonzero().flatten().tolist()
print(f"one edit ({case.prompt!r} -> {case.new_target!r}): {len(changed)} of {len(all_facts) - int(own.sum()):,} "
      f"other prompts change their answer")
for i in changed:
    f, frame = all_facts[i]
    print(f"  {F.prompt(f.subject, f.relation, frame)!r}: {facts_model.to_string([int(before[i])])!r} -> "
          f"{facts_model.to_string([int(after[i])])!r}")

# %%
sequential, edited_so_far = facts_model, set()
text_rows = F.facts_batch(torch.Generator().manual_seed(9), 64)


def text_loss(model) -> float:
    with torch.no_grad():
        logits = model(text_rows)
    return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), text_rows[:, 1:].flatten()).item()


loss_before = text_loss(facts_model)
for i, f in enumerate(random.Random(5).sample(F.fact_table(), 10)):
    c = F.edit_case(f.subject, f.relation, seed=i)
    sequential = rome_edit(sequential, SITE, c.prompt, c.subject, c.new_target, cov=cov, prefixes=prefixes,
                           fact_token="last")
    edited_so_far.add((f.subject, f.relation))
    if i + 1 not in (1, 3, 5, 10):
        continue
    keep = torch.tensor([(g.subject, g.relation) not in edited_so_far for g, _ in all_facts])
    recall = (world_answers(sequential) == truth)[keep].float().mean().item()
    print(f"after {i + 1:2d} edits: recall of the unedited facts {recall:.2%} "
          f"(before any edit {(before == truth)[keep].float().mean():.2%}); loss on training text {text_loss(sequential):.4f} "
          f"(before {loss_before:.4f})")

# %% [markdown]
# ## Summary
#
# - The **logit lens** reads the residual stream as if the model stopped there. In the `facts` model
#   it sees the *kind* of answer from the first block on and the answer itself only after the last;
#   at the embeddings it reads the current word. The **tuned lens** trains a translator per layer and
#   reads more, earlier, but it too is a readout: what a map can decode, not what the model uses.
# - **Activation patching** (corrupted run, one clean state) finds the states that carry the answer;
#   **path patching** (clean run, one corrupted sender, everything else frozen) finds who talks to
#   whom. The `ioi` model does not solve IOI as GPT-2 does: a layer-0 head copies the repeated name
#   onto the verb after it, and later heads read it there from the last word and push that name down;
#   no head copies IO from the last word. Five of its twelve heads keep about four fifths of the
#   logit difference alone.
# - A circuit is tested by **mean-ablating everything else** and measuring the share of the logit
#   difference that is left, against a random set of as many heads.
# - **Causal tracing** puts the `facts` model's recall at the last token, in its last MLP: not at the
#   subject's last token as Meng et al. report for GPT-2. **ROME** at that site changes a fact in
#   every wording and leaves the rest of the world almost untouched; at the subject's token it either
#   fails or drags the person's other facts along. Trace before you edit.
#
# Further: Wang et al. (2022) report 26 heads in 7 classes for IOI in GPT-2 small; Conmy et al.
# (2023, ACDC) automate the search for a circuit; attribution patching (Nanda, 2023; Syed et al.,
# 2023) approximates activation patching with one backward pass; Meng et al. (2023, MEMIT) edit
# thousands of facts at once, spread over several layers; Hase et al. (2023) report that where
# tracing locates a fact does not predict where editing it works best in GPT-J.
