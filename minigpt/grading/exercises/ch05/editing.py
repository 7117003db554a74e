"""Chapter 5 checks: ROME's key, its rank-one update, and the measures of an edit."""

from __future__ import annotations

import functools

import torch

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import random_state, register_exercise

# ---------------------------------------------------------------------------
# rome_key
# ---------------------------------------------------------------------------

_ROME_CFG = dict(n_layers=2, d_model=16, n_heads=2, d_mlp=24, d_vocab=12, n_ctx=10)


def key_cases() -> list[Case]:
    g = torch.Generator().manual_seed(509)
    cases = []
    for cfg, n, pos, positions, layer in ((_ROME_CFG, 4, 8, [2, 3, 5, 4], 0),
                                          (dict(_ROME_CFG, n_layers=3), 3, 7, [4, 2, 3], 1)):
        contexts = torch.randint(0, cfg["d_vocab"], (n, pos), generator=g)
        cases.append(dict(cfg=cfg, state_dict=random_state(g, cfg),
                          calls=[dict(layer=layer, contexts=contexts, positions=positions)]))
    return cases


def _key(model, layer, contexts, positions, *, hook="mlp.hook_post", at="subject", reduce=True):
    name = f"blocks.{layer}.{hook}"
    with torch.no_grad():
        _, cache = model.run_with_cache(contexts, names_filter=[name])
    acts = cache[name]  # [n pos d]
    if at == "cross":  # acts[:, positions]: every listed position of every row, [n n d]
        return acts[:, positions].mean(dim=0)
    rows = torch.arange(contexts.shape[0])
    picked = acts[:, -1] if at == "last" else acts[rows, torch.as_tensor(positions)]  # [n d]
    return picked.mean(dim=0) if reduce else picked


register_exercise(
    id="ch05.rome_key", name="rome_key", title="ROME's key", points=1, difficulty=1,
    hints=["The key is the MLP's hidden activation after its nonlinearity: blocks.{layer}.mlp.hook_post, "
           "[n pos d_mlp].",
           "post[torch.arange(n), positions] picks row i at positions[i] ([n d_mlp]); average over dim 0."],
    make_cases=key_cases,
    mutants=[
        Mutant("pre-activation", "the key was read before the MLP's nonlinearity (mlp.hook_pre); ROME's key is "
               "what W_out multiplies: mlp.hook_post.", functools.partial(_key, hook="mlp.hook_pre")),
        Mutant("mlp-output", "that is the MLP's output ([d_model], the value side); the key is its hidden "
               "activation, mlp.hook_post ([d_mlp]).", functools.partial(_key, hook="hook_mlp_out")),
        Mutant("last-position", "the key was read at each context's last position; read it at the subject's last "
               "token, positions[i] in row i.", functools.partial(_key, at="last")),
        Mutant("every-row-every-position", "post[:, positions] takes every listed position of every row "
               "([n, n, d_mlp]); pair row i with positions[i]: post[torch.arange(n), positions].",
               functools.partial(_key, at="cross")),
        Mutant("not-averaged", "one key per context was returned; ROME uses their mean over the contexts, "
               "[d_mlp].", functools.partial(_key, reduce=False)),
    ],
    kind="model", atol=1e-4, rtol=1e-4,
)


# ---------------------------------------------------------------------------
# rome_update
# ---------------------------------------------------------------------------


def update_cases() -> list[Case]:
    g = torch.Generator().manual_seed(510)
    cases = []
    for d_mlp, d_model in ((6, 4), (8, 5), (5, 3)):
        keys = _randn(g, 4 * d_mlp, d_mlp).relu() + 0.1  # a corpus of non-negative keys, as after a ReLU/GELU
        cases.append(dict(W_out=_randn(g, d_mlp, d_model), b_out=_randn(g, d_model, scale=0.5),
                          C=keys.T @ keys / keys.shape[0], k_star=_randn(g, d_mlp).relu() + 0.2,
                          v_star=_randn(g, d_model, scale=2.0)))
    return cases


def _update(W_out, b_out, C, k_star, v_star, *, u="solve", residual="full", normaliser="u.k", transposed=False):
    u = {"solve": torch.linalg.solve(C, k_star), "k": k_star, "C k": C @ k_star}[u]
    target = {"full": v_star - k_star @ W_out - b_out, "no-bias": v_star - k_star @ W_out, "value": v_star}[residual]
    lam = target / (u @ k_star if normaliser == "u.k" else k_star @ k_star)
    return torch.outer(lam, u) if transposed else torch.outer(u, lam)


