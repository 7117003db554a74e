"""Chapter 5: finding circuits with interventions: the logit lens, activation and path patching,
causal tracing and ROME.

Fill in every ``raise NotImplementedError(...)`` below. Check each piece as
soon as it is written, in the notebook or a Python shell::

    from minigpt.grading import check
    check("ch05.logit_diff", logit_diff)

and grade the whole file with ``minigpt grade``. ``model`` is a ``minigpt.GPT``:
``model(tokens)`` gives logits ``[batch pos d_vocab]``,
``model.run_with_cache(tokens, names_filter=[...])`` gives ``(logits, cache)`` and
``model.run_with_hooks(tokens, fwd_hooks=[(name, fn)])`` runs with ``fn(activation,
hook=hook_point)`` replacing the activation ``name`` by what it returns
(``hook.name`` is that name). The hook points used here, as in TransformerLens::

    hook_embed                       [batch pos d_model]   the token embeddings
    blocks.{L}.hook_resid_pre        [batch pos d_model]   the residual stream entering block L
    blocks.{L}.hook_resid_post       [batch pos d_model]   ... leaving it
    blocks.{L}.attn.hook_q           [batch pos n_heads d_head]
    blocks.{L}.attn.hook_pattern     [batch n_heads query_pos key_pos]
    blocks.{L}.attn.hook_z           [batch pos n_heads d_head]   each head's output before W_O
    blocks.{L}.mlp.hook_post         [batch pos d_mlp]     the MLP's hidden activation (ROME's key)

IOI prompts come in pairs: ``clean`` (``[batch pos]``, the answer is the indirect object
``io``) and ``corrupted`` (the same length, the repeated name replaced); ``io`` and ``s``
(``[batch]``) are the indirect object's and the subject's token ids, and the answer is
predicted at the last position.

Later pieces may call earlier ones (the patching functions use ``patching_metric``,
``logit_lens`` uses ``accumulated_resid``, ``trace_state`` uses ``noise_subject_hook``).
When grading, each piece is run with the reference versions of the pieces it uses, so
one bug costs the points of one exercise only.
"""

from __future__ import annotations

import functools  # noqa: F401  (yours to use)
import itertools  # noqa: F401  (yours to use)

import einops  # noqa: F401  (yours to use)
import torch
from torch import Tensor

# ---------------------------------------------------------------------------
# The logit lens
# ---------------------------------------------------------------------------


def accumulated_resid(model, tokens: Tensor) -> Tensor:
    """The residual stream before each block and after the last: ``[n_layers + 1, batch, pos, d_model]``.

    ``tokens: [batch, pos]``. Entry ``L < n_layers`` is ``blocks.L.hook_resid_pre`` (entry 0
    is the embeddings); entry ``n_layers`` is the last block's ``hook_resid_post``, the
    stream ``ln_final`` reads. TransformerLens calls it ``cache.accumulated_resid()``.
    """
    # BEGIN SOLUTION
    # HINT: names = resid_pre of every block, then f"blocks.{n_layers - 1}.hook_resid_post"; run_with_cache; torch.stack
    n_layers = model.cfg.n_layers
    names = [f"blocks.{layer}.hook_resid_pre" for layer in range(n_layers)]
    names.append(f"blocks.{n_layers - 1}.hook_resid_post")
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=names)
    return torch.stack([cache[name] for name in names])
    # END SOLUTION


def logit_lens(model, tokens: Tensor) -> Tensor:
    """What the model would predict if it stopped before each block: ``[n_layers + 1, batch, pos, d_vocab]``.

    Read every entry of ``accumulated_resid(model, tokens)`` as the model reads its last
    one: ``ln_final``, then the unembedding (``W_U`` and ``b_U``), then ``log_softmax``
    over the vocabulary. The last entry is the model's own log-probs.
    """
    # BEGIN SOLUTION
    # HINT: model.unembed(model.ln_final(resids)).log_softmax(dim=-1): both modules take any leading axes
    resids = accumulated_resid(model, tokens)  # [n_layers + 1, batch, pos, d_model]
    with torch.no_grad():
        return model.unembed(model.ln_final(resids)).log_softmax(dim=-1)
    # END SOLUTION


