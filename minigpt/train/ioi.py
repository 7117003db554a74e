"""Recipe ``ioi``: a small word-level GPT that learns indirect-object identification (chapter 5).

It reads a stream of sentences (:func:`minigpt.data.ioi.train_batch`): filler, and IOI sentences
from ten frames in both name orders, with distractor clauses, completed with their answer
("When Mary and John went to the store, John gave a drink to Mary."). Only the next-token loss
is trained; nothing marks the answer. The history records the logit difference
``logit(IO) - logit(S)`` and the accuracy (IO above S) on fixed prompts of the test split
(held-out frames, held-out name pairs: :func:`minigpt.data.ioi.ioi_batch`) and of the train
split every 50 steps, so the chapter can plot the phase change. The checkpoint folder holds the
word list (``vocab.json``), so ``load_checkpoint`` gives a model whose ``to_tokens`` reads sentences.

The shipped run (seed 0, one thread; 195 s of CPU, 402 s wall at load 2-6): for 700 steps the
logit difference stays at 0 while the loss falls (filler statistics, "a name comes next"); from
750 to 1,300 it goes *negative* (down to -1.0: the model prefers S, the name it saw last); at
1,350-1,400 it jumps (test 1.3 → 4.5 nats) and reaches 12.5 nats, 100 %, at 4,000. The circuit
it uses (``tests/interp/test_ioi_circuit.py``): a layer-0 head writes the subject's name into
the verb that follows it, a layer-1 head passes it on, and heads at the last position read the
verb (through their values) and push S down, while another head copies both introduced names up.
A 1-layer model trained the same way prefers S (-0.9 nats, 37 % at 4,000 steps).

``ioi-short`` is the same run stopped at step 1,400, just after the jump (~65 s of CPU): its
history is the shipped history's first rows, to the bit on the same machine.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import GPTConfig
from ..data import ioi
from ..model import GPT
from .config import TrainConfig
from .loop import train
from .recipes import register_recipe

BOS = 0
# Measured while designing (report of issue 16): attention-only (the circuit is all heads, and a step costs half
# what it does with MLPs); init_range 0.1, as the other recipes. Batch 16 or d_model 64 did not reach the phase
# change within 1,600 or 2,000 steps; lr 5e-3 not within 1,800.
MODEL = dict(n_layers=3, d_model=128, n_heads=4, n_ctx=48, attn_only=True, init_range=0.1, name="ioi",
             bos_token_id=BOS, eos_token_id=BOS, tokenizer="words")
TRAIN = dict(steps=4000, batch_size=32, lr=3e-3, warmup_steps=100, weight_decay=0.1, min_lr_ratio=0.1,
             eval_every=50, threads=1)
DATA = dict(p_ioi=0.8)
SHORT_STOP = 1400  # ioi-short: the shipped run's first steps, through the phase change (CI)
EVAL_N = 256  # prompts per split in each history row


def ioi_metrics(model: GPT, n: int = EVAL_N) -> dict:
    """The history's columns: logit difference and accuracy (IO above S) on fixed test and train prompts."""
    out = {}
    for split in ("test", "train"):
        batch = ioi.ioi_batch(n, seed=1234, split=split)
        diff = ioi.logit_diff(model(batch["clean"].to(model.device)), batch, per_prompt=True)  # [n]
        out[f"{split}_logit_diff"] = diff.mean().item()
        out[f"{split}_acc"] = (diff > 0).float().mean().item()
    return out


def build(seed: int = 0, **overrides) -> tuple[GPT, callable, TrainConfig, dict]:
    """The model, the batch sampler, the TrainConfig and the data settings, with ``overrides`` applied.

    An override key may name a GPTConfig field, a TrainConfig field or a data setting (``p_ioi``).
    """
    model_kw, train_kw, data_kw = dict(MODEL), dict(TRAIN), dict(DATA)
    for key, value in overrides.items():
        target = data_kw if key in data_kw else train_kw if key in TrainConfig.__dataclass_fields__ else model_kw
        target[key] = value
    model = GPT(GPTConfig(**model_kw, d_vocab=ioi.tokenizer().n_vocab, seed=seed))
    n_ctx = model.cfg.n_ctx

    def sample(generator: torch.Generator, n: int) -> torch.Tensor:
        return ioi.train_batch(generator, n, n_ctx, **data_kw)

    return model, sample, TrainConfig(**train_kw, seed=seed), data_kw


def run(out: Path, *, device: str = "auto", seed: int = 0, progress: bool = True, resume: bool = False,
        name: str = "ioi", stop_at: int | None = None, **overrides) -> Path:
    """Train the IOI model into ``out`` (see the module docstring). Returns ``out``.

    ``stop_at`` ends the run early, the schedule still spanning ``steps``: the first rows of a
    full run's history, cheaply.
    """
    out = Path(out)
    model, sample, cfg, data_kw = build(seed, **overrides)
    cfg = cfg.replace(device=device, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    ioi.tokenizer().save(out / "vocab.json")  # load_checkpoint attaches it (cfg.tokenizer == "words")
    command = f"minigpt train {name} --seed {seed}" + "".join(
        f" --{k} {v}" for k, v in overrides.items() if k in ("steps", "dtype", "threads"))
    meta = {"command": command, "data": {"sampler": "minigpt.data.ioi.train_batch", "tokenizer": "words",
                                         "d_vocab": model.cfg.d_vocab, "test_frames": list(ioi.HELD_OUT_FRAMES),
                                         "test_pairs": len(ioi.name_pairs("test")), **data_kw},
            "eval": "minigpt.train.ioi.ioi_metrics", **({"stop_at": stop_at} if stop_at is not None else {})}
    train(model, sample, cfg, evals=[ioi_metrics], out=out, resume=resume, stop_at=stop_at, recipe=name, meta=meta)
    return out


def run_short(out: Path, **kwargs) -> Path:
    return run(out, name="ioi-short", stop_at=SHORT_STOP, **kwargs)


register_recipe("ioi", run, "3-layer attention-only word-level GPT that learns indirect-object identification "
                "(chapter 5): a phase change near step 1,400, then a composed circuit (~3-4 min on a CPU)")
register_recipe("ioi-short", run_short, f"the ioi run stopped at step {SHORT_STOP}, just after its phase change "
                "(CI; ~1 min on a CPU)")
