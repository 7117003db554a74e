"""ROME: edit one fact by a rank-one update of one MLP's output matrix.

Meng et al. 2022, "Locating and Editing Factual Associations in GPT", §3. Causal tracing
(:mod:`~minigpt.interp.causal_tracing`) finds facts recalled by MLPs at the subject's last
token. ROME reads such an MLP's output matrix as a linear *associative memory*: a key
``k = hook_post`` (the hidden activation, ``[d_mlp]``) is mapped to a value ``k @ W_out + b_out``
(``[d_model]``; ``W_out: [d_mlp, d_model]`` in minigpt). To make subject ``s`` recall
``o*`` instead of ``o``, find

- the **key** ``k*``: the MLP's hidden activation at the subject's last token, averaged over
  the prompt behind a few random prefixes (sampled from the model unless given). Where the
  trace finds the recall at the prompt's *last* token instead (small models can look facts up
  there, once attention has brought the subject over), ``fact_token="last"`` takes the key,
  and adds the delta below, at the last token of each prompt, as the authors' code does with
  its ``fact_token`` setting;
- the **value** ``v*``: what the MLP should write there so that the model says ``o*``.
  ``v* = k* @ W_out + b_out + δ``, with the delta ``δ`` added to ``hook_mlp_out`` at the
  subject's last token in every context (as the authors' code does; the paper writes ``z``
  in place of the output), optimised with Adam to minimise

      mean_prefixes[-log P(o* | prefix + prompt)]
      + kl_factor · KL(P_original || P_edited) at the end of an "essence" prompt ("{subject} is a")
      + weight_decay · ||δ||² / ||k* W_out + b_out||²,

  with ``||δ||`` clamped to ``clamp_norm`` times that norm. The learning rate is relative:
  a step moves ``δ`` by about ``lr · ||k* W_out + b_out||``, whatever the model's scale;
- the **update**: the rank-one ``ΔW = u Λᵀ`` with ``u = C⁻¹ k*`` and ``Λ = (v* - k* W_out - b_out)
  / (u · k*)``, so that ``k* @ (W_out + ΔW) + b_out = v*`` exactly, while any key ``k`` changes
  by ``(u · k) / (u · k*)`` times the edit: least change on keys ``C = E[k kᵀ]`` (the
  *uncentred* covariance of keys over a corpus, :func:`mlp_key_covariance`) says are typical.

:func:`rome_edit` returns an edited copy (the model passed in is never changed);
:func:`~minigpt.interp.edit_metrics.edit_metrics` scores an edit.

>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=2, d_model=16, n_heads=2, d_vocab=12, n_ctx=12, seed=0))
>>> cov = mlp_key_covariance(model, layer=1, tokens=torch.randint(0, 12, (8, 10)))
>>> cov.shape                                                   # [d_mlp d_mlp]
torch.Size([64, 64])
>>> update = rome_update(model, 1, prompt=[1, 2, 3, 4], subject=[3, 4], new_target=7, cov=cov,
...                      prefixes=[[5], [6, 9]], steps=5)
>>> update.delta_W.shape, torch.linalg.matrix_rank(update.delta_W).item()   # [d_mlp d_model], rank one
(torch.Size([64, 16]), 1)
>>> mlp = model.blocks[1].mlp
>>> torch.allclose(update.key @ (mlp.W_out + update.delta_W) + mlp.b_out, update.value, atol=1e-6)  # k* -> v*
True
>>> before = model(torch.tensor([[1, 2, 3, 4]]))
>>> edited = rome_edit(model, 1, [1, 2, 3, 4], subject=[3, 4], new_target=7, cov=cov, prefixes=[[5], [6, 9]],
...                    steps=5)
>>> torch.allclose(edited.blocks[1].mlp.W_out, mlp.W_out + update.delta_W)
True
>>> torch.equal(model(torch.tensor([[1, 2, 3, 4]])), before)     # a copy was edited, not the model
True
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor

from .prompts import TokensLike, as_tokens, subject_positions

__all__ = ["RankOneUpdate", "apply_rank_one", "mlp_key_covariance", "rome_edit", "rome_update"]

FACT_TOKENS = ("subject_last", "last")  # where the key is read: the subject's last token, or the prompt's last


@torch.no_grad()
def mlp_key_covariance(model, layer: int, tokens: Tensor, batch_size: int = 32) -> Tensor:
    """``C = E[k kᵀ]``, the uncentred covariance of MLP ``layer``'s keys (``hook_post``) over ``tokens``.

    ``tokens``: ``[n_seq, pos]`` (or one sequence ``[pos]``); every position counts once.
    Returns ``[d_mlp, d_mlp]`` in fp32.
    """
    if model.cfg.attn_only:
        raise ValueError("an attention-only model has no MLP keys")
    tokens = tokens[None] if tokens.ndim == 1 else tokens
    name = f"blocks.{layer}.mlp.hook_post"
    total, count = torch.zeros(model.cfg.d_mlp, model.cfg.d_mlp, device=model.device), 0
    for start in range(0, tokens.shape[0], batch_size):
        _, cache = model.run_with_cache(tokens[start:start + batch_size].to(model.device), names_filter=name,
                                        return_type=None)
        keys = cache[name].flatten(0, 1).float()  # [n_tokens d_mlp]
        total += keys.T @ keys
        count += keys.shape[0]
    return total / count


@dataclass
class RankOneUpdate:
    """What :func:`rome_update` found: ``W_out += outer(u, lam)``. ``value = key @ W_out + b_out + delta``."""

    layer: int
    key: Tensor  # [d_mlp]: k*
    value: Tensor  # [d_model]: v*
    u: Tensor  # [d_mlp]: C^-1 k*
    lam: Tensor  # [d_model]: (v* - k* W_out - b_out) / (u . k*)
    losses: list[float] = field(default_factory=list)  # the value optimisation's total loss per step

    @property
    def delta_W(self) -> Tensor:  # [d_mlp d_model]
        return torch.outer(self.u, self.lam)


def _bos(model) -> int | None:
    try:
        return model.bos_token_id
    except ValueError:  # no tokenizer or no BOS: token ids are used as given
        return None


def _sample_prefixes(model, n: int, length: int, seed: int) -> list[Tensor]:
    """``n`` prefixes of ``length`` tokens sampled from the model (after its BOS, or a random first token)."""
    gen = torch.Generator().manual_seed(seed)
    bos = _bos(model)
    if bos is not None:
        start = torch.full((n, 1), bos, dtype=torch.long)
    else:
        start = torch.randint(0, model.cfg.d_vocab, (n, 1), generator=gen)
    out = model.generate(start.to(model.device), max_new_tokens=length - (bos is None), temperature=1.0,
                         seed=seed, stop_at_eos=False)
    return list(out[:, 1:] if bos is not None else out)


def _prefixed(model, prompt: Tensor, prefix: Tensor) -> tuple[Tensor, int]:
    """``prefix`` put in front of ``prompt`` (after its BOS token, if it starts with one); and the shift."""
    cut = 1 if prompt[0].item() == _bos(model) else 0
    return torch.cat([prompt[:cut], prefix.to(prompt.device), prompt[cut:]]), len(prefix)


def _pad(rows: list[Tensor]) -> Tensor:
    """Right-padded ``[n, max_len]``: a causal model's earlier positions never see the padding."""
    out = torch.zeros(len(rows), max(len(r) for r in rows), dtype=torch.long, device=rows[0].device)
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out


