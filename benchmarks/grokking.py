"""Seconds to 99 % test accuracy: the fast recipe (`minigpt train grokking`) vs the canonical setup run the
straightforward way (p = 113, 30 %, AdamW 1e-3, wd 1, full model forward, torch's default AdamW), same machine.

    python benchmarks/grokking.py                         # a few minutes: the canonical run is capped, then extrapolated
    python benchmarks/grokking.py --canonical-seconds 60  # cap the canonical measurement at 60 s (or --canonical-epochs)
    python benchmarks/grokking.py --full                  # run the canonical setup to 99 % (about half an hour)
    python benchmarks/grokking.py --levers                # what each lever of the fast recipe buys (several minutes)

When capped, the canonical time to 99 % is its measured seconds per epoch times the epoch at which the
shipped canonical run (`grokking-canonical`, same settings, same maths) reached 99 % test accuracy:
printed as EXTRAPOLATED. Timings are noisy on a shared machine: run it on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace

import torch

from minigpt.checkpoints import load_history
from minigpt.train.grokking import CANONICAL, FAST, summary
from minigpt.train.grokking_loop import train_grokking


def machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads")


def run_to_99(settings, label: str) -> dict:
    """Train ``settings`` until test accuracy reaches 99 % (no extra epochs); wall and CPU seconds to get there."""
    s = replace(settings, stop_test_acc=0.99, stop_extra=0.0, epochs=max(settings.epochs, 30_000))
    t_cpu = time.process_time()
    run = train_grokking(s)
    cpu = time.process_time() - t_cpu
    info = summary(run.rows)
    epochs = run.rows[-1]["step"] + 1
    out = {"label": label, "p": s.p, "train_frac": s.train_frac, "lr": s.lr, "fast_step": s.fast,
           "epochs_to_99": info["test_99_step"], "seconds_to_99": info["test_99_seconds"],
           "cpu_seconds": cpu, "epochs_run": epochs, "ms_per_epoch": 1e3 * run.seconds / epochs,
           "train_100_step": info["train_100_step"], "test_50_step": info["test_50_step"],
           "delay_ratio": info["delay_ratio"]}
    if out["seconds_to_99"] is None:
        print(f"  {label:38s} no 99 % test accuracy in {epochs} epochs ({run.seconds:.0f} s)")
        return out
    print(f"  {label:38s} 99 % test at epoch {out['epochs_to_99']}, {out['seconds_to_99']:.1f} s "
          f"(CPU {cpu:.1f} s, {out['ms_per_epoch']:.1f} ms/epoch); train 100 % at {out['train_100_step']}, "
          f"test 50 % at {out['test_50_step']} (delay x{out['delay_ratio'] or float('nan'):.1f})")
    return out


def per_epoch(settings, epochs: int, seconds: float | None, label: str) -> dict:
    """Seconds per epoch of ``settings`` over at most ``epochs`` epochs or ``seconds`` seconds."""
    s = replace(settings, epochs=epochs, max_seconds=seconds, stop_test_acc=None)
    run = train_grokking(s)
    n = run.rows[-1]["step"] + 1
    out = {"label": label, "epochs_measured": n, "seconds": run.seconds, "ms_per_epoch": 1e3 * run.seconds / n,
           "cpu_ms_per_epoch": 1e3 * run.cpu_seconds / n}
    print(f"  {label:38s} {out['ms_per_epoch']:.1f} ms/epoch (CPU {out['cpu_ms_per_epoch']:.1f}) over {n} epochs")
    return out


def canonical_epochs_to_99() -> int:
    rows = load_history("grokking-canonical")["rows"]
    step = summary(rows)["test_99_step"]
    if step is None:
        raise RuntimeError("the shipped grokking-canonical history never reaches 99 % test accuracy")
    return step


def levers(canonical_99: int, epochs: int) -> list[dict]:
    """Each lever added in turn; epochs to 99 % measured (or taken from the shipped canonical run), times measured."""
    print("levers, one at a time (each row adds one to the row above):")
    rows = []
    default = per_epoch(replace(CANONICAL, fast=False, threads=None), epochs, None,
                        f"canonical, straightforward, {torch.get_num_threads()} threads")
    slow = per_epoch(replace(CANONICAL, fast=False), epochs, None, "canonical, straightforward, 1 thread")
    fast = per_epoch(CANONICAL, epochs, None, "canonical, last-position step + fused AdamW")
    for r in (default, slow, fast):
        r["epochs_to_99"] = canonical_99
        r["seconds_to_99"] = r["ms_per_epoch"] * canonical_99 / 1e3
        r["extrapolated"] = True
    rows += [default, slow, fast]
    small = replace(FAST, lr=CANONICAL.lr)
    rows.append(run_to_99(replace(small, train_frac=CANONICAL.train_frac), "p=59, 30 %, lr 1e-3"))
    rows.append(run_to_99(small, "p=59, 40 %, lr 1e-3"))
    rows.append(run_to_99(FAST, f"p=59, 40 %, lr {FAST.lr:g} (the recipe)"))
    rows.append(run_to_99(replace(FAST, grokfast_alpha=0.98, grokfast_lamb=2.0), "  + Grokfast-EMA (0.98, 2)"))
    rows.append(run_to_99(replace(FAST, fast=False), "  the recipe with the straightforward step"))
    rows.append(run_to_99(replace(FAST, init="gpt2"), "  the recipe with GPT-2's init"))
    base = rows[0]["seconds_to_99"]
    print(f"{'':40s}{'epochs to 99 %':>16s}{'s to 99 %':>12s}{'x canonical':>14s}")
    for r in rows:
        tag = " (extrapolated)" if r.get("extrapolated") else ""
        print(f"  {r['label']:38s}{r['epochs_to_99'] or 0:>16d}{r['seconds_to_99'] or float('nan'):>12.1f}"
              f"{base / (r['seconds_to_99'] or float('nan')):>13.1f}x{tag}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--canonical-epochs", type=int, default=2000,
                        help="cap on the canonical run's epochs when not --full (default 2000)")
    parser.add_argument("--canonical-seconds", type=float, default=60.0,
                        help="cap on each canonical measurement's seconds when not --full (default 60)")
    parser.add_argument("--full", action="store_true", help="run the canonical setup to 99 %% test accuracy")
    parser.add_argument("--levers", action="store_true", help="measure what each lever buys")
    parser.add_argument("--baseline-threads", type=int, default=None,
                        help="torch threads of the straightforward canonical run (default: torch's own setting)")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    print(f"grokking benchmark; {machine()}")
    result: dict = {"machine": machine()}
    print("default recipe (minigpt train grokking):")
    result["fast"] = fast = run_to_99(FAST, "grokking (fast recipe)")
    print("canonical setup, straightforward (full forward, torch's default AdamW):")
    # straightforward: the full forward and torch's default AdamW, at torch's thread count and at one thread
    # (on 2 shared cores two OpenMP threads can be far slower than one); the faster counts
    counts = [args.baseline_threads] if args.baseline_threads else sorted({torch.get_num_threads(), 1}, reverse=True)
    if args.full:
        tries = [run_to_99(replace(CANONICAL, fast=False, threads=n), f"canonical, straightforward, {n} thr.")
                 for n in counts]
        canon = min(tries, key=lambda r: r["seconds_to_99"] or float("inf"))
        canon["extrapolated"] = False
    else:
        epochs_99 = canonical_epochs_to_99()
        tries = [per_epoch(replace(CANONICAL, fast=False, threads=n), args.canonical_epochs, args.canonical_seconds,
                           f"canonical, straightforward, {n} thr.") for n in counts]
        canon = min(tries, key=lambda r: r["ms_per_epoch"])
        canon.update(epochs_to_99=epochs_99, seconds_to_99=canon["ms_per_epoch"] * epochs_99 / 1e3,
                     extrapolated=True)
        print(f"  EXTRAPOLATED: {canon['ms_per_epoch']:.1f} ms/epoch x {epochs_99} epochs (the shipped run's epoch "
              f"of 99 % test accuracy) = {canon['seconds_to_99']:.0f} s")
    result["canonical_tries"] = tries
    result["canonical"] = canon
    ratio = canon["seconds_to_99"] / fast["seconds_to_99"]
    tag = "extrapolated" if canon["extrapolated"] else "measured"
    print(f"seconds to 99 % test accuracy: fast {fast['seconds_to_99']:.1f} s, canonical straightforward "
          f"{canon['seconds_to_99']:.0f} s ({tag}); ratio canonical / fast = {ratio:.0f}x")
    result["ratio"] = ratio
    if args.levers:
        result["levers"] = levers(canon.get("epochs_to_99") or canonical_epochs_to_99(), min(args.canonical_epochs, 300))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
