"""Peak extra memory of one attention call: ``online`` vs torch's ``sdpa`` (and ``naive``), CPU.

    python benchmarks/attention_memory.py [--pos 8192] [--d-head 64] [--kernels online,sdpa,naive]

One head, batch 1, fp32, causal, forward under ``no_grad``. Each kernel runs in
a fresh subprocess (after a small warm-up call), measured two ways:

- ``tensors``: the peak of the bytes held by tensors allocated during the call
  (``torch.profiler`` with ``profile_memory=True``, allocations and frees summed
  in time order); the output, ``pos * d_head * 4`` bytes, is included;
- ``rss``: the process's peak resident set during the call minus its size just
  before (``VmHWM`` reset through ``/proc/self/clear_refs``); allocator slack
  and freed-but-kept pages count here, so it is the rougher figure.

For scale, at 8,192 positions a full boolean ``[query_pos, key_pos]`` mask
alone is 64 MiB and an fp32 score matrix 256 MiB. Target (issue 13): ``online``
at most 32 MiB extra. Ratio = minigpt's kernel / sdpa.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from common import machine

MiB = 2**20


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _tensor_peak(fn) -> int:
    """Peak bytes held by tensors allocated inside ``fn()`` (the profiler's memory events, in order)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn()
    events = sorted(
        (e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"), key=lambda e: e.start_ns()
    )
    held = peak = 0
    for e in events:
        held += e.nbytes()  # negative for a free
        peak = max(peak, held)
    del out
    return peak


def child(kernel: str, pos: int, d_head: int) -> dict:
    """Run in the subprocess: measure one kernel, return its figures."""
    from minigpt.attention import get_attention

    attend = get_attention(kernel)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 1, pos, d_head, generator=g) for _ in range(3))  # [batch n_heads pos d_head]
    with torch.no_grad():
        small = [t[..., :256, :].contiguous() for t in (q, k, v)]
        attend(*small, causal=True)  # warm-up: libraries, thread pools
        rss = None
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the peak resident set (VmHWM) to the current size
            before = _status_kib("VmRSS")
            t0 = time.perf_counter()
            out = attend(q, k, v, causal=True)
            seconds = time.perf_counter() - t0
            rss = (_status_kib("VmHWM") - before) * 1024
            del out
        except OSError:  # no clear_refs (not Linux, or not allowed): the profiler's figure only
            t0 = time.perf_counter()
            attend(q, k, v, causal=True)
            seconds = time.perf_counter() - t0
        tensors = _tensor_peak(lambda: attend(q, k, v, causal=True))
    return dict(kernel=kernel, tensors_bytes=tensors, rss_bytes=rss, seconds=seconds)


def measure(kernel: str, pos: int, d_head: int) -> dict:
    """One kernel, in a fresh Python process."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kernel, "--pos", str(pos), "--d-head", str(d_head)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return dict(kernel=kernel, error=done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def mib(n: int | None) -> str:
    return "   n/a" if n is None else f"{n / MiB:6.1f}"


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pos", type=int, default=8192)
    parser.add_argument("--d-head", type=int, default=64)
    parser.add_argument("--kernels", default="online,sdpa,naive")
    parser.add_argument("--json", help="write the figures here too")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.pos, args.d_head)))
        return []
    print(f"attention, causal, batch 1, 1 head, {args.pos} positions, d_head {args.d_head}, fp32, forward; "
          f"{machine()}")
    print(f"a full bool mask: {args.pos**2 / MiB:.0f} MiB; fp32 scores: {4 * args.pos**2 / MiB:.0f} MiB; "
          f"the output: {4 * args.pos * args.d_head / MiB:.0f} MiB")
    rows = [measure(name, args.pos, args.d_head) for name in args.kernels.split(",")]
    peer = next((r for r in rows if r["kernel"] == "sdpa" and "error" not in r), None)
    for r in rows:
        if "error" in r:
            print(f"{r['kernel']:>8}: could not run ({r['error']})")
            continue
        ratio = ""
        if peer is not None and r is not peer:
            ratio = f" | ratio vs sdpa: tensors {r['tensors_bytes'] / max(peer['tensors_bytes'], 1):.1f}"
            if r["rss_bytes"] is not None and peer["rss_bytes"]:
                ratio += f", rss {r['rss_bytes'] / peer['rss_bytes']:.1f}"
        target = " (target <= 32 MiB)" if r["kernel"] == "online" else ""
        print(f"{r['kernel']:>8}: tensors {mib(r['tensors_bytes'])} MiB | rss {mib(r['rss_bytes'])} MiB | "
              f"{r['seconds']:6.2f} s{ratio}{target}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