def _contexts(model, tokens: Tensor, last: int, target: Tensor, prefixes: list[Tensor]) -> tuple[list, list]:
    """The prompt behind each prefix (none first), then the target's tokens but its last; each subject's last token."""
    contexts, lasts = [], []
    for prefix in [torch.zeros(0, dtype=torch.long)] + prefixes:
        context, shift = _prefixed(model, tokens, prefix)
        contexts.append(torch.cat([context, target[:-1]]))
        lasts.append(last + shift)
    return contexts, lasts


def _essence(model, tokens: Tensor, subject: TokensLike, essence_prompt: TokensLike | None) -> Tensor:
    """``essence_prompt``, else ``"{subject} is a"``, else (token ids) the subject alone, after the prompt's BOS."""
    if essence_prompt is not None:
        return as_tokens(model, essence_prompt)
    if isinstance(subject, str):
        return as_tokens(model, f"{subject} is a")
    subject_tokens = as_tokens(model, subject)
    return torch.cat([tokens[:1], subject_tokens]) if tokens[0].item() == _bos(model) else subject_tokens


def _edit_position(model, tokens: Tensor, subject: TokensLike, fact_token: str) -> int:
    """Where the key is read and the delta written: the subject's last token in ``tokens``, or the last token."""
    if fact_token == "last":
        subject_positions(model, tokens, subject)  # the subject must still be in the prompt
        return len(tokens) - 1
    return subject_positions(model, tokens, subject)[-1]


