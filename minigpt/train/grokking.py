"""Recipes ``grokking``, ``grokking-canonical`` and ``grokking-no-wd``: a transformer that memorises, then generalises.

A one-layer transformer learns ``a + b mod p`` from a fraction of the pairs.
It fits the training pairs within a few dozen epochs (memorisation), and only
much later, pushed by weight decay towards smaller weights, switches to an
algorithm that works on every pair: it embeds ``a`` and ``b`` as
``cos/sin(w a)``, ``cos/sin(w b)`` for a few *key frequencies* ``w``, multiplies
them in the MLP into ``cos(w(a+b))``, ``sin(w(a+b))``, and reads the answer
``c`` off ``cos(w(a+b-c))`` (Nanda et al., 2023). :mod:`minigpt.interp.fourier`
reads the weights in that basis; chapter 4 does it step by step.

- ``grokking-canonical``: Nanda et al.'s setup (``p = 113``, 30 % of pairs,
  full batch, AdamW lr 1e-3, weight decay 1, betas (0.9, 0.98), d_model 128,
  4 heads, d_mlp 512, ReLU, no LayerNorm). Its checkpoint ships with the
  package: the history has losses, accuracies and progress measures every 100
  epochs, and fp16 snapshots chosen along the way.
- ``grokking`` (the fast run): the same model on ``p = 59`` (see ``FAST``
  for the settings and ``benchmarks/grokking.py`` for what each lever buys),
  which groks in seconds on a laptop CPU.
- ``grokking-no-wd``: the fast run without weight decay (the ablation).

What makes the fast run fast (``python benchmarks/grokking.py --levers``, a quiet 2-core CPU;
each row adds one lever to the row above; seconds to 99 % test accuracy):

================================================  ==============  ==========  =======
lever                                             epochs to 99 %  ms / epoch  seconds
================================================  ==============  ==========  =======
canonical, straightforward (2 threads)            21,500          143         3,077 *
only what the loss needs, fused AdamW (1 thread)  21,500          54          1,168 *
p = 59 (30 % of the pairs), lr 1e-3               20,640          16          339
40 % of the pairs                                 2,990           22          65
lr 5e-3: the recipe                               710             23          16
================================================  ==============  ==========  =======

(* extrapolated from the measured ms/epoch and the shipped canonical run's epoch of 99 %;
the straightforward step on one thread: 214 ms/epoch.) "Only what the loss needs": the loss
reads the logits at ``=`` only, so the MLP and the unembedding run at that position only, and
keys and values are computed once per (position, token) rather than per example
(:func:`~minigpt.grokking_model.last_position_logits`): 2.6x per epoch against two threads, 3.9x against
one; the fused AdamW kernel adds ~2 % of that. The recipe with the straightforward step takes
56 s. One thread, because two OpenMP threads sharing 2 cores with any other busy process ran
6-20x slower here (quiet: 9 s to 99 % on two threads, 16 s on one). Tried and not used:
Grokfast-EMA (alpha 0.98, lambda 2) needed 1,020 epochs instead of 710 at lr 5e-3 (at lr 3e-3 it
saved 15 %); torch.compile of the forward and loss: 10 s to compile, to save 3.5 of 21.5 ms per
epoch (2.5 s over the run). Both recipes start from
TransformerLens's init (:func:`~minigpt.grokking_model.init_grokking_`): with GPT-2's, 99 % comes at
epoch 800 (lr 5e-3), 5,850 instead of 3,000 at lr 1e-3, and the p = 113 run had not grokked by
epoch 25,000 (11 % test accuracy).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from ..checkpoints import checkpoint_path, save_checkpoint, save_snapshot
from ..data.modular import modular_data
from ..interp.progress import progress_measures
from .grokking_history import StateRecorder, add_progress_measures, final_key_frequencies, pick_snapshot_steps
from .grokking_loop import GrokRun, GrokSettings, train_grokking
from .recipes import register_recipe

__all__ = ["CANONICAL", "FAST", "NO_WD", "run_canonical", "run_fast", "run_no_wd", "settings_for", "write_run"]

# p=113, 30 %, lr 1e-3, wd 1, betas (0.9, 0.98), TransformerLens's init; until 99 % test accuracy, then half as long
# again (the cleanup), at most 50,000 epochs
CANONICAL = GrokSettings(epochs=50_000, stop_test_acc=0.99, stop_extra=0.5, threads=1)
# threads=1: the GEMMs are small, and two OpenMP threads sharing 2 cores with any other busy process ran
# 6-20x slower here (one thread: 16 s to 99 %; two, beside another job: 100-370 s)
FAST = GrokSettings(p=59, train_frac=0.4, lr=5e-3, epochs=3000, eval_every=10, stop_test_acc=0.99,
                    stop_extra=1.0, threads=1)  # after 99 % test accuracy, as many epochs again: the cleanup
NO_WD = replace(FAST, weight_decay=0.0, stop_test_acc=None, epochs=1600)
CANONICAL_SNAPSHOTS = 18  # 18 fp16 snapshots of 0.46 MB + the fp32 final model (0.9 MB) + history: < 10 MB shipped


def settings_for(base: GrokSettings, seed: int, **overrides) -> GrokSettings:
    """``base`` with the CLI's seed and overrides (``steps`` means epochs; any GrokSettings field by name)."""
    overrides = dict(overrides)
    overrides.pop("dtype", None)  # full-batch fp32 only: the model is tiny
    overrides.pop("resume", None)
    if "steps" in overrides:
        overrides["epochs"] = overrides.pop("steps")
    unknown = set(overrides) - set(GrokSettings.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown grokking settings {sorted(unknown)}; known: {sorted(GrokSettings.__dataclass_fields__)}")
    return replace(base, seed=seed, **overrides)


def _device(device: str) -> str:
    if device in (None, "auto"):
        from ..device import pick_device
        return str(pick_device("auto"))
    return device


def summary(rows: list[dict]) -> dict:
    """When train accuracy first hit 100 %, test accuracy first passed 50 % and 99 %, and their ratio."""
    first = lambda key, level: next((r["step"] for r in rows if r[key] >= level), None)  # noqa: E731
    train100, test50, test99 = first("train_acc", 1.0), first("test_acc", 0.5), first("test_acc", 0.99)
    test99_time = next((r["time"] for r in rows if r["test_acc"] >= 0.99), None)
    return {"train_100_step": train100, "test_50_step": test50, "test_99_step": test99,
            "test_99_seconds": test99_time,
            "delay_ratio": (test50 / max(train100, 1)) if train100 is not None and test50 is not None else None}


def write_run(out: Path, name: str, run: GrokRun, extra: dict | None = None) -> Path:
    history = {"recipe": name, "rows": run.rows, "summary": summary(run.rows), "seconds": run.seconds,
               "cpu_seconds": run.cpu_seconds, **(extra or {})}
    train = {"recipe": name, "settings": run.settings.to_dict()}
    return save_checkpoint(out, run.model, history=history, train=train)


def run_fast(out: Path, *, device: str = "cpu", seed: int = 0, progress: bool = True, **overrides) -> Path:
    """Train the fast run and write its checkpoint (final weights, history every 10 epochs, measures)."""
    s = settings_for(FAST, seed, **overrides)
    run = train_grokking(s, device=_device(device), progress=progress)
    data = modular_data(s.p, s.operation, s.train_frac, s.data_seed)
    freqs = final_key_frequencies(run.model, s.p)
    measures = progress_measures(run.model.cpu(), data, freqs)
    return write_run(Path(out), "grokking", run, {"key_frequencies": freqs, "final_measures": measures})


def run_no_wd(out: Path, *, device: str = "cpu", seed: int = 0, progress: bool = True, **overrides) -> Path:
    """The fast run without weight decay: it memorises, and does not grok in its 1,600 epochs."""
    s = settings_for(NO_WD, seed, **overrides)
    run = train_grokking(s, device=_device(device), progress=progress)
    return write_run(Path(out), "grokking-no-wd", run)


def run_canonical(out: Path, *, device: str = "cpu", seed: int = 0, progress: bool = True,
                  snapshots: int = CANONICAL_SNAPSHOTS, record_every: int = 100, **overrides) -> Path:
    """Nanda et al.'s run: history with progress measures every ``record_every`` epochs, ``snapshots`` fp16 frames."""
    s = settings_for(CANONICAL, seed, **overrides)
    recorder = StateRecorder(record_every)
    t0 = time.perf_counter()
    run = train_grokking(s, device=_device(device), callback=recorder, progress=progress)
    last = run.rows[-1]["step"]
    recorder.record(last, run.model)
    return finish_canonical(Path(out), run, recorder.states, snapshots=snapshots, progress=progress,
                            train_seconds=time.perf_counter() - t0)


def finish_canonical(out: Path, run: GrokRun, states: dict, *, snapshots: int = CANONICAL_SNAPSHOTS,
                     progress: bool = False, train_seconds: float | None = None) -> Path:
    """Progress measures against the final key frequencies, the history, the chosen fp16 snapshots."""
    s = run.settings
    model = run.model.cpu()
    data = modular_data(s.p, s.operation, s.train_frac, s.data_seed)
    freqs = final_key_frequencies(model, s.p)
    add_progress_measures(run.rows, states, model, data, freqs, progress=progress)
    steps = pick_snapshot_steps(run.rows, snapshots)
    write_run(out, "grokking-canonical", run, {
        "key_frequencies": freqs, "final_measures": progress_measures(model, data, freqs),
        "snapshot_steps": steps, "train_seconds": train_seconds})
    work = model.__class__(model.cfg, attention=model.attention, init=False)
    for step in steps:
        work.load_state_dict(states[step])
        save_snapshot(out, work, step)
    return out


def load_settings(folder) -> GrokSettings:
    """The settings a grokking checkpoint (a shipped name or a folder) was trained with, from its ``train.json``."""
    d = json.loads((checkpoint_path(folder) / "train.json").read_text())["settings"]
    d["betas"] = tuple(d["betas"])
    return GrokSettings(**d)


register_recipe("grokking", run_fast, "1-layer transformer groks a + b mod 59 in seconds (the fast run)")
register_recipe("grokking-canonical", run_canonical,
                "Nanda et al.'s a + b mod 113: 99 % test accuracy at epoch 21,500, stops at 32,250 "
                "(~32 min of one CPU core), with progress measures and snapshots")
register_recipe("grokking-no-wd", run_no_wd, "the fast run without weight decay: memorises, no grokking in 1,600 epochs (ablation)")