# ---------------------------------------------------------------------------
# A metric for IOI
# ---------------------------------------------------------------------------


def logit_diff(logits: Tensor, io: Tensor, s: Tensor, per_prompt: bool = False) -> Tensor:
    """``logit(io) - logit(s)`` at the last position: a 0-d tensor (the mean), or ``[batch]``.

    ``logits: [batch, pos, d_vocab]``; ``io``, ``s``: ``[batch]`` token ids, one per prompt.
    With ``per_prompt=True`` return one difference per prompt, else their mean.

    >>> logits = torch.zeros(2, 3, 4); logits[0, -1, 1] = 2.0; logits[1, -1, 2] = 4.0
    >>> logit_diff(logits, io=torch.tensor([1, 2]), s=torch.tensor([0, 0]), per_prompt=True)
    tensor([2., 4.])
    """
    # BEGIN SOLUTION
    # HINT: rows = torch.arange(batch); logits[rows, -1, io] picks prompt i's own io (logits[:, -1, io] is [batch batch])
    rows = torch.arange(logits.shape[0], device=logits.device)
    diff = logits[rows, -1, io] - logits[rows, -1, s]  # [batch]
    return diff if per_prompt else diff.mean()
    # END SOLUTION


def patching_metric(logits: Tensor, io: Tensor, s: Tensor, clean_diff: float, corrupted_diff: float) -> Tensor:
    """The mean logit difference of ``logits``, rescaled so that the corrupted run gives 0 and the clean run 1.

    ``clean_diff`` and ``corrupted_diff`` are ``logit_diff`` of the clean and the corrupted
    runs (numbers). Returns a 0-d tensor:
    ``(logit_diff(logits) - corrupted_diff) / (clean_diff - corrupted_diff)``.

    >>> logits = torch.zeros(1, 2, 3); logits[0, -1, 0] = 1.5
    >>> patching_metric(logits, io=torch.tensor([0]), s=torch.tensor([1]), clean_diff=2.0, corrupted_diff=1.0)
    tensor(0.5000)
    """
    # BEGIN SOLUTION
    # HINT: (logit_diff(logits, io, s) - corrupted_diff) / (clean_diff - corrupted_diff)
    return (logit_diff(logits, io, s) - corrupted_diff) / (clean_diff - corrupted_diff)
    # END SOLUTION


# ---------------------------------------------------------------------------
# Activation patching
# ---------------------------------------------------------------------------


def act_patch_resid_pre(model, clean: Tensor, corrupted: Tensor, io: Tensor, s: Tensor) -> Tensor:
    """Activation patching of the residual stream: ``[n_layers, pos]``.

    For each layer ``L`` and position ``p``: run the **corrupted** prompts with
    ``blocks.L.hook_resid_pre`` at position ``p`` (every prompt of the batch) set to its
    value on the **clean** prompts, and score the logits with ``patching_metric`` (the
    clean and corrupted logit differences come from unpatched runs). 1 means that one
    state brings the clean answer back. TransformerLens: ``get_act_patch_resid_pre``.
    """
    # BEGIN SOLUTION
    # HINT: a hook that clones resid and sets resid[:, pos] = clean_cache[hook.name][:, pos]; run it on corrupted
    n_layers, n_pos = model.cfg.n_layers, clean.shape[1]
    grid = torch.zeros(n_layers, n_pos)
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(clean, names_filter=lambda name: "hook_resid_pre" in name)
        clean_diff = logit_diff(clean_logits, io, s).item()
        corrupted_diff = logit_diff(model(corrupted), io, s).item()
        for layer in range(n_layers):
            for pos in range(n_pos):
                def patch(resid, hook, pos=pos):  # resid: [batch pos d_model]
                    resid = resid.clone()
                    resid[:, pos] = clean_cache[hook.name][:, pos]
                    return resid

                logits = model.run_with_hooks(corrupted, fwd_hooks=[(f"blocks.{layer}.hook_resid_pre", patch)])
                grid[layer, pos] = patching_metric(logits, io, s, clean_diff, corrupted_diff)
    return grid
    # END SOLUTION


