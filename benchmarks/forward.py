"""Forward pass and run_with_cache vs Hugging Face transformers (gpt2 geometry, fp32, CPU).

    python benchmarks/forward.py [--repeats 7]

Targets (issue 2): forward ratio minigpt / HF <= 0.95 at 1x512 and 4x256;
run_with_cache of every activation / HF forward <= 1.3.
"""

from __future__ import annotations

import argparse
import json

import torch

import minigpt.functional as mf
from common import machine, quiet_transformers, time_pair
from minigpt.testing import gpt2_twins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    quiet_transformers()
    hf, ours = gpt2_twins()
    print(f"gpt2 geometry, random weights, fp32; {machine()}; HF attention: {hf.config._attn_implementation}")
    rows = []
    with torch.inference_mode():
        for batch, pos in [(1, 512), (4, 256)]:
            tokens = torch.randint(0, 50257, (batch, pos), generator=torch.Generator().manual_seed(0))
            diff = (ours(tokens) - hf(tokens).logits).abs().max().item()
            def plain_gemm():  # the same model with the oneDNN GEMM path off: F.linear everywhere
                mf.USE_ONEDNN = False
                try:
                    return ours(tokens)
                finally:
                    mf.USE_ONEDNN = True

            t = time_pair(
                {
                    "hf": lambda: hf(tokens).logits,
                    "minigpt": lambda: ours(tokens),
                    "cache": lambda: ours.run_with_cache(tokens),
                    "plain_gemm": plain_gemm,
                },
                repeats=args.repeats,
            )
            _, cache = ours.run_with_cache(tokens)
            row = dict(
                shape=f"{batch}x{pos}", hf_ms=1e3 * t["hf"], minigpt_ms=1e3 * t["minigpt"],
                cache_ms=1e3 * t["cache"], forward_ratio=t["minigpt"] / t["hf"],
                cache_ratio=t["cache"] / t["hf"], activations=len(cache), max_abs_diff=diff,
                plain_gemm_ms=1e3 * t["plain_gemm"], plain_gemm_ratio=t["plain_gemm"] / t["hf"],
            )
            rows.append(row)
            print(
                f"{row['shape']:>6}: HF {row['hf_ms']:7.1f} ms | minigpt {row['minigpt_ms']:7.1f} ms "
                f"(ratio {row['forward_ratio']:.3f}, target <= 0.95) | run_with_cache of "
                f"{row['activations']} activations {row['cache_ms']:7.1f} ms (ratio {row['cache_ratio']:.3f}, "
                f"target <= 1.3) | max |dlogit| {diff:.1e}"
            )
            print(f"        without the oneDNN GEMM path (F.linear): {row['plain_gemm_ms']:7.1f} ms "
                  f"(ratio {row['plain_gemm_ratio']:.3f})")
    # What the hook points cost when nothing is attached: one identity module call each.
    hook_points = list(ours.hook_dict.values())
    x = torch.zeros(1)
    calls = time_pair({"hooks": lambda: [hp(x) for hp in hook_points]}, repeats=50)["hooks"]
    share = calls / (rows[0]["minigpt_ms"] / 1e3)
    print(f"unused hook points: {len(hook_points)} calls cost {calls * 1e6:.0f} us per forward "
          f"({100 * share:.3f} % of the 1x512 forward)")
    rows.append({"unused_hook_us_per_forward": calls * 1e6, "share_of_forward": share})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