register_exercise(
    id="ch05.rome_update", name="rome_update", title="ROME's rank-one update", points=2, difficulty=2,
    hints=["u = torch.linalg.solve(C, k_star) is C⁻¹ k*; the residual the edit must add is "
           "v_star - k_star @ W_out - b_out.",
           "lam = residual / (u @ k_star); return torch.outer(u, lam), [d_mlp, d_model] like W_out. Check: "
           "k_star @ (W_out + delta_W) + b_out equals v_star."],
    make_cases=update_cases,
    mutants=[
        Mutant("no-C-inverse", "u = k* (no C⁻¹): the update still maps k* to v*, but it also moves every key "
               "along k*; ROME uses u = C⁻¹ k*, torch.linalg.solve(C, k_star), to disturb typical keys least.",
               functools.partial(_update, u="k")),
        Mutant("C-not-inverse", "u = C k*; ROME uses the inverse: u = C⁻¹ k*, i.e. torch.linalg.solve(C, k_star).",
               functools.partial(_update, u="C k")),
        Mutant("transposed", "the update is [d_model, d_mlp] (outer(lam, u)); it is added to W_out "
               "[d_mlp, d_model]: torch.outer(u, lam).", functools.partial(_update, transposed=True)),
        Mutant("no-b_out", "b_out was left out of the residual; the MLP writes k @ W_out + b_out, so "
               "lam = (v* - k* W_out - b_out) / (u · k*).", functools.partial(_update, residual="no-bias")),
        Mutant("value-not-residual", "v* itself was spread; the update adds only what is missing: "
               "v* - k* @ W_out - b_out.", functools.partial(_update, residual="value")),
        Mutant("k-dot-k", "lam was divided by k* · k*; divide by u · k* (with u = C⁻¹ k*) so that k* maps "
               "exactly to v*.", functools.partial(_update, normaliser="k.k")),
    ],
    atol=1e-4, rtol=1e-4,
)


# ---------------------------------------------------------------------------
# edit_metrics
# ---------------------------------------------------------------------------


def metrics_cases() -> list[Case]:
    """Logits where "new beats old" and "new is the top answer" disagree, and so do the neighbourhood measures."""
    g = torch.Generator().manual_seed(511)
    cases = []
    for d_vocab, n_para, n_facts, new, old in ((8, 5, 6, 3, 5), (10, 4, 7, 0, 9), (7, 6, 5, 6, 2)):
        edited = _randn(g, d_vocab)
        edited[new], edited[old] = edited.max() - 0.5, edited.max() - 1.0  # new beats old, yet is not the top
        paraphrase = _randn(g, n_para, d_vocab)
        paraphrase[0, new], paraphrase[0, old] = paraphrase[0].max() + 1.0, paraphrase[0].max()  # new on top
        paraphrase[1, new], paraphrase[1, old] = paraphrase[1].max() - 0.5, paraphrase[1].max() - 1.0  # beats old
        paraphrase[2, old] = paraphrase[2, new] + 1.0  # old still wins
        neighbour = _randn(g, n_facts, d_vocab)
        targets = torch.randint(0, d_vocab, (n_facts,), generator=g)
        for i in range(n_facts):
            if i % 3 == 0:  # still answered with its target
                neighbour[i, targets[i]] = neighbour[i].max() + 1.0
            elif i % 3 == 1:  # its target lost the top, yet still beats the new answer
                neighbour[i, targets[i]] = neighbour[i].max() + 0.5
                neighbour[i, (targets[i] + 1) % d_vocab] = neighbour[i, targets[i]] + 1.0
                neighbour[i, new] = neighbour[i, targets[i]] - 2.0 if targets[i] != new else neighbour[i, new]
        cases.append(dict(edited_logits=edited, paraphrase_logits=paraphrase, neighbour_logits=neighbour,
                          neighbour_targets=targets, new=new, old=old))
    return cases


def _metrics(edited_logits, paraphrase_logits, neighbour_logits, neighbour_targets, new, old, *,
             efficacy="beats", paraphrase="beats", neighbourhood="kept", counts=False):
    def beats(logits):
        return logits[..., new] > logits[..., old]

    def top(logits):
        return logits.argmax(dim=-1) == new

    eff = (beats if efficacy == "beats" else top)(edited_logits).float()
    para = (beats if paraphrase == "beats" else top)(paraphrase_logits).float()
    rows = torch.arange(len(neighbour_targets))
    neigh = {"kept": neighbour_logits.argmax(dim=-1) == neighbour_targets,
             "broken": neighbour_logits.argmax(dim=-1) != neighbour_targets,
             "beats-new": neighbour_logits[rows, neighbour_targets] > neighbour_logits[:, new]}[neighbourhood].float()
    if counts:
        return eff.item(), para.sum().item(), neigh.sum().item()
    return eff.item(), para.mean().item(), neigh.mean().item()


register_exercise(
    id="ch05.edit_metrics", name="edit_metrics", title="Efficacy, paraphrase and neighbourhood", points=1,
    difficulty=1,
    hints=["Efficacy and paraphrase compare two logits, new against old (logits[..., new] > logits[..., old]); "
           "neighbourhood asks whether each fact's top answer (argmax) is still its target.",
           "Turn booleans into fractions with .float().mean().item()."],
    make_cases=metrics_cases,
    mutants=[
        Mutant("efficacy-top-1", "efficacy asked whether the new answer is the top one; it asks whether the new "
               "answer beats the old one: edited_logits[new] > edited_logits[old].",
               functools.partial(_metrics, efficacy="top")),
        Mutant("paraphrase-top-1", "paraphrase counted prompts where the new answer is on top; count those where "
               "it beats the old one: logits[:, new] > logits[:, old].",
               functools.partial(_metrics, paraphrase="top")),
        Mutant("neighbourhood-broken", "neighbourhood is the fraction of facts *kept* (top answer still the "
               "target), not of those broken.", functools.partial(_metrics, neighbourhood="broken")),
        Mutant("neighbourhood-beats-new", "neighbourhood here is whether each fact's top answer (argmax) is still "
               "its target, not whether its target beats the new answer.",
               functools.partial(_metrics, neighbourhood="beats-new")),
        Mutant("counts", "paraphrase and neighbourhood are fractions (means), not counts.",
               functools.partial(_metrics, counts=True)),
    ],
)