def act_patch_head_out(model, clean: Tensor, corrupted: Tensor, io: Tensor, s: Tensor) -> Tensor:
    """Activation patching of each head's output at every position: ``[n_layers, n_heads]``.

    As :func:`act_patch_resid_pre`, patching one head at a time: in the corrupted run,
    ``blocks.L.attn.hook_z`` (``[batch pos n_heads d_head]``) of head ``h`` takes its
    clean value at every position. TransformerLens: ``get_act_patch_attn_head_out_all_pos``.
    """
    # BEGIN SOLUTION
    # HINT: hook on f"blocks.{layer}.attn.hook_z": z = z.clone(); z[:, :, head] = clean_cache[hook.name][:, :, head]
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    grid = torch.zeros(n_layers, n_heads)
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(clean, names_filter=lambda name: name.endswith("hook_z"))
        clean_diff = logit_diff(clean_logits, io, s).item()
        corrupted_diff = logit_diff(model(corrupted), io, s).item()
        for layer in range(n_layers):
            for head in range(n_heads):
                def patch(z, hook, head=head):  # z: [batch pos n_heads d_head]
                    z = z.clone()
                    z[:, :, head] = clean_cache[hook.name][:, :, head]
                    return z

                logits = model.run_with_hooks(corrupted, fwd_hooks=[(f"blocks.{layer}.attn.hook_z", patch)])
                grid[layer, head] = patching_metric(logits, io, s, clean_diff, corrupted_diff)
    return grid
    # END SOLUTION


def act_patch_head_pattern(model, clean: Tensor, corrupted: Tensor, io: Tensor, s: Tensor) -> Tensor:
    """Activation patching of each head's attention pattern: ``[n_layers, n_heads]``.

    As :func:`act_patch_head_out`, but what is patched is where the head looks: its whole
    pattern ``blocks.L.attn.hook_pattern`` (``[batch n_heads query_pos key_pos]``) takes
    its clean value, while the values it averages stay the corrupted run's.
    TransformerLens: ``get_act_patch_attn_head_pattern_all_pos``.
    """
    # BEGIN SOLUTION
    # HINT: the pattern's heads are its second axis: pattern[:, head] = clean_cache[hook.name][:, head]
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    grid = torch.zeros(n_layers, n_heads)
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(clean, names_filter=lambda name: name.endswith("hook_pattern"))
        clean_diff = logit_diff(clean_logits, io, s).item()
        corrupted_diff = logit_diff(model(corrupted), io, s).item()
        for layer in range(n_layers):
            for head in range(n_heads):
                def patch(pattern, hook, head=head):  # pattern: [batch n_heads query_pos key_pos]
                    pattern = pattern.clone()
                    pattern[:, head] = clean_cache[hook.name][:, head]
                    return pattern

                logits = model.run_with_hooks(corrupted, fwd_hooks=[(f"blocks.{layer}.attn.hook_pattern", patch)])
                grid[layer, head] = patching_metric(logits, io, s, clean_diff, corrupted_diff)
    return grid
    # END SOLUTION


# ---------------------------------------------------------------------------
# Path patching
# ---------------------------------------------------------------------------


