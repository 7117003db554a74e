"""Greedy generation tokens/s vs Hugging Face transformers (gpt2 geometry, fp32, CPU).

    python benchmarks/generate.py [--new-tokens 128]

16-token prompt, 128 new tokens, KV cache on both sides (and off, for reference).
Target (issue 2): minigpt / HF tokens-per-second ratio >= 1.2 with the cache.
"""

from __future__ import annotations

import argparse
import json

import torch

from common import machine, quiet_transformers, time_pair
from minigpt.testing import gpt2_twins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-uncached", action="store_true", help="skip the slow runs without a cache")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    quiet_transformers()
    hf, ours = gpt2_twins()
    print(f"gpt2 geometry, random weights, fp32; {machine()}")
    prompt = torch.randint(0, 50257, (1, 16), generator=torch.Generator().manual_seed(0))
    n = args.new_tokens

    def hf_gen(cache: bool):
        return hf.generate(prompt, max_new_tokens=n, min_new_tokens=n, do_sample=False, use_cache=cache,
                           pad_token_id=0, eos_token_id=None)

    def our_gen(cache: bool):
        return ours.generate(prompt, max_new_tokens=n, temperature=0.0, use_kv_cache=cache, stop_at_eos=False)

    same = torch.equal(hf_gen(True), our_gen(True))
    results = {}
    modes = [True] if args.no_uncached else [True, False]
    for cache in modes:
        t = time_pair({"hf": lambda: hf_gen(cache), "minigpt": lambda: our_gen(cache)},
                      repeats=args.repeats, warmup=1)
        hf_tps, our_tps = n / t["hf"], n / t["minigpt"]
        label = "with KV cache" if cache else "without cache"
        results[label] = dict(hf_tok_s=hf_tps, minigpt_tok_s=our_tps, ratio=our_tps / hf_tps)
        target = " (target >= 1.2)" if cache else ""
        print(f"{label}: HF {hf_tps:6.1f} tok/s | minigpt {our_tps:6.1f} tok/s | ratio {our_tps / hf_tps:.2f}{target}")
    print(f"same {n} greedy tokens as HF: {same}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"same_tokens": same, **results}, f, indent=2)


if __name__ == "__main__":
    main()
