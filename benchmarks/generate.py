"""Greedy and beam-search generation tokens/s vs Hugging Face transformers (gpt2 geometry, fp32, CPU).

    python benchmarks/generate.py [--new-tokens 128] [--beams 4] [--beam-new-tokens 32]

16-token prompt, 128 new tokens, KV cache on both sides (and off, for reference).
Target (issue 2): minigpt / HF tokens-per-second ratio >= 1.2 with the cache.
Beam search (issue 14): ``generate(num_beams=4)`` on both sides, KV cache on, the same
tokens checked; tokens/s counts the tokens returned (one best sequence), as a user sees them.
Target: ratio >= 1.2.
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
    parser.add_argument("--beams", type=int, default=4, help="num_beams of the beam-search row (0: skip it)")
    parser.add_argument("--beam-new-tokens", type=int, default=32)
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
    if args.beams:
        label, beam_same = f"beam search, {args.beams} beams", beam_row(hf, ours, prompt, args, results)
        print(f"same {args.beam_new_tokens} beam-search tokens as HF: {beam_same}")
        results[label]["same_tokens"] = beam_same
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"same_tokens": same, **results}, f, indent=2)


def beam_row(hf, ours, prompt, args, results) -> bool:
    """``generate(num_beams=...)`` on both sides, the KV cache on; adds a row to ``results``, returns same-tokens."""
    n, beams = args.beam_new_tokens, args.beams
    mask = torch.ones_like(prompt)  # without it HF would take prompt tokens equal to pad_token_id for padding

    def hf_beam():
        return hf.generate(prompt, attention_mask=mask, max_new_tokens=n, num_beams=beams, do_sample=False,
                           pad_token_id=0, eos_token_id=None)

    def our_beam():
        return ours.generate(prompt, max_new_tokens=n, num_beams=beams, do_sample=False, stop_at_eos=False)

    same = torch.equal(hf_beam(), our_beam())
    t = time_pair({"hf": hf_beam, "minigpt": our_beam}, repeats=args.repeats, warmup=1)
    hf_tps, our_tps = n / t["hf"], n / t["minigpt"]
    label = f"beam search, {beams} beams"
    results[label] = dict(hf_tok_s=hf_tps, minigpt_tok_s=our_tps, ratio=our_tps / hf_tps)
    print(f"{label}: HF {hf_tps:6.1f} tok/s | minigpt {our_tps:6.1f} tok/s | ratio {our_tps / hf_tps:.2f} "
          "(target >= 1.2)")
    return same


if __name__ == "__main__":
    main()