def path_patch_to_logits(model, clean: Tensor, corrupted: Tensor, io: Tensor, s: Tensor) -> Tensor:
    """Each head's direct effect on the logits, by path patching: ``[n_layers, n_heads]``.

    For each sender head ``(L, h)``: run the **clean** prompts with every head's output
    ``hook_z`` frozen to its clean value, except the sender's, set to its **corrupted**
    value (MLPs and LayerNorms recompute). Score the logits with ``patching_metric``:
    1 is the clean run; a head whose corrupted output, reaching the logits through no
    other head, lowers the logit difference scores below 1 (Wang et al. 2022).
    """
    # BEGIN SOLUTION
    # HINT: hooks on every hook_z return clean_cache[hook.name].clone() with the sender's z[:, :, head] from the corrupted cache
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    z_names = [f"blocks.{layer}.attn.hook_z" for layer in range(n_layers)]
    grid = torch.zeros(n_layers, n_heads)
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(clean, names_filter=z_names)
        corrupted_logits, corrupted_cache = model.run_with_cache(corrupted, names_filter=z_names)
        clean_diff = logit_diff(clean_logits, io, s).item()
        corrupted_diff = logit_diff(corrupted_logits, io, s).item()
        for layer in range(n_layers):
            for head in range(n_heads):
                def freeze(z, hook, sender=z_names[layer], head=head):  # every head clean but the sender
                    z = clean_cache[hook.name].clone()
                    if hook.name == sender:
                        z[:, :, head] = corrupted_cache[hook.name][:, :, head]
                    return z

                logits = model.run_with_hooks(clean, fwd_hooks=[(name, freeze) for name in z_names])
                grid[layer, head] = patching_metric(logits, io, s, clean_diff, corrupted_diff)
    return grid
    # END SOLUTION


def path_patch_to_queries(model, clean: Tensor, corrupted: Tensor, io: Tensor, s: Tensor,
                          receivers: list[tuple[int, int]]) -> Tensor:
    """Each earlier head's effect through the receivers' queries alone: ``[min receiver layer, n_heads]``.

    ``receivers``: ``(layer, head)`` pairs (the name movers, say). For each sender head
    ``(L, h)`` in a layer before the first receiver's:

    1. cache every head's ``hook_z`` on the clean and on the corrupted prompts;
    2. run the clean prompts with every head frozen clean except the sender, set to its
       corrupted value (as in :func:`path_patch_to_logits`), and keep the receivers'
       queries ``blocks.L.attn.hook_q`` (``[batch pos n_heads d_head]``);
    3. run the clean prompts again with only the receivers' queries (every position) set
       to those of step 2, and score the logits with ``patching_metric``.
    """
    # BEGIN SOLUTION
    # HINT: step 2 caches f"blocks.{L}.attn.hook_q" of the receivers' layers under model.hooks(fwd_hooks=freezing hooks)
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    z_names = [f"blocks.{layer}.attn.hook_z" for layer in range(n_layers)]
    q_heads: dict[str, list[int]] = {}
    for layer, head in receivers:
        q_heads.setdefault(f"blocks.{layer}.attn.hook_q", []).append(head)
    n_senders = min(layer for layer, _ in receivers)
    grid = torch.zeros(n_senders, n_heads)
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(clean, names_filter=z_names)
        corrupted_logits, corrupted_cache = model.run_with_cache(corrupted, names_filter=z_names)
        clean_diff = logit_diff(clean_logits, io, s).item()
        corrupted_diff = logit_diff(corrupted_logits, io, s).item()
        for layer in range(n_senders):
            for head in range(n_heads):
                def freeze(z, hook, sender=z_names[layer], head=head):
                    z = clean_cache[hook.name].clone()
                    if hook.name == sender:
                        z[:, :, head] = corrupted_cache[hook.name][:, :, head]
                    return z

                with model.hooks(fwd_hooks=[(name, freeze) for name in z_names]):
                    _, sent = model.run_with_cache(clean, names_filter=list(q_heads))

                def patch(q, hook):  # q: [batch pos n_heads d_head]
                    q = q.clone()
                    for receiver in q_heads[hook.name]:
                        q[:, :, receiver] = sent[hook.name][:, :, receiver]
                    return q

                logits = model.run_with_hooks(clean, fwd_hooks=[(name, patch) for name in q_heads])
                grid[layer, head] = patching_metric(logits, io, s, clean_diff, corrupted_diff)
    return grid
    # END SOLUTION


