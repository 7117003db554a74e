"""Every check that needs a CUDA GPU, and the GPU figures, in one timed run (called by gpu_check.sh).

    python benchmarks/gpu_check.py --out gpu_check.json [--budget 450] [--skip train,generate]

Parts, each timed and recorded in the JSON (``checks``: pass/fail with the
measured error; ``figures``: speeds):

1. ``kernels``: every available kernel equals ``naive`` on CUDA, forward and
   backward, fp32/bf16/fp16, causal or not, square and KV-cache shapes; sdpa's
   FlashAttention and memory-efficient backends each run the training shape.
2. ``model``: the whole model on each kernel (bf16 autocast and bf16 weights),
   greedy generation equal with no cache, the growing cache, the static cache,
   the compiled static-cache decode step, and ``transformers``' generate;
   ``torch.compile``'d model equal to eager (logits, loss, gradients); a few
   training steps in bf16 and in fp16 with loss scaling.
3. ``train``: ``train_throughput.py`` (gpt2 geometry, 1024 context, minigpt vs HF, MFU).
4. ``generate``: greedy tokens/s, gpt2 geometry, minigpt (eager; compiled with a
   static cache) vs ``transformers`` (eager; static cache + compile where it works).

Exits 1 when a check fails; an optional part that would overrun ``--budget`` is skipped and says so.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback
from pathlib import Path

import torch

from common import quiet_transformers
from minigpt import GPT, GPTConfig
from minigpt.attention import get_attention, kernel_info, list_attention, naive_attention, supports_backward  # noqa: E501
from minigpt.device import autocast, device_name, grad_scaler, synchronize
from minigpt.kv_cache import KVCache
from minigpt.testing import gpt2_twins
from minigpt.train.amp import amp_step  # noqa: E402

DEV = torch.device("cuda")
TOL = {  # a half-precision kernel against the fp32 reference on the same (rounded) inputs
    torch.float32: dict(atol=2e-4, rtol=1e-3),
    torch.bfloat16: dict(atol=5e-2, rtol=5e-2),
    torch.float16: dict(atol=1e-2, rtol=1e-2),
}
DTYPE_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


class Report:
    def __init__(self, budget: float) -> None:
        self.start = time.perf_counter()
        self.budget = budget
        self.data: dict = {"checks": {}, "figures": {}, "seconds": {}, "skipped": {}, "errors": {}}

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.start)

    def check(self, name: str, ok: bool, **detail) -> None:
        self.data["checks"][name] = {"ok": bool(ok), **detail}
        print(f"  {'PASS' if ok else 'FAIL'} {name} {detail if detail else ''}", flush=True)

    def close_enough(self, name: str, got: torch.Tensor, want: torch.Tensor, tol: dict) -> None:
        got, want = got.float(), want.float()
        err = (got - want).abs().max().item()
        try:
            torch.testing.assert_close(got, want, **tol)
            ok = True
        except AssertionError:
            ok = False
        self.check(name, ok, max_abs_err=err)

    def part(self, name: str, fn, need: float = 0.0) -> None:
        """Run one part, timed; skip it when fewer than ``need`` seconds of the budget are left."""
        if self.left() < need:
            self.data["skipped"][name] = f"{self.left():.0f} s of the budget left, the part needs ~{need:.0f} s"
            print(f"== {name}: SKIPPED ({self.data['skipped'][name]})", flush=True)
            return
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            fn(self)
        except Exception as exc:  # a crash is a failed check, with its traceback in the JSON
            self.data["errors"][name] = traceback.format_exc()
            self.check(f"{name}.ran", False, error=f"{type(exc).__name__}: {exc}")
            traceback.print_exc()
        self.data["seconds"][name] = round(time.perf_counter() - t0, 1)
        print(f"   {name}: {self.data['seconds'][name]} s", flush=True)


def qkv(batch, heads, q_len, k_len, d_head, dtype, seed=0):
    g = torch.Generator(device=DEV).manual_seed(seed)
    return [torch.randn(batch, heads, n, d_head, generator=g, device=DEV).to(dtype).requires_grad_()
            for n in (q_len, k_len, k_len)]


def kernels(r: Report) -> None:
    """Each kernel vs naive (computed in fp32 from the same half inputs), forward and backward."""
    torch.backends.cuda.matmul.allow_tf32 = False
    shapes = [(1, 1), (7, 7), (65, 65), (130, 130), (1, 29), (5, 71), (256, 256)]
    r.data["figures"]["kernel_table"] = [
        dict(name=i.name, available=i.available, reason=i.reason, note=i.note,
             forward_only_on=list(i.forward_only_on)) for i in [kernel_info(n) for n in list_attention()]]
    for kernel in [k for k in list_attention(available_only=True) if k != "naive"]:
        t0 = time.perf_counter()
        case_shapes = shapes if kernel != "flex" else [(65, 65), (1, 29), (5, 71), (256, 256)]  # each shape compiles
        for dtype in (torch.float32, torch.bfloat16, torch.float16):
            worst_out, worst_grad, ok = 0.0, 0.0, True
            backward = supports_backward(kernel, DEV.type)
            for causal in (True, False):
                for q_len, k_len in case_shapes:
                    q, k, v = qkv(2, 3, q_len, k_len, 64, dtype)
                    q2, k2, v2 = (t.detach().float().requires_grad_() for t in (q, k, v))
                    with torch.set_grad_enabled(backward):
                        out = get_attention(kernel)(q, k, v, causal=causal)
                    ref = naive_attention(q2, k2, v2, causal=causal)
                    pairs = ()
                    if backward:
                        g = torch.randn_like(ref)
                        out.backward(g.to(dtype))
                        ref.backward(g)
                        pairs = ((q, q2), (k, k2), (v, v2))
                    worst_out = max(worst_out, (out.float() - ref).abs().max().item())
                    for a, b in pairs:
                        worst_grad = max(worst_grad, (a.grad.float() - b.grad).abs().max().item())
                    try:
                        torch.testing.assert_close(out.float(), ref.detach(), **TOL[dtype])
                        for a, b in pairs:
                            torch.testing.assert_close(a.grad.float(), b.grad, **TOL[dtype])
                    except AssertionError:
                        ok = False
            r.check(f"kernel.{kernel}.{DTYPE_NAMES[dtype]}", ok, max_abs_err_out=worst_out, max_abs_err_grad=worst_grad)
        r.data["figures"][f"kernel_{kernel}_check_s"] = round(time.perf_counter() - t0, 1)
    # sdpa's fused backends, forced one at a time, on the training shape (must not fall back to the maths)
    from torch.nn.attention import SDPBackend, sdpa_kernel

    for backend_name, backend, dtype in (("flash", SDPBackend.FLASH_ATTENTION, torch.bfloat16),
                                         ("efficient", SDPBackend.EFFICIENT_ATTENTION, torch.float32),
                                         ("efficient_bf16", SDPBackend.EFFICIENT_ATTENTION, torch.bfloat16)):
        q, k, v = qkv(4, 12, 1024, 1024, 64, dtype)
        try:
            with sdpa_kernel([backend]):
                out = get_attention("sdpa")(q, k, v, causal=True)
                out.float().sum().backward()
            ref = naive_attention(*(t.detach().float() for t in (q, k, v)))
            r.close_enough(f"sdpa.backend.{backend_name}", out, ref, TOL[dtype])
        except RuntimeError as exc:
            r.check(f"sdpa.backend.{backend_name}", False, error=str(exc)[:300])
    # with a KV cache, a chunk of queries after cached keys: the lower-right causal bias (memory-efficient)
    q, k, v = qkv(1, 12, 16, 300, 64, torch.bfloat16)
    with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION, SDPBackend.FLASH_ATTENTION]):
        try:
            out = get_attention("sdpa")(q, k, v, causal=True)
            ref = naive_attention(*(t.detach().float() for t in (q, k, v)))
            r.close_enough("sdpa.lower_right_chunk.fused", out, ref, TOL[torch.bfloat16])
        except RuntimeError as exc:
            r.check("sdpa.lower_right_chunk.fused", False, error=str(exc)[:300])


def small_cfg(**kw) -> GPTConfig:
    return GPTConfig(**{**dict(n_layers=2, d_model=128, n_heads=4, d_vocab=300, n_ctx=128, seed=0), **kw})


def model_checks(r: Report) -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    model = GPT(small_cfg()).to(DEV).eval()
    tokens = torch.randint(0, 300, (2, 50), device=DEV, generator=torch.Generator(device=DEV).manual_seed(0))
    with torch.no_grad():
        ref = model.set_attention("naive")(tokens)
        for kernel in list_attention(available_only=True):
            model.set_attention(kernel)
            r.close_enough(f"model.{kernel}.fp32", model(tokens), ref, TOL[torch.float32])
            with autocast(DEV, torch.bfloat16):
                r.close_enough(f"model.{kernel}.bf16_autocast", model(tokens), ref, dict(atol=0.1, rtol=0.1))
            half = GPT(small_cfg(), attention=kernel).to(DEV, torch.bfloat16).eval()
            r.close_enough(f"model.{kernel}.bf16_weights", half(tokens), ref, dict(atol=0.1, rtol=0.1))
            # the growing cache, in pieces
            cache = KVCache.for_model(model, batch=2)
            pieces = [model(tokens[:, :20], kv_cache=cache)] + [model(tokens[:, i:i + 1], kv_cache=cache)
                                                                  for i in range(20, 30)]
            pieces.append(model(tokens[:, 30:], kv_cache=cache))
            r.close_enough(f"kv_cache.{kernel}.pieces", torch.cat(pieces, 1), ref, TOL[torch.float32])
    # greedy generation: no cache = growing cache = static cache = compiled static step = transformers
    model.set_attention("sdpa")
    prompt = tokens[:, :8]
    uncached = model.generate(prompt, max_new_tokens=40, use_kv_cache=False, stop_at_eos=False)
    for label, kw in (("kv_cache", {}), ("static_cache", dict(static_cache=True)), ("compiled", dict(compile=True))):
        got = model.generate(prompt, max_new_tokens=40, stop_at_eos=False, **kw)
        r.check(f"generate.{label}_equals_uncached", torch.equal(got, uncached))
    from torch._dynamo.utils import counters

    before = counters["stats"]["unique_graphs"]
    again = model.generate(tokens[:, :5], max_new_tokens=30, compile=True, stop_at_eos=False)
    r.check("generate.compiled_no_recompile", counters["stats"]["unique_graphs"] == before,
            new_graphs=counters["stats"]["unique_graphs"] - before)
    r.check("generate.compiled_second_prompt", torch.equal(
        again, model.generate(tokens[:, :5], max_new_tokens=30, use_kv_cache=False, stop_at_eos=False)))
    with autocast(DEV, torch.bfloat16):
        a = model.generate(prompt, max_new_tokens=20, stop_at_eos=False)
        b = model.generate(prompt, max_new_tokens=20, static_cache=True, stop_at_eos=False)
    r.check("generate.bf16_autocast_dynamic_equals_static", torch.equal(a, b))
    try:
        quiet_transformers()
        hf, ours = gpt2_twins(n_layer=2, n_embd=128, n_head=4, n_positions=128, vocab_size=300)
        hf, ours = hf.to(DEV), ours.to(DEV)
        want = hf.generate(prompt, max_new_tokens=30, do_sample=False, eos_token_id=None, pad_token_id=0)
        r.check("generate.equals_transformers", torch.equal(ours.generate(prompt, max_new_tokens=30, stop_at_eos=False), want))
    except ImportError:
        r.data["skipped"]["generate.equals_transformers"] = "transformers is not installed"
    # torch.compile: logits, loss and gradients equal to eager (fp32), and the bf16 loss close
    torch._dynamo.reset()
    eager, twin = GPT(small_cfg()).to(DEV).train(), GPT(small_cfg()).to(DEV).train()
    compiled = torch.compile(twin, fullgraph=True)
    logits, loss = compiled(tokens, return_type="both")
    loss.backward()
    ref_logits, ref_loss = eager(tokens, return_type="both")
    ref_loss.backward()
    r.close_enough("compile.logits", logits, ref_logits, TOL[torch.float32])
    r.close_enough("compile.loss", loss, ref_loss, TOL[torch.float32])
    worst = max((p.grad - q.grad).abs().max().item() for p, q in zip(twin.parameters(), eager.parameters()))
    r.check("compile.gradients", worst < 1e-3, max_abs_err=worst)
    with autocast(DEV, torch.bfloat16):
        r.close_enough("compile.bf16_loss", compiled(tokens, return_type="loss"), ref_loss, dict(atol=5e-2, rtol=5e-2))
    # a few training steps memorising one batch: bf16 autocast, fp16 autocast + GradScaler, fp32
    finals = {}
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        m = GPT(small_cfg()).to(DEV).train()
        opt = torch.optim.AdamW(m.parameters(), lr=3e-3, fused=True)
        scaler = grad_scaler(DEV, dtype)
        losses = [amp_step(m, opt, tokens, scaler, device=DEV, dtype=dtype, grad_clip=1.0)[0].item()
                  for _ in range(30)]
        finals[DTYPE_NAMES[dtype]] = losses[-1]
        r.check(f"train.{DTYPE_NAMES[dtype]}_learns", losses[-1] < losses[0] - 1.0 and all(map(math.isfinite, losses)),
                first=losses[0], last=losses[-1], scaled=scaler.is_enabled())
    r.check("train.half_like_fp32", all(abs(v - finals["fp32"]) < 0.3 for v in finals.values()), **finals)


def train_benchmark(r: Report) -> None:
    import train_throughput

    extra = [] if DEV.type == "cuda" else ["--smoke"]  # a dry run of the script on a CPU
    r.data["figures"]["train_throughput"] = train_throughput.main(["--device", str(DEV), *extra])


def generate_benchmark(r: Report) -> None:
    """Greedy tokens/s, gpt2 geometry (random weights), 16-token prompt, 128 new tokens, batch 1, bf16 weights."""
    import transformers

    quiet_transformers()
    torch.backends.cuda.matmul.allow_tf32 = True
    geometry = {} if DEV.type == "cuda" else dict(n_layer=2, n_embd=64, n_head=4, vocab_size=300)  # CPU: a dry run
    hf, ours = gpt2_twins(**geometry)
    hf, ours = hf.to(DEV, torch.bfloat16).eval(), ours.to(DEV, torch.bfloat16).eval()
    prompt = torch.randint(0, ours.cfg.d_vocab, (1, 16), device=DEV, generator=torch.Generator(device=DEV).manual_seed(0))
    n = 128

    def rate(fn, repeats=3) -> float:
        fn()  # warm-up (and compile)
        best = float("inf")
        for _ in range(repeats):
            synchronize(DEV)
            t0 = time.perf_counter()
            fn()
            synchronize(DEV)
            best = min(best, time.perf_counter() - t0)
        return n / best

    def ours_gen(**kw):
        return lambda: ours.generate(prompt, max_new_tokens=n, stop_at_eos=False, **kw)

    def hf_gen(**kw):
        return lambda: hf.generate(prompt, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                   pad_token_id=0, eos_token_id=None, **kw)

    geometry_text = "gpt2 geometry" if not geometry else f"a tiny geometry ({ours.cfg.n_layers} layers, dry run)"
    fig = {"setting": f"{geometry_text}, bf16 weights, batch 1, 16-token prompt, 128 new tokens, greedy",
           "device": device_name(DEV), "transformers": transformers.__version__}
    fig["minigpt_eager_tok_s"] = rate(ours_gen())
    fig["hf_eager_tok_s"] = rate(hf_gen())
    t0 = time.perf_counter()
    fig["minigpt_compiled_tok_s"] = rate(ours_gen(compile=True))
    fig["minigpt_compiled_warmup_s"] = round(time.perf_counter() - t0, 1)
    fig["ratio_eager"] = fig["minigpt_eager_tok_s"] / fig["hf_eager_tok_s"]
    fig["ratio_compiled_vs_hf_eager"] = fig["minigpt_compiled_tok_s"] / fig["hf_eager_tok_s"]
    same = torch.equal(ours_gen()(), hf_gen()())
    fig["same_tokens_as_hf"] = same
    if r.left() > 120:  # HF's own fast path: a static cache, which recent transformers compile by themselves
        try:
            hf.generation_config.cache_implementation = "static"
            fig["hf_static_cache_tok_s"] = rate(hf_gen())
            fig["ratio_compiled_vs_hf_static"] = fig["minigpt_compiled_tok_s"] / fig["hf_static_cache_tok_s"]
        except Exception as exc:
            fig["hf_static_cache_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    else:
        r.data["skipped"]["hf_static_cache"] = "budget"
    r.data["figures"]["generate"] = fig
    print("   " + ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in fig.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="gpu_check.json")
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for all parts (optional ones skip)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: kernels,model,train,generate")
    parser.add_argument("--device", default="cuda", help="cpu: a dry run of this script's code (not a check)")
    args = parser.parse_args()
    global DEV
    DEV = torch.device(args.device)
    if DEV.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: torch sees no CUDA GPU; this check needs one", file=sys.stderr)
        return 2
    r = Report(args.budget)
    r.data["device"] = device_name(DEV)
    r.data["torch"] = torch.__version__
    r.data["cuda"] = torch.version.cuda
    try:
        import triton

        r.data["triton"] = triton.__version__
    except ImportError:
        r.data["triton"] = None
    skip = set(filter(None, args.skip.split(",")))
    parts = [("kernels", kernels, 0), ("model", model_checks, 0),
             ("train", train_benchmark, 150), ("generate", generate_benchmark, 60)]
    for name, fn, need in parts:
        if name in skip:
            r.data["skipped"][name] = "--skip"
            continue
        r.part(name, fn, need)
        Path(args.out).write_text(json.dumps(r.data, indent=2, default=str))  # partial results survive a kill
    r.data["total_s"] = round(time.perf_counter() - r.start, 1)
    failed = [k for k, v in r.data["checks"].items() if not v["ok"]]
    r.data["failed"] = failed
    Path(args.out).write_text(json.dumps(r.data, indent=2, default=str))
    print(f"gpu_check: {len(r.data['checks']) - len(failed)} checks passed, {len(failed)} failed"
          f"{': ' + ', '.join(failed) if failed else ''}; {r.data['total_s']} s; figures in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