def rome_update(model, layer: int, prompt: TokensLike, subject: TokensLike, new_target: TokensLike, cov: Tensor,
                *, prefixes: Sequence[TokensLike] | None = None, n_prefixes: int = 10, prefix_length: int = 10,
                essence_prompt: TokensLike | None = None, fact_token: str = "subject_last", steps: int = 25,
                lr: float = 0.5, kl_factor: float = 0.0625, weight_decay: float = 0.5, clamp_norm: float = 4.0,
                ridge: float = 1e-6, seed: int = 0) -> RankOneUpdate:
    """Compute ROME's rank-one update of ``blocks[layer].mlp.W_out`` (the model is not changed).

    See :func:`rome_edit` for the arguments; returns a :class:`RankOneUpdate`.
    """
    if model.cfg.attn_only:
        raise ValueError("an attention-only model has no MLP to edit")
    d_mlp = model.cfg.d_mlp
    if cov.shape != (d_mlp, d_mlp):
        raise ValueError(f"cov must be the [d_mlp, d_mlp] = [{d_mlp}, {d_mlp}] key covariance of layer {layer}, "
                         f"got {list(cov.shape)}")
    if fact_token not in FACT_TOKENS:
        raise ValueError(f"fact_token must be one of {FACT_TOKENS}, got {fact_token!r}")
    tokens = as_tokens(model, prompt)
    last = _edit_position(model, tokens, subject, fact_token)  # the subject's last token, or the prompt's
    if layer == model.cfg.n_layers - 1 and last != len(tokens) - 1:
        raise ValueError(f"nothing reads the last layer's MLP output at the subject's last token (position {last}) "
                         f"before the prompt's end (position {len(tokens) - 1}): edit an earlier layer")
    target = as_tokens(model, new_target, prepend_bos=False)
    if prefixes is None:
        prefixes = _sample_prefixes(model, n_prefixes, prefix_length, seed)
    contexts, lasts = _contexts(model, tokens, last, target, [as_tokens(model, p, prepend_bos=False) for p in prefixes])
    essence = _essence(model, tokens, subject, essence_prompt)
    n_ctx, n_target = len(contexts), len(target)
    batch = _pad(contexts + [essence])  # [n_ctx + 1, pos]: the rewriting prompts, then the essence prompt
    rows = torch.arange(n_ctx + 1, device=batch.device)
    edit_pos = torch.tensor(lasts + [_edit_position(model, essence, subject, fact_token)], device=batch.device)
    # target token j of context i is predicted at position len(context) - n_target + j: [n_ctx n_target]
    target_pos = torch.tensor([len(c) - n_target for c in contexts], device=batch.device)[:, None] + torch.arange(
        n_target, device=batch.device)

    # the key: the MLP's hidden activation at the subject's last token (or the prompt's), averaged over the contexts
    key_name, out_name = f"blocks.{layer}.mlp.hook_post", f"blocks.{layer}.hook_mlp_out"
    with torch.no_grad():
        logits, cache = model.run_with_cache(batch, names_filter=key_name)
        key = cache[key_name][rows[:n_ctx], edit_pos[:n_ctx]].float().mean(0)  # [d_mlp]: k*
        mlp = model.blocks[layer].mlp
        value_init = key @ mlp.W_out.float() + mlp.b_out.float()  # [d_model]: what the memory says now
        essence_before = logits[-1, len(essence) - 1].float().log_softmax(-1)  # [d_vocab]

    # the value: a delta on the MLP's output there, making every context say the target
    delta = torch.zeros(model.cfg.d_model, device=model.device, requires_grad=True)
    # Adam moves each coordinate by about its lr: scaled so a step moves delta by about lr * ||value_init||
    opt = torch.optim.Adam([delta], lr=lr * value_init.norm().item() / model.cfg.d_model ** 0.5)
    max_norm = clamp_norm * value_init.norm()

    def add_delta(out: Tensor, hook) -> Tensor:  # out: [n_ctx + 1, pos, d_model]
        out = out.clone()
        out[rows, edit_pos] += delta.to(out.dtype)
        return out

    frozen = [p for p in model.parameters() if p.requires_grad]
    losses = []
    try:
        for p in frozen:
            p.requires_grad_(False)
        for _ in range(steps):
            log_probs = model.run_with_hooks(batch, fwd_hooks=[(out_name, add_delta)]).float().log_softmax(-1)
            nll = -log_probs[rows[:n_ctx, None], target_pos, target[None]].mean()
            essence_now = log_probs[-1, len(essence) - 1]
            kl = (essence_before.exp() * (essence_before - essence_now)).sum()
            loss = nll + kl_factor * kl + weight_decay * delta.pow(2).sum() / value_init.pow(2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                norm = delta.norm()
                if norm > max_norm:
                    delta.mul_(max_norm / norm)
            losses.append(loss.item())
    finally:
        for p in frozen:
            p.requires_grad_(True)

    # the update: u = C^-1 k*, and lam so that k* maps to v* = value_init + delta
    delta = delta.detach()
    cov = cov.to(key.device, torch.float32)
    u = torch.linalg.solve(cov + ridge * cov.diagonal().mean() * torch.eye(d_mlp, device=cov.device), key)
    lam = delta / (u @ key)  # = (v* - k* W_out - b_out) / (u . k*)
    return RankOneUpdate(layer=layer, key=key, value=value_init + delta, u=u, lam=lam, losses=losses)


@torch.no_grad()
def apply_rank_one(model, update: RankOneUpdate):
    """Add ``outer(u, lam)`` to ``blocks[update.layer].mlp.W_out`` in place; returns the model."""
    W_out = model.blocks[update.layer].mlp.W_out  # [d_mlp d_model]
    W_out += update.delta_W.to(W_out.device, W_out.dtype)
    return model


def rome_edit(model, layer: int, prompt: TokensLike, subject: TokensLike, new_target: TokensLike,
              cov: Tensor | None = None, *, cov_tokens: Tensor | None = None, **kwargs):
    """An edited copy of ``model`` whose MLP ``layer`` recalls ``new_target`` for ``subject``.

    ``prompt`` (e.g. ``"The Eiffel Tower is in"``), ``subject`` (``"The Eiffel Tower"``, found
    in the prompt) and ``new_target`` (``" Rome"``) are text or token ids. ``cov``: the key
    covariance of that layer (:func:`mlp_key_covariance`); or ``cov_tokens``, a corpus
    ``[n_seq, pos]`` to compute it from. Keyword arguments (see :func:`rome_update`):
    ``prefixes`` (token ids or text; default ``n_prefixes`` sampled from the model,
    ``prefix_length`` tokens each, with ``seed``), ``essence_prompt`` (default
    ``"{subject} is a"``, or the subject's tokens), ``fact_token`` (``"subject_last"``, the
    default: the key is read, and the delta written, at the subject's last token;
    ``"last"``: at the prompt's last token, here and in the essence prompt), ``steps``, ``lr``, ``kl_factor``,
    ``weight_decay``, ``clamp_norm`` (the paper's GPT-2 XL settings by default, ``lr`` made
    relative to the MLP output's norm) and
    ``ridge`` (a multiple of ``mean(diag C)`` added to ``C``, so a never-active neuron
    leaves ``C`` invertible). The model passed in is left untouched.
    """
    if cov is None:
        if cov_tokens is None:
            raise ValueError("rome_edit needs the covariance of the MLP's keys: pass cov=mlp_key_covariance("
                             f"model, {layer}, tokens) or cov_tokens=tokens (a corpus [n_seq, pos])")
        cov = mlp_key_covariance(model, layer, cov_tokens)
    update = rome_update(model, layer, prompt, subject, new_target, cov, **kwargs)
    return apply_rank_one(copy.deepcopy(model), update)
