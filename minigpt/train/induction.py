"""Recipe ``induction-2l``: a 2-layer attention-only model that forms induction heads, and its phase change.

The model reads random tokens in which one chunk, of random length, reappears at a random later
position (:func:`minigpt.data.induction_batch`). Random tokens are unpredictable, so the only
loss to win is on the copy: "the token after the last time I saw this token comes next". Two
heads learn it together: a previous-token head in layer 0 writes "my previous token was A" into
each position, and an induction head in layer 1 looks for the position whose previous token is
the current token (K-composition) and copies what it finds. For ~600 steps little happens,
then both heads form within a couple of hundred steps: the loss on the copy drops and the induction
score jumps. The history records both every ``eval_every`` steps and snapshots keep the weights
along the way, so chapter 3 can plot the phase change.

The evaluation uses fixed halves (:func:`minigpt.data.repeated_tokens`: a chunk, then the same
chunk), as the head detectors of :mod:`minigpt.interp` expect.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import GPTConfig
from ..data.repeated import induction_batch, repeated_tokens
from ..interp.detectors import head_scores
from ..model import GPT
from .config import TrainConfig
from .loop import train
from .recipes import register_recipe

BOS = 0
# Tuned by measurement (see the report of issue 7): GPT-2's init (std 0.02) leaves the attention scores
# so small that the plateau outlasts any CPU budget; std 0.1 shortens it to a few hundred steps.
# Chunks of at least 8 tokens (of 15 at most) give the copy enough weight that a match is strong
# evidence, so the model learns to trust its induction head (repeated-half loss ~0.1 of the first half).
MODEL = dict(n_layers=2, d_model=64, n_heads=4, d_vocab=128, n_ctx=32, attn_only=True, normalization_type="LN",
             init_range=0.1, name="induction-2l", bos_token_id=BOS)
TRAIN = dict(steps=3000, batch_size=64, lr=3e-3, warmup_steps=100, weight_decay=0.05, betas=(0.9, 0.999),
             min_lr_ratio=0.1, eval_every=50, snapshot_every=50, threads=1)  # tiny matmuls: 1 thread is fastest
DATA = dict(min_len=8, max_len=None)
INIT = dict(embed_std=None)  # None: W_E and W_pos drawn like the other weights (std cfg.init_range)
SHORT = dict(steps=1200, schedule="constant", eval_every=100, snapshot_every=None)  # induction-2l-short (CI)


def eval_tokens(model: GPT, batch: int = 32, seed: int = 1234) -> tuple[torch.Tensor, int]:
    """Fixed repeated sequences ``[batch 1 + 2 seq_len]`` (BOS, chunk, chunk) filling the context."""
    seq_len = (model.cfg.n_ctx - 1) // 2
    return repeated_tokens(batch, seq_len, model.cfg.d_vocab, seed=seed, bos=BOS, device=model.device), seq_len


def half_losses(model: GPT, tokens: torch.Tensor, seq_len: int) -> dict:
    """Mean loss on the first chunk and on the predictable part of its copy (all but the copy's first token)."""
    nll = model(tokens, return_type="loss", loss_per_token=True)  # [batch pos-1]: nll[:, i] predicts token i+1
    first = nll[:, :seq_len].mean()
    second = nll[:, seq_len + 1:].mean()
    return {"loss_first_half": first.item(), "loss_second_half": second.item(),
            "loss_ratio": (second / first).item()}


def induction_metrics(model: GPT) -> dict:
    """The history's columns: per-half losses, best induction head (layer 1), best previous-token head (layer 0)."""
    tokens, seq_len = eval_tokens(model)
    induction = head_scores(model, "induction", tokens, seq_len=seq_len)  # [n_layers n_heads]
    previous = head_scores(model, "previous_token", tokens, seq_len=seq_len)
    metrics = half_losses(model, tokens, seq_len)
    metrics["induction_score"] = induction[-1].max().item()
    metrics["prev_token_score"] = previous[0].max().item()
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            metrics[f"induction.{layer}.{head}"] = induction[layer, head].item()
            metrics[f"prev_token.{layer}.{head}"] = previous[layer, head].item()
    return metrics


def build(seed: int = 0, **overrides) -> tuple[GPT, callable, TrainConfig, dict]:
    """The model, the batch sampler, the TrainConfig and the data settings, with ``overrides`` applied.

    An override key may name a GPTConfig field, a TrainConfig field or a data setting (``min_len``, ``max_len``).
    """
    model_kw, train_kw, data_kw, init_kw = dict(MODEL), dict(TRAIN), dict(DATA), dict(INIT)
    for key, value in overrides.items():
        target = next((d for d in (data_kw, init_kw, train_kw, model_kw) if key in d), None)
        if target is None:
            target = train_kw if key in TrainConfig.__dataclass_fields__ else model_kw
        target[key] = value
    model = GPT(GPTConfig(**model_kw, seed=seed))
    if init_kw["embed_std"] is not None:
        gen = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for p in (model.embed.W_E, model.pos_embed.W_pos):
                p.copy_(torch.randn(p.shape, generator=gen) * init_kw["embed_std"])
    n_ctx, d_vocab = model.cfg.n_ctx, model.cfg.d_vocab

    def sample(generator: torch.Generator, n: int) -> torch.Tensor:
        return induction_batch(n, n_ctx, d_vocab, generator=generator, bos=BOS, **data_kw)

    return model, sample, TrainConfig(**train_kw, seed=seed), data_kw


def run(out: Path, *, device: str = "auto", seed: int = 0, progress: bool = True, resume: bool = False,
        name: str = "induction-2l", preset: dict | None = None, **overrides) -> Path:
    """Train the induction model into ``out`` (see the module docstring). Returns ``out``."""
    model, sample, cfg, data_kw = build(seed, **{**(preset or {}), **overrides})
    cfg = cfg.replace(device=device, progress=progress)
    command = f"minigpt train {name} --seed {seed}" + "".join(
        f" --{k} {v}" for k, v in overrides.items() if k in ("steps", "dtype", "threads"))
    meta = {"command": command, "data": {"sampler": "minigpt.data.induction_batch", "bos": BOS, **data_kw},
            "eval": "minigpt.train.induction.induction_metrics"}
    train(model, sample, cfg, evals=[induction_metrics], out=out, resume=resume, recipe=name, meta=meta)
    return Path(out)


def run_short(out: Path, **kwargs) -> Path:
    return run(out, name="induction-2l-short", preset=SHORT, **kwargs)


register_recipe("induction-2l", run, "2-layer attention-only model: previous-token + induction heads, phase "
                "change (snapshots every 50 steps; ~1 min on a CPU)")
register_recipe("induction-2l-short", run_short, "a shorter induction-2l for CI: the induction head forms, "
                "(~20 s on a CPU)")
