"""The main job of a fresh install: build a small model, train it briefly, generate text.

Runs offline on a 2-core CPU in well under a minute:

1. list the attention kernels and whether each can run here;
2. build a small byte-level GPT (``d_vocab = 256``) and train it for a few
   seconds on text every Python installation has: the standard library's own
   source code;
3. generate a continuation greedily, with and without the KV cache, and
   check that both give the same tokens.
"""

from __future__ import annotations

import sys
import time

import torch
from tqdm.auto import tqdm

from .attention import attention_table
from .config import GPTConfig
from .data.corpus import stdlib_text
from .model import GPT
from .tokenizer import ByteTokenizer

DEMO_CONFIG = dict(n_layers=2, d_model=128, n_heads=4, d_vocab=256, n_ctx=128, seed=0)

# The sub-commands of this module (``minigpt demo``, ``minigpt kernels``), as a plugin of minigpt.cli.
COMMANDS: tuple[str, ...] = ("demo", "kernels")


def add_parsers(sub) -> None:
    demo = sub.add_parser("demo", help="build and briefly train a small model, then generate text (offline, <1 min)")
    demo.add_argument("--steps", type=int, default=600, help="training steps (default 600)")
    demo.add_argument("--prompt", default="    def ", help="text to continue")
    demo.add_argument("--new-tokens", type=int, default=120, help="bytes to generate")
    demo.add_argument("--attention", default="sdpa", help="attention kernel (see `minigpt kernels`)")
    sub.add_parser("kernels", help="list the attention kernels and whether each runs here")


def run(args) -> int:
    if args.command == "demo":
        run_demo(steps=args.steps, prompt=args.prompt, new_tokens=args.new_tokens, kernel=args.attention)
    elif args.command == "kernels":
        print_kernels()
    return 0


def print_kernels(out=None) -> None:
    out = out or sys.stdout
    print("attention kernels:", file=out)
    for info in attention_table():
        status = "available" if info.available else f"unavailable ({info.reason})"
        note = f" [{info.note}]" if getattr(info, "note", "") else ""
        print(f"  {info.name:<8} {status:<12} {info.description}{note}", file=out)


def train_briefly(model: GPT, data: torch.Tensor, steps: int, batch: int = 16, lr: float = 6e-3) -> list[float]:
    """A few hundred AdamW steps on random windows of ``data``; returns the losses."""
    n_ctx = model.cfg.n_ctx
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
    losses = []
    model.train()
    bar = tqdm(range(steps), desc="training", unit="step", file=sys.stdout, mininterval=1.0)
    for step in bar:
        starts = torch.randint(0, len(data) - n_ctx, (batch,), generator=gen)
        tokens = torch.stack([data[s : s + n_ctx] for s in starts.tolist()])
        for group in opt.param_groups:  # linear warm-up then linear decay
            group["lr"] = lr * min(1.0, (step + 1) / 30) * (1 - step / steps)
        loss = model(tokens, return_type="loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    model.eval()
    return losses


def run_demo(steps: int = 600, prompt: str = "    def ", new_tokens: int = 120, kernel: str = "sdpa") -> dict:
    start = time.perf_counter()
    torch.manual_seed(0)
    print_kernels()
    tok = ByteTokenizer()
    model = GPT(GPTConfig(**DEMO_CONFIG), attention=kernel)
    print(f"\nmodel: {model.cfg.n_layers} layers, d_model {model.cfg.d_model}, "
          f"{model.n_params(non_embedding=False) / 1e6:.2f}M parameters, kernel {kernel!r}")
    data = torch.tensor(tok.encode(stdlib_text()), dtype=torch.long)
    print(f"data: {len(data) / 1e6:.1f}M bytes of the Python standard library's source")
    losses = train_briefly(model, data, steps)
    print(f"loss: {losses[0]:.3f} -> {sum(losses[-20:]) / 20:.3f} nats/byte "
          f"(uniform over 256 bytes would be {torch.log(torch.tensor(256.0)):.3f})")
    prompt_ids = torch.tensor([tok.encode(prompt)])
    sample = model.generate(prompt_ids, new_tokens, temperature=0.8, top_k=20, seed=0)
    print(f"\nsampled continuation of {prompt!r} (temperature 0.8, top-k 20):")
    print(f"{'-' * 60}\n{tok.decode(sample[0].tolist())}\n{'-' * 60}")
    timings, outputs = {}, {}
    for use_cache in (True, False):
        t0 = time.perf_counter()
        outputs[use_cache] = model.generate(prompt_ids, new_tokens, temperature=0.0, use_kv_cache=use_cache)
        timings[use_cache] = new_tokens / (time.perf_counter() - t0)
    same = torch.equal(outputs[True], outputs[False])
    print(f"greedy generation: {timings[True]:.0f} tok/s with the KV cache, {timings[False]:.0f} tok/s "
          f"without; identical tokens: {same}")
    elapsed = time.perf_counter() - start
    print(f"done in {elapsed:.1f} s")
    if not same:
        raise RuntimeError("KV-cache generation differs from uncached generation: please report this bug")
    return {"losses": losses, "same": same, "seconds": elapsed, "tok_per_s": timings}
