"""What ``torch.compile`` buys: eager vs compiled minigpt, forward and training step, small and gpt2 geometry.

    python benchmarks/compile.py [--sizes small,gpt2] [--device auto] [--batch 1] [--seq 256] [--json FILE]

Forward: ``model(tokens)`` under ``no_grad``. Training step: loss forward +
backward (compiled with ``fullgraph=True``) and an AdamW step (eager on both
sides). Prints compile time (the first call) and the best of interleaved
repeats, and the ratio compiled / eager (below 1 = compile helps). On a CPU
compiling needs a C++ compiler and takes tens of seconds per graph.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from common import machine, time_pair
from minigpt import GPT, GPTConfig
from minigpt.device import pick_device, synchronize

SIZES = {
    "small": dict(n_layers=2, d_model=128, n_heads=4, d_vocab=256, n_ctx=256),
    "gpt2": dict(n_layers=12, d_model=768, n_heads=12, d_vocab=50257, n_ctx=1024),
}


def timed_first_call(fn, device) -> float:
    t0 = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - t0


def bench_size(name: str, args, device: torch.device) -> dict:
    cfg = GPTConfig(**SIZES[name], seed=0)
    tokens = torch.randint(0, cfg.d_vocab, (args.batch, args.seq), generator=torch.Generator().manual_seed(0))
    tokens = tokens.to(device)
    row: dict = {"size": name, "shape": f"{args.batch}x{args.seq}"}

    # forward, no autograd
    model = GPT(cfg).to(device).eval()
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        row["forward_compile_s"] = timed_first_call(lambda: compiled(tokens), device)
        diff = (compiled(tokens) - model(tokens)).abs().max().item()

        def synced(fn):
            return lambda: (fn(), synchronize(device))

        t = time_pair({"eager": synced(lambda: model(tokens)), "compiled": synced(lambda: compiled(tokens))},
                      repeats=args.repeats, warmup=1)
    row.update(forward_eager_ms=1e3 * t["eager"], forward_compiled_ms=1e3 * t["compiled"],
               forward_ratio=t["compiled"] / t["eager"], forward_max_abs_diff=diff)
    print(f"{name:>6} forward   {row['shape']}: eager {row['forward_eager_ms']:8.1f} ms | compiled "
          f"{row['forward_compiled_ms']:8.1f} ms | compiled/eager {row['forward_ratio']:.2f} | "
          f"compile {row['forward_compile_s']:.0f} s | max |dlogit| {diff:.1e}")
    torch._dynamo.reset()

    # training step: forward + backward (+ an eager AdamW step)
    models = {"eager": GPT(cfg).to(device).train(), "compiled": GPT(cfg).to(device).train()}
    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-4) for k, m in models.items()}
    loss_fns = {"eager": models["eager"], "compiled": torch.compile(models["compiled"], fullgraph=True)}

    def step(kind: str):
        def run():
            loss = loss_fns[kind](tokens, return_type="loss")
            loss.backward()
            opts[kind].step()
            opts[kind].zero_grad(set_to_none=True)
            synchronize(device)
            return loss
        return run

    row["train_compile_s"] = timed_first_call(step("compiled"), device)
    step("eager")()
    t = time_pair({"eager": step("eager"), "compiled": step("compiled")}, repeats=args.repeats, warmup=1)
    row.update(train_eager_ms=1e3 * t["eager"], train_compiled_ms=1e3 * t["compiled"],
               train_ratio=t["compiled"] / t["eager"])
    print(f"{name:>6} train step {row['shape']}: eager {row['train_eager_ms']:8.1f} ms | compiled "
          f"{row['train_compiled_ms']:8.1f} ms | compiled/eager {row['train_ratio']:.2f} | "
          f"compile {row['train_compile_s']:.0f} s")
    torch._dynamo.reset()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="small,gpt2")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    device = pick_device(args.device)
    print(f"eager vs torch.compile, fp32, {device}; {machine()}")
    rows = [bench_size(name, args, device) for name in args.sizes.split(",")]
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "device": str(device), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
