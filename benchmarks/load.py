"""Loading a gpt2-geometry checkpoint from disk: minigpt vs transformers, time and peak memory.

    python benchmarks/load.py [--repeats 3] [--dtype float32]

Each load runs in a fresh process. Time is the load call alone (imports
excluded); memory is the peak resident set size (VmHWM) during the call minus
the resident size just before it. Linux only (it reads /proc/self/status). Target (issue 3): both ratios <= 1.0.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time, torch
kind, folder, dtype = sys.argv[1], sys.argv[2], getattr(torch, sys.argv[3])
if kind == "minigpt":
    from minigpt import GPT
    load = lambda: GPT.from_pretrained(folder, dtype=dtype)
else:
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    load = lambda: transformers.GPT2LMHeadModel.from_pretrained(folder, dtype=dtype)
def status_kb(field):  # VmRSS now, VmHWM the peak; ru_maxrss would include the parent's peak from before exec
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))
before = status_kb("VmRSS")
t0 = time.perf_counter()
model = load()
seconds = time.perf_counter() - t0
peak = status_kb("VmHWM")
tokens = torch.arange(16)[None]
with torch.inference_mode():  # the first forward pass touches every weight
    logits = model(tokens)
    logits = getattr(logits, "logits", logits)
seconds_first = time.perf_counter() - t0
peak_first = status_kb("VmHWM")
n_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
print(json.dumps({"seconds": seconds, "peak_mb": (peak - before) / 1024, "weights_mb": n_bytes / 2**20,
                  "seconds_first_forward": seconds_first, "peak_first_forward_mb": (peak_first - before) / 1024}))
"""


def run_child(kind: str, folder: str, dtype: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, kind, folder, dtype], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(0)
        transformers.GPT2LMHeadModel(transformers.GPT2Config()).save_pretrained(folder)
        size = (Path(folder) / "model.safetensors").stat().st_size / 2**20
        print(f"gpt2 geometry, random weights, model.safetensors {size:.0f} MB, loaded as {args.dtype}")
        best: dict[str, dict] = {}
        for _ in range(args.repeats):  # alternate, so disk cache and drift treat both alike
            for kind in ("transformers", "minigpt"):
                r = run_child(kind, folder, args.dtype)
                b = best.setdefault(kind, r)
                best[kind] = {k: min(b[k], r[k]) for k in r}
    ours, theirs = best["minigpt"], best["transformers"]
    for kind, r in best.items():
        print(f"{kind:>12}: load {r['seconds']:.2f} s, peak +{r['peak_mb']:.0f} MB | load + first forward "
              f"{r['seconds_first_forward']:.2f} s, peak +{r['peak_first_forward_mb']:.0f} MB "
              f"({r['weights_mb']:.0f} MB of weights)")
    ratios = {
        "load_time": ours["seconds"] / theirs["seconds"],
        "load_peak": ours["peak_mb"] / theirs["peak_mb"],
        "first_forward_time": ours["seconds_first_forward"] / theirs["seconds_first_forward"],
        "first_forward_peak": ours["peak_first_forward_mb"] / theirs["peak_first_forward_mb"],
    }
    print("ratios minigpt / transformers (targets <= 1.0): " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    print("note: transformers maps the safetensors file and reads a page only when it is first used, so its\n"
          "'load' peak leaves the weights out; 'load + first forward' counts them for both.")
    if args.json:
        Path(args.json).write_text(json.dumps({"best": best, "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
