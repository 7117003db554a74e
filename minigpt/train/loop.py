"""The training loop: batches in, optimizer steps out, a history and a checkpoint folder on disk.

>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2, d_vocab=11, n_ctx=8, seed=0))
>>> sample = lambda generator, n: torch.randint(0, 11, (n, 8), generator=generator)
>>> result = train(model, sample, TrainConfig(steps=4, batch_size=2, eval_every=2, progress=False))
>>> [row["step"] for row in result.history]
[0, 2, 4]

``data`` is either a *sampler*, ``sample(generator, n) -> batch`` with ``n`` the global batch
size, or an iterable of global batches. A sampler is called with a generator seeded by
``(cfg.seed, step)``, so batch ``s`` is the same however the run was interrupted and resumed,
and under DDP every process draws the same global batch and keeps its own rows of it.
A batch is a token tensor ``[batch pos]`` (the model's next-token loss is used) or anything
``loss_fn(model, batch)`` understands (a tensor or a tuple of tensors sharing dim 0).
"""

from __future__ import annotations

import platform
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch
from tqdm.auto import tqdm

from ..checkpoints import save_checkpoint, save_snapshot
from . import distributed
from .amp import amp_step, next_token_loss
from .config import TrainConfig
from ..device import Precision, pick_device
from .optim import make_optimizer, make_scheduler
from .state import RESUME_FILE, load_state, rng_state, save_state, set_rng_state

EvalFn = Callable[[torch.nn.Module], dict]


@dataclass
class TrainResult:
    model: torch.nn.Module
    history: list[dict]
    step: int
    out: Path | None = None
    info: dict = field(default_factory=dict)


