"""The full-batch training loop of the grokking runs (fast, canonical and ablations share it).

:class:`GrokSettings` holds every knob; :func:`train_grokking` trains a fresh
:class:`~minigpt.GPT` on :func:`minigpt.data.modular_data` and records a history
row every ``eval_every`` epochs::

    {"step": 1200, "train_loss": ..., "train_acc": ..., "test_loss": ..., "test_acc": ..., "time": ...}

``step`` counts epochs (one full-batch step each). The training loss and
accuracy are those of the step's own forward pass (before its update), the
test ones come from a forward pass after it, as in Nanda et al.

Two implementations of the step, for the benchmark's side-by-side:

- ``fast=True``: :func:`~minigpt.grokking_model.last_position_logits`
  (only the computation the loss needs) and the fused AdamW kernel;
- ``fast=False``: the straightforward ``model(tokens)[:, -1]`` and torch's
  default AdamW.

``grokfast_alpha``/``grokfast_lamb`` add the slow gradient component of
Grokfast-EMA (Lee et al., 2024): ``g ← g + lamb · ema(g)``.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch

from ..data.modular import modular_data
from ..model import GPT
from ..grokking_model import grokking_config, init_grokking_, last_position_logits, modular_loss

__all__ = ["GrokSettings", "GrokRun", "train_grokking", "evaluate"]


@dataclass
class GrokSettings:
    p: int = 113
    operation: str = "add"
    train_frac: float = 0.3
    data_seed: int = 0
    seed: int = 0
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int = 512
    init_range: float | None = None  # None: 0.8 / sqrt(d_model)
    init: str = "tl"  # "tl": TransformerLens's, as Nanda et al.; "gpt2": GPT.init_weights (see init_grokking_)
    lr: float = 1e-3
    weight_decay: float = 1.0
    betas: tuple[float, float] = (0.9, 0.98)
    warmup: int = 10  # epochs of linear warm-up
    lr_decay_start: int | None = None  # cosine decay to lr_min from this epoch to ``epochs`` (None: constant)
    lr_min: float = 0.0
    epochs: int = 25_000
    eval_every: int = 100
    stop_test_acc: float | None = None  # stop once test accuracy reaches this ...
    stop_extra: float = 0.0  # ... after this many more epochs, as a fraction of the epoch it was reached
    max_seconds: float | None = None  # a wall-clock cap (benchmarks): stop after the first epoch past it
    grokfast_alpha: float | None = None
    grokfast_lamb: float = 0.0
    fast: bool = True
    threads: int | None = None  # torch threads while training (restored after); None: leave torch's setting
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GrokRun:
    model: GPT
    rows: list[dict]
    settings: GrokSettings
    seconds: float
    cpu_seconds: float


def lr_at(s: GrokSettings, epoch: int) -> float:
    """The learning rate of step ``epoch`` (0-based): warm-up, constant, optional cosine decay."""
    lr = s.lr * min((epoch + 1) / s.warmup, 1.0) if s.warmup else s.lr
    if s.lr_decay_start is not None and epoch >= s.lr_decay_start:
        t = (epoch - s.lr_decay_start) / max(1, s.epochs - s.lr_decay_start)
        lr = s.lr_min + (lr - s.lr_min) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    return lr


@torch.no_grad()
def evaluate(model: GPT, tokens, labels, p: int, fast: bool = True, chunk: int = 16384) -> tuple[float, float]:
    """``(mean loss, accuracy)`` of ``model`` on ``tokens [n, 3]`` with ``labels [n]``."""
    total, correct = 0.0, 0
    for i in range(0, len(tokens), chunk):
        t, y = tokens[i:i + chunk], labels[i:i + chunk]
        logits = last_position_logits(model, t) if fast else model(t)[:, -1]
        total += modular_loss(logits, y, p).item() * len(t)
        correct += int((logits[:, :p].argmax(-1) == y).sum())
    return total / len(tokens), correct / len(tokens)


def train_grokking(s: GrokSettings, *, device: str = "cpu",
                   callback: Callable[[int, GPT, dict | None], None] | None = None,
                   progress: bool = False) -> GrokRun:
    """Train a grokking model with settings ``s``; ``callback(epoch, model, row)`` after each step (row or None)."""
    threads = torch.get_num_threads()
    if s.threads:
        torch.set_num_threads(s.threads)
    try:
        return _train(s, device, callback, progress)
    finally:
        torch.set_num_threads(threads)


def _train(s: GrokSettings, device: str, callback, progress: bool) -> GrokRun:
    data = modular_data(s.p, s.operation, s.train_frac, s.data_seed).to(device)
    cfg = grokking_config(s.p, d_model=s.d_model, n_heads=s.n_heads, d_mlp=s.d_mlp, seed=s.seed,
                          init_range=s.init_range)
    model = GPT(cfg)  # the fast step does not use the attention kernel; the full forward does
    if s.init != "gpt2":
        init_grokking_(model, s.init, s.seed)
    model = model.to(device)
    fused = {"fused": True} if s.fast else {}
    try:
        opt = torch.optim.AdamW(model.parameters(), lr=lr_at(s, 0), weight_decay=s.weight_decay,
                                betas=tuple(s.betas), **fused)
    except (RuntimeError, TypeError):  # an older torch without the fused CPU kernel
        opt = torch.optim.AdamW(model.parameters(), lr=lr_at(s, 0), weight_decay=s.weight_decay,
                                betas=tuple(s.betas))
    ema = [torch.zeros_like(q) for q in model.parameters()] if s.grokfast_alpha else None
    x, y = data.train_tokens, data.train_labels
    rows: list[dict] = []
    stop_at = None
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=s.epochs, desc=f"grokking p={s.p}", unit="epoch", mininterval=1.0)
    t0, c0 = time.perf_counter(), time.process_time()
    for epoch in range(s.epochs):
        for group in opt.param_groups:
            group["lr"] = lr_at(s, epoch)
        logits = last_position_logits(model, x) if s.fast else model(x)[:, -1]
        loss = modular_loss(logits, y, s.p)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if ema is not None:
            with torch.no_grad():
                for q, m in zip(model.parameters(), ema):
                    m.mul_(s.grokfast_alpha).add_(q.grad, alpha=1 - s.grokfast_alpha)
                    q.grad.add_(m, alpha=s.grokfast_lamb)
        opt.step()
        row = None
        last = epoch == s.epochs - 1 or (stop_at is not None and epoch + 1 >= stop_at) or (
            s.max_seconds is not None and time.perf_counter() - t0 > s.max_seconds)
        if epoch % s.eval_every == 0 or last:
            train_acc = (logits.detach()[:, :s.p].argmax(-1) == y).float().mean().item()
            test_loss, test_acc = evaluate(model, data.test_tokens, data.test_labels, s.p, s.fast)
            row = {"step": epoch, "train_loss": loss.item(), "train_acc": train_acc, "test_loss": test_loss,
                   "test_acc": test_acc, "lr": lr_at(s, epoch), "time": time.perf_counter() - t0}
            rows.append(row)
            if bar is not None:
                bar.set_postfix(train=f"{train_acc:.0%}", test=f"{test_acc:.1%}", refresh=False)
            if stop_at is None and s.stop_test_acc is not None and test_acc >= s.stop_test_acc:
                stop_at = epoch + 1 + int(s.stop_extra * epoch)
        if bar is not None:
            bar.update(1)
        if callback is not None:
            callback(epoch, model, row)
        if last:
            break
    if bar is not None:
        bar.close()
    return GrokRun(model.eval(), rows, s, time.perf_counter() - t0, time.process_time() - c0)