def circuit_faithfulness(model, tokens: Tensor, io: Tensor, s: Tensor, circuit: list[tuple[int, int]],
                         mean_tokens: Tensor) -> float:
    """The share of the logit difference the circuit keeps when every other head is mean-ablated.

    ``circuit``: the ``(layer, head)`` pairs kept. Every other head's ``hook_z`` is
    replaced by its mean over the prompts ``mean_tokens`` (``[n, pos]``, the same length
    as ``tokens``; e.g. the corrupted prompts), one mean per position. Returns a float:
    ``logit_diff`` with the ablation divided by ``logit_diff`` of the intact model, both
    on ``tokens``.
    """
    # BEGIN SOLUTION
    # HINT: means[L] = mean_cache[f"blocks.{L}.attn.hook_z"].mean(dim=0) is [pos n_heads d_head]; z[:, :, h] = means[L][:, h]
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    kept = {(int(layer), int(head)) for layer, head in circuit}
    z_names = [f"blocks.{layer}.attn.hook_z" for layer in range(n_layers)]
    with torch.no_grad():
        _, mean_cache = model.run_with_cache(mean_tokens, names_filter=z_names)

        def ablate(z, hook, layer):  # z: [batch pos n_heads d_head]
            z = z.clone()
            for head in range(n_heads):
                if (layer, head) not in kept:
                    z[:, :, head] = mean_cache[hook.name][:, :, head].mean(dim=0)
            return z

        hooks = [(name, functools.partial(ablate, layer=layer)) for layer, name in enumerate(z_names)]
        ablated = logit_diff(model.run_with_hooks(tokens, fwd_hooks=hooks), io, s)
        return (ablated / logit_diff(model(tokens), io, s)).item()
    # END SOLUTION


# ---------------------------------------------------------------------------
# Causal tracing
# ---------------------------------------------------------------------------


def noise_subject_hook(embed: Tensor, positions: list[int], noise: float, seed: int, hook=None) -> Tensor:
    """A ``hook_embed`` hook that adds Gaussian noise to the subject's token embeddings.

    ``embed: [batch, pos, d_model]``. Draw ``torch.randn(batch, len(positions), d_model,
    generator=torch.Generator().manual_seed(seed))``, scale it by ``noise`` (the standard
    deviation ν) and add it at the subject's ``positions``; leave every other position
    alone. Each prompt of the batch gets its own draw. Return a new tensor. Use it as
    ``functools.partial(noise_subject_hook, positions=[1, 2], noise=0.3, seed=0)``.
    """
    # BEGIN SOLUTION
    # HINT: eps = noise * torch.randn(batch, len(positions), d_model, generator=gen); embed = embed.clone(); embed[:, positions] += eps
    gen = torch.Generator().manual_seed(seed)
    eps = noise * torch.randn(embed.shape[0], len(positions), embed.shape[-1], generator=gen)
    embed = embed.clone()
    embed[:, positions] += eps.to(embed.device, embed.dtype)
    return embed
    # END SOLUTION


def trace_state(model, tokens: Tensor, positions: list[int], answer: int, layer: int, position: int, noise: float,
                samples: int = 4, seed: int = 0) -> float:
    """``P(answer)`` of the noised run with one clean state restored (Meng et al. 2022).

    ``tokens: [pos]``, one prompt; ``positions``: the subject's positions in it. Run
    ``samples`` copies of the prompt with ``noise_subject_hook(positions, noise, seed)`` on
    ``hook_embed``, and with ``blocks.{layer}.hook_resid_post`` at ``position`` set to its
    value in the clean (un-noised) run. Return the probability of ``answer`` at the last
    position, averaged over the copies, as a float.
    """
    # BEGIN SOLUTION
    # HINT: batch = tokens[None].expand(samples, -1); softmax the last position's logits, take column answer, mean
    name = f"blocks.{layer}.hook_resid_post"
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens[None], names_filter=[name])

        def restore(resid, hook):  # resid: [samples pos d_model]
            resid = resid.clone()
            resid[:, position] = cache[name][0, position]
            return resid

        corrupt = functools.partial(noise_subject_hook, positions=positions, noise=noise, seed=seed)
        logits = model.run_with_hooks(tokens[None].expand(samples, -1),
                                      fwd_hooks=[("hook_embed", corrupt), (name, restore)])
        return logits[:, -1].softmax(dim=-1)[:, answer].mean().item()
    # END SOLUTION


