"""Training throughput and MFU: minigpt vs a ``transformers`` GPT-2 training loop, same machine, same settings.

    python benchmarks/train_throughput.py                 # gpt2 geometry, 1024 context (for a CUDA GPU)
    python benchmarks/train_throughput.py --smoke         # a tiny model, a few steps: runs anywhere, in seconds

Both peers get the same random weights, the same batches of random tokens, the
same loop: ``grad_accum`` micro-batches under autocast, ``loss / grad_accum``
backward, gradient clipping at 1.0, AdamW (fused on CUDA), ``zero_grad``. On
CUDA the defaults are bf16 autocast, ``torch.compile`` of each model, TF32 for
what stays fp32, and ``sdpa`` (FlashAttention) on both sides.

MFU = tokens/s x FLOPs per token / peak FLOP/s, with nanoGPT's count
``6 N + 12 L H Q T`` (:func:`minigpt.device.flops_per_token`) and the peak from
the table in :mod:`minigpt.device` by device name (MFU is n/a for devices not
in it). The vocabulary is padded to 50304 by default, as nanoGPT does (64 | 50304),
for both peers; ``--vocab 50257`` for GPT-2's own. Published anchors: nanoGPT
~30 % MFU on an A100, llm.c ~38 % on an H100. Target here: >= 45 % on an H100.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import time
from pathlib import Path

import torch

from common import machine, quiet_transformers
from minigpt.device import (
    autocast, device_name, flops_per_token, parse_dtype, peak_flops, pick_device, synchronize,
)
from minigpt.testing import gpt2_twins

GPT2 = dict(n_layer=12, n_embd=768, n_head=12)
SMOKE = dict(n_layer=2, n_embd=64, n_head=4)


def make_optimizer(model: torch.nn.Module, device: torch.device):
    kwargs = dict(lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1)
    if device.type == "cuda":
        return torch.optim.AdamW(model.parameters(), fused=True, **kwargs)
    return torch.optim.AdamW(model.parameters(), **kwargs)


def loss_fn(name: str):
    if name == "minigpt":
        return lambda model, tokens: model(tokens, return_type="loss")
    return lambda model, tokens: model(input_ids=tokens, labels=tokens).loss  # the same shift by one


def measure(name: str, model, args, device: torch.device, data: torch.Tensor) -> dict:
    """Warm up (compiling), then time ``args.steps`` optimizer steps; tokens/s counts every input token."""
    model.to(device).train()
    opt = make_optimizer(model, device)
    step_model = torch.compile(model) if args.compile else model
    compute_loss = loss_fn(name)
    dtype = parse_dtype(args.dtype)
    losses = []

    def step(i: int) -> None:
        for micro in range(args.grad_accum):
            tokens = data[(i * args.grad_accum + micro) % len(data)]
            with autocast(device, dtype):
                loss = compute_loss(step_model, tokens)
            (loss / args.grad_accum).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.detach())

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for i in range(args.warmup):
        step(i)
    synchronize(device)
    warmup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(args.warmup, args.warmup + args.steps):
        step(i)
    synchronize(device)
    seconds = time.perf_counter() - t0
    tokens_per_step = args.batch * args.seq * args.grad_accum
    row = dict(
        tokens_per_s=tokens_per_step * args.steps / seconds,
        ms_per_step=1e3 * seconds / args.steps,
        warmup_s=warmup_s,
        first_loss=float(losses[0]),
        last_loss=float(losses[-1]),
    )
    if device.type == "cuda":
        row["peak_memory_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
    return row


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a tiny model and a few steps (CPU-friendly)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default=None, help="bf16 | fp16 | fp32 (default: bf16 on CUDA, else fp32)")
    parser.add_argument("--batch", type=int, default=None, help="micro-batch (default 16; smoke 2)")
    parser.add_argument("--grad-accum", type=int, default=None, help="micro-batches per step (default 4; smoke 2)")
    parser.add_argument("--seq", type=int, default=None, help="context length (default 1024; smoke 32)")
    parser.add_argument("--vocab", type=int, default=None, help="vocabulary (default 50304, nanoGPT's padding; smoke 256)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 10; smoke 2)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3; smoke 1)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="torch.compile both models (default: on CUDA)")
    parser.add_argument("--peers", default="minigpt,hf", help="comma-separated: minigpt, hf")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args(argv)
    device = pick_device(args.device)
    smoke_or = (lambda small, full: small if args.smoke else full)
    args.batch = args.batch or smoke_or(2, 16)
    args.grad_accum = args.grad_accum or smoke_or(2, 4)
    args.seq = args.seq or smoke_or(32, 1024)
    args.vocab = args.vocab or smoke_or(256, 50304)
    args.steps = args.steps or smoke_or(2, 10)
    args.warmup = args.warmup if args.warmup is not None else smoke_or(1, 3)
    args.dtype = args.dtype or ("bf16" if device.type == "cuda" else "fp32")
    if args.compile is None:
        args.compile = device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    geometry = SMOKE if args.smoke else GPT2
    quiet_transformers()
    hf, ours = gpt2_twins(**geometry, vocab_size=args.vocab, n_positions=args.seq)  # sdpa on both sides, no dropout
    cfg = ours.cfg
    name = device_name(device)
    peak = peak_flops(name, args.dtype)
    gen = torch.Generator().manual_seed(0)
    data = torch.randint(0, args.vocab, (8, args.batch, args.seq), generator=gen).to(device)
    fpt = flops_per_token(cfg, args.seq)
    settings = dict(
        device=name, machine=machine(), torch=torch.__version__, dtype=args.dtype, compile=args.compile,
        geometry=f"{cfg.n_layers}L x {cfg.d_model}d x {cfg.n_heads}h, vocab {cfg.d_vocab}, context {args.seq}",
        batch=args.batch, grad_accum=args.grad_accum, tokens_per_step=args.batch * args.seq * args.grad_accum,
        steps=args.steps, warmup=args.warmup, flops_per_token=fpt,
        peak_tflops=None if peak is None else peak / 1e12,
    )
    print(", ".join(f"{k}={v}" for k, v in settings.items()))
    results: dict = {"settings": settings}
    models = {"minigpt": ours, "hf": hf}
    for peer in [p.strip() for p in args.peers.split(",") if p.strip()]:
        model = models.pop(peer)
        row = measure(peer, model, args, device, data)
        row["mfu"] = None if peak is None else row["tokens_per_s"] * fpt / peak
        results[peer] = row
        mfu_text = "n/a" if row["mfu"] is None else f"{100 * row['mfu']:.1f} %"
        extra = f", peak memory {row['peak_memory_gb']:.1f} GB" if "peak_memory_gb" in row else ""
        print(f"{peer:>8}: {row['tokens_per_s']:10.0f} tok/s, {row['ms_per_step']:8.1f} ms/step, MFU {mfu_text}, "
              f"warm-up {row['warmup_s']:.1f} s, loss {row['first_loss']:.3f} -> {row['last_loss']:.3f}{extra}")
        model.to("cpu")
        del model
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        with contextlib.suppress(Exception):
            torch._dynamo.reset()
    if "minigpt" in results and "hf" in results:
        results["ratio_tokens_per_s"] = results["minigpt"]["tokens_per_s"] / results["hf"]["tokens_per_s"]
        target = " (target: MFU >= 45 % on an H100)" if peak is not None else ""
        print(f"minigpt / HF tokens/s: {results['ratio_tokens_per_s']:.2f}{target}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