def batch_generator(seed: int, step: int) -> torch.Generator:
    """The generator that draws the global batch of ``step`` (independent of how the run got there)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) % 2**63)


def _to(batch, device: torch.device):
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to(b, device) for b in batch)
    return batch.to(device, non_blocking=True)


class _Batches:
    """Global batch ``step`` from a sampler (stateless) or an iterable (skipping on resume)."""

    def __init__(self, data, cfg: TrainConfig, start: int) -> None:
        self.sampler = data if callable(data) else None
        self.cfg = cfg
        if self.sampler is None:
            self.iterator = iter(data)
            for _ in range(start):  # the data position of a resumed run
                next(self.iterator)

    def get(self, step: int):
        if self.sampler is not None:
            return self.sampler(batch_generator(self.cfg.seed, step), self.cfg.batch_size)
        return next(self.iterator)


def _evaluate(model, evals: Sequence[EvalFn]) -> dict:
    metrics = {}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for fn in evals:
            metrics.update({k: float(v) for k, v in fn(model).items()})
    model.train(was_training)
    return metrics


def train(model: torch.nn.Module, data: Callable | Iterable, cfg: TrainConfig, *, evals: Sequence[EvalFn] = (),
          out: str | Path | None = None, loss_fn: Callable = next_token_loss, resume: bool = False,
          stop_at: int | None = None, recipe: str = "custom", meta: dict | None = None,
          final_dtype: torch.dtype | None = None) -> TrainResult:
    """Train ``model`` on ``data`` for ``cfg.steps`` AdamW updates; write ``out`` (when given) as a checkpoint.

    ``evals`` are functions ``fn(model) -> {"name": value}`` run (no grad, eval mode) at step 0 and
    every ``cfg.eval_every`` steps; their values join the history rows. ``resume=True`` continues
    from ``out/resume.pt`` when it exists. ``stop_at`` ends the run early, resumable, with the
    schedule still spanning ``cfg.steps``. ``meta`` is recorded in ``train.json``.
    """
    threads = torch.get_num_threads()
    if cfg.threads:  # small models: one thread is often faster, and far faster on a busy machine
        torch.set_num_threads(cfg.threads)
    try:
        return _train(model, data, cfg, evals, out, loss_fn, resume, stop_at, recipe, meta, final_dtype)
    finally:
        torch.set_num_threads(threads)


def _train(model, data, cfg, evals, out, loss_fn, resume, stop_at, recipe, meta, final_dtype) -> TrainResult:
    out = Path(out) if out is not None else None
    info, device = distributed.setup(pick_device(cfg.device))
    precision = Precision.choose(cfg.dtype, device)
    torch.manual_seed(cfg.seed)
    model.to(device).train()
    optimizer = make_optimizer(model, cfg)
    scheduler = make_scheduler(optimizer, cfg)
    scaler = precision.make_scaler(device)
    step, rows, loss_sum, loss_count, spent = 0, [], 0.0, 0, {"wall_s": 0.0, "cpu_s": 0.0}
    state = load_state(out) if resume and out is not None else None
    if state is not None:
        _warn_if_changed(state["config"], cfg)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        step, rows = state["step"], state["history"]
        loss_sum, loss_count, spent = state["loss_sum"], state["loss_count"], state["spent"]
    elif info.is_main and out is not None:
        _clear_stale(out)
    end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
    wrapped = distributed.wrap(model, info, device)
    batches = _Batches(data, cfg, step)
    t_wall, t_cpu = time.perf_counter(), time.process_time()

    def elapsed() -> dict:
        return {"wall_s": spent["wall_s"] + time.perf_counter() - t_wall,
                "cpu_s": spent["cpu_s"] + time.process_time() - t_cpu}

    def resume_state() -> dict:
        return {"step": step, "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(), "rng": rng_state(), "history": rows, "loss_sum": loss_sum,
                "loss_count": loss_count, "spent": elapsed(), "config": cfg.to_dict()}

    if step == 0 and info.is_main:
        rows.append({"step": 0, "lr": optimizer.param_groups[0]["lr"], **_evaluate(model, evals)})
        if cfg.snapshot_every and out is not None:
            save_snapshot(out, model, 0)
    bar = tqdm(total=cfg.steps, initial=step, desc=recipe, unit="step", mininterval=0.5,
               disable=not (cfg.progress and info.is_main), dynamic_ncols=True)
    while step < end:
        batch = _to(distributed.shard(batches.get(step), info), device)
        lr = optimizer.param_groups[0]["lr"]
        loss, grad_norm = amp_step(wrapped, optimizer, batch, scaler, device=device, dtype=precision.dtype,
                                   loss_fn=loss_fn, grad_clip=cfg.grad_clip)
        scheduler.step()
        step += 1
        loss_sum, loss_count = loss_sum + loss.item(), loss_count + 1
        bar.update(1)
        if step % 10 == 0 or step == end:
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            mean_loss = _global_mean(loss_sum / loss_count, info)
            loss_sum, loss_count = 0.0, 0
            if info.is_main:
                row = {"step": step, "train_loss": mean_loss, "lr": lr}
                if grad_norm is not None:
                    row["grad_norm"] = float(grad_norm)
                rows.append({**row, "time_s": round(elapsed()["wall_s"], 3), **_evaluate(model, evals)})
                shown = [k for k in rows[-1] if k not in ("step", "lr", "time_s", "grad_norm") and "." not in k]
                bar.set_postfix({k: f"{rows[-1][k]:.3f}" for k in shown[:4]}, refresh=False)
        if info.is_main and out is not None:
            if cfg.snapshot_every and step % cfg.snapshot_every == 0:
                save_snapshot(out, model, step)
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < end:
                save_state(out, resume_state())
    bar.close()
    times = elapsed()
    times["cpu_s"] = _global_sum(times["cpu_s"], info)  # every process's CPU time
    train_info = {"recipe": recipe, "seed": cfg.seed, "step": step, "finished": step >= cfg.steps,
                  "config": cfg.to_dict(), "world_size": info.world_size, "device": str(device),
                  "precision": str(precision.dtype).removeprefix("torch."), "wall_s": round(times["wall_s"], 2),
                  "cpu_s": round(times["cpu_s"], 2), "threads": torch.get_num_threads(), "torch": torch.__version__,
                  "python": platform.python_version(), "platform": sys.platform, **(meta or {})}
    if info.is_main and out is not None:
        history = {"recipe": recipe, "eval_every": cfg.eval_every, "rows": rows}
        save_checkpoint(out, model, history=history, train=train_info, dtype=final_dtype)
        save_state(out, resume_state())
    distributed.teardown(info)
    model.eval()
    return TrainResult(model=model, history=rows, step=step, out=out, info=train_info)


def _warn_if_changed(saved: dict, cfg: TrainConfig) -> None:
    """Resuming with other settings is allowed (e.g. more steps) but is no longer the same run: say so."""
    ignore = {"steps", "progress", "device", "threads", "eval_every", "snapshot_every", "checkpoint_every"}
    changed = [k for k, v in cfg.to_dict().items() if k not in ignore and k in saved and saved[k] != v]
    if changed:
        warnings.warn(f"resuming with changed settings {changed}: the run will differ from an uninterrupted one",
                      stacklevel=3)


def _clear_stale(out: Path) -> None:
    """A fresh run into a used folder: drop the old run's snapshots and resume state (nothing else)."""
    for path in [out / RESUME_FILE, *sorted((out / "snapshots").glob("step_*.safetensors"))]:
        path.unlink(missing_ok=True)


def _global_mean(value: float, info: distributed.DistInfo) -> float:
    return _global_sum(value, info) / info.world_size


def _global_sum(value: float, info: distributed.DistInfo) -> float:
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    if torch.distributed.get_backend() == "nccl":
        t = t.cuda()
    torch.distributed.all_reduce(t)
    return float(t.item())
