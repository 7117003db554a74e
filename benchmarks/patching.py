"""Activation patching: minigpt.interp.patching vs transformer_lens.patching, on the same weights.

    python benchmarks/patching.py [--models 3l,gpt2] [--batches 1,2] [--pos 20] [--threads 1]

For each geometry (random weights; ``3l``: 3 layers of d_model 512, 8 heads, d_vocab 48262, the
size of TransformerLens's 3-layer toy models; ``gpt2``: GPT-2 small's shape; ``tiny``: 2 layers of
d_model 32, for the tests) and batch, one clean and one corrupted prompt of ``--pos`` tokens,
the metric a logit difference at the last position, and both libraries patch every
``(layer, position)`` of ``resid_pre`` (``--fns`` adds others, e.g. ``attn_head_out_all_pos``).
Neither shows its progress bar. Printed: the seconds per call of each (the best of
``--repeats``, calls interleaved), the ratio minigpt / TransformerLens, and the largest
difference between their result grids. For ``resid_pre`` also minigpt's model run as
TransformerLens runs it, one whole forward pass per index: the part of the ratio that
minigpt's faster forward pass gives, as against the batched, shortened runs.

Target (issue 15): ``get_act_patch_resid_pre`` at most 0.5x TransformerLens's time. On a
shared 2-core machine pass ``--threads 1`` (two OpenMP threads can be far slower than one on
small matrices), and read the load average printed next to the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import warnings

import torch

from common import machine, time_pair
from minigpt import GPT, GPTConfig
from minigpt.testing import tl_twin

MODELS = {
    "tiny": dict(n_layers=2, d_model=32, n_heads=4, d_vocab=50),
    "3l": dict(n_layers=3, d_model=512, n_heads=8, d_vocab=48262),
    "gpt2": dict(n_layers=12, d_model=768, n_heads=12, d_vocab=50257),
}


def one_run_per_index(model, corrupted, clean_cache, metric):
    """``resid_pre`` patched by (layer, position) as TransformerLens does it: a whole forward per index."""
    n_pos = corrupted.shape[1]
    grid = torch.zeros(model.cfg.n_layers, n_pos)
    for layer in range(model.cfg.n_layers):
        clean = clean_cache[f"blocks.{layer}.hook_resid_pre"]
        for pos in range(n_pos):
            def patch(resid, hook, pos=pos):
                resid = resid.clone()
                resid[:, pos] = clean[:, pos]
                return resid

            logits = model.run_with_hooks(corrupted, fwd_hooks=[(f"blocks.{layer}.hook_resid_pre", patch)])
            grid[layer, pos] = metric(logits).item()
    return grid


def measure(model_name: str, batch: int, n_pos: int, fns: list[str], repeats: int, device: str) -> list[dict]:
    import transformer_lens.patching as tl_patching

    import minigpt.interp.patching as our_patching

    cfg = GPTConfig(**MODELS[model_name], n_ctx=max(n_pos, 64), seed=0)
    ours = GPT(cfg).to(device).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = tl_twin(ours)
    gen = torch.Generator().manual_seed(0)
    clean = torch.randint(0, cfg.d_vocab, (batch, n_pos), generator=gen).to(device)
    corrupted = clean.clone()
    corrupted[:, n_pos // 4] = (corrupted[:, n_pos // 4] + 1) % cfg.d_vocab  # two tokens changed
    corrupted[:, n_pos // 2] = (corrupted[:, n_pos // 2] + 1) % cfg.d_vocab

    def metric(logits):  # [batch pos d_vocab] -> a logit difference at the last position
        return (logits[:, -1, 1] - logits[:, -1, 2]).mean()

    rows = []
    bar, tl_patching.tqdm = tl_patching.tqdm, lambda iterable, **kwargs: iterable  # no bar (ours: progress=False)
    try:
        with torch.no_grad():
            _, our_cache = ours.run_with_cache(clean)
            _, their_cache = theirs.run_with_cache(clean)
            for fn in fns:
                name = f"get_act_patch_{fn}"
                ours_fn = lambda: getattr(our_patching, name)(  # noqa: E731
                    ours, corrupted, our_cache, metric, progress=False)
                theirs_fn = lambda: getattr(tl_patching, name)(theirs, corrupted, their_cache, metric)  # noqa: E731
                diff = (ours_fn() - theirs_fn()).abs().max().item()
                fns_timed = {"transformer_lens": theirs_fn, "minigpt": ours_fn}
                if fn == "resid_pre":  # TransformerLens's algorithm on minigpt's model: what batching saves
                    fns_timed["one_run_each"] = lambda: one_run_per_index(ours, corrupted, our_cache, metric)
                t = time_pair(fns_timed, repeats=repeats, warmup=1)
                rows.append(dict(model=model_name, batch=batch, pos=n_pos, function=name,
                                 transformer_lens_s=t["transformer_lens"], minigpt_s=t["minigpt"],
                                 ratio=t["minigpt"] / t["transformer_lens"], max_abs_diff=diff,
                                 one_run_each_s=t.get("one_run_each"), load_average=os.getloadavg()[0]))
    finally:
        tl_patching.tqdm = bar
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="3l,gpt2", help=f"comma-separated, of {sorted(MODELS)}")
    parser.add_argument("--batches", default="1,2")
    parser.add_argument("--pos", type=int, default=20)
    parser.add_argument("--fns", default="resid_pre", help="get_act_patch_<fn>, comma-separated")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own setting)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"activation patching, random weights, fp32, {args.device}; {machine()}")
    rows = []
    for model_name in args.models.split(","):
        for batch in map(int, args.batches.split(",")):
            for row in measure(model_name, batch, args.pos, args.fns.split(","), args.repeats, args.device):
                rows.append(row)
                target = " (target <= 0.5)" if row["function"] == "get_act_patch_resid_pre" else ""
                each = (f" | minigpt one forward per index {row['one_run_each_s']:7.3f} s"
                        if row["one_run_each_s"] is not None else "")
                print(f"{row['model']:>5} batch {row['batch']} x {row['pos']} pos, {row['function']}: "
                      f"TransformerLens {row['transformer_lens_s']:8.3f} s | minigpt {row['minigpt_s']:7.3f} s | "
                      f"ratio {row['ratio']:.3f}{target} | max |diff| {row['max_abs_diff']:.1e}{each} | "
                      f"load {row['load_average']:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