# ---------------------------------------------------------------------------
# ROME
# ---------------------------------------------------------------------------


def rome_key(model, layer: int, contexts: Tensor, positions: list[int]) -> Tensor:
    """ROME's key ``k*``: the MLP's hidden activation at the subject's last token, averaged: ``[d_mlp]``.

    ``contexts: [n, pos]``: the prompt behind ``n`` different prefixes (right-padded);
    ``positions[i]``: where the subject's last token sits in row ``i``. Read
    ``blocks.{layer}.mlp.hook_post`` (``[n, pos, d_mlp]``) at those positions and average
    over the rows.
    """
    # BEGIN SOLUTION
    # HINT: post[torch.arange(n), positions] is [n d_mlp] (post[:, positions] would be [n n d_mlp]); mean over dim 0
    name = f"blocks.{layer}.mlp.hook_post"
    with torch.no_grad():
        _, cache = model.run_with_cache(contexts, names_filter=[name])
    rows = torch.arange(contexts.shape[0])
    return cache[name][rows, torch.as_tensor(positions)].mean(dim=0)
    # END SOLUTION


def rome_update(W_out: Tensor, b_out: Tensor, C: Tensor, k_star: Tensor, v_star: Tensor) -> Tensor:
    """ROME's rank-one update of an MLP's output matrix: ``delta_W [d_mlp, d_model]``.

    ``W_out: [d_mlp, d_model]`` and ``b_out: [d_model]`` (the MLP writes ``k @ W_out +
    b_out``); ``C: [d_mlp, d_mlp]``, the keys' uncentred covariance ``E[k kᵀ]``;
    ``k_star: [d_mlp]``, ``v_star: [d_model]``. With ``u = C⁻¹ k*`` and
    ``Λ = (v* - k* W_out - b_out) / (u · k*)``, return ``outer(u, Λ)``: then
    ``k* @ (W_out + delta_W) + b_out = v*``, and keys unlike ``k*`` (as ``C`` measures)
    change least (Meng et al. 2022, eq. 2).
    """
    # BEGIN SOLUTION
    # HINT: u = torch.linalg.solve(C, k_star) (that is C⁻¹ k*, without forming the inverse); torch.outer(u, lam)
    u = torch.linalg.solve(C, k_star)  # [d_mlp]
    lam = (v_star - k_star @ W_out - b_out) / (u @ k_star)  # [d_model]
    return torch.outer(u, lam)
    # END SOLUTION


def edit_metrics(edited_logits: Tensor, paraphrase_logits: Tensor, neighbour_logits: Tensor,
                 neighbour_targets: Tensor, new: int, old: int) -> tuple[float, float, float]:
    """How an edit went, from the edited model's logits at the last position: ``(efficacy, paraphrase, neighbourhood)``.

    ``edited_logits: [d_vocab]`` on the edited prompt; ``paraphrase_logits: [n_para, d_vocab]``
    on other wordings of it; ``neighbour_logits: [n_facts, d_vocab]`` on facts about other
    subjects, whose answers are ``neighbour_targets: [n_facts]``; ``new`` and ``old``: the
    edited fact's new and old answers. Return three floats: **efficacy** 1.0 if the new
    answer beats the old one on the edited prompt, else 0.0; **paraphrase**, the fraction of
    paraphrases where it does; **neighbourhood**, the fraction of other facts whose top
    answer is still their target (CounterFact's measures, Meng et al. 2022).
    """
    # BEGIN SOLUTION
    # HINT: efficacy = float(edited_logits[new] > edited_logits[old]); the others are means of boolean tensors (.float().mean())
    efficacy = float(edited_logits[new] > edited_logits[old])
    paraphrase = (paraphrase_logits[:, new] > paraphrase_logits[:, old]).float().mean().item()
    neighbourhood = (neighbour_logits.argmax(dim=-1) == neighbour_targets).float().mean().item()
    return efficacy, paraphrase, neighbourhood
    # END SOLUTION
