"""Recipe ``ioi``: a small word-level GPT that learns indirect-object identification (chapter 5).

It reads a stream of sentences (:func:`minigpt.data.ioi.train_batch`): filler, and IOI sentences
from ten frames in both name orders, with distractor clauses, completed with their answer
("When Mary and John went to the store, John gave a drink to Mary."). Only the next-token loss
is trained; nothing marks the answer. For several hundred steps the model predicts "some name
from the sentence"; then, in a phase change, it learns to leave out the repeated one. The
history records the logit difference ``logit(IO) - logit(S)`` and the accuracy on the test split
(held-out frames and held-out name pairs, :func:`minigpt.data.ioi.ioi_batch`) every
``eval_every`` steps, so the chapter can plot the change; the trained model is the one chapter 5
takes apart with activation and path patching. The checkpoint folder holds the word list
(``vocab.json``), so ``load_checkpoint`` gives a model whose ``to_tokens`` reads sentences.
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
# Measured (see the report of issue 16): attention-only (the circuit is all heads; 2x faster per step than with
# MLPs); init_range 0.1, as the other recipes, to shorten the plateau; the phase change comes near step 1,400.
MODEL = dict(n_layers=3, d_model=128, n_heads=4, n_ctx=48, attn_only=True, init_range=0.1, name="ioi",
             bos_token_id=BOS, eos_token_id=BOS, tokenizer="words")
TRAIN = dict(steps=4000, batch_size=32, lr=3e-3, warmup_steps=100, weight_decay=0.1, min_lr_ratio=0.1,
             eval_every=50, threads=1)
DATA = dict(p_ioi=0.8)
SHORT = dict(steps=300, eval_every=50)  # ioi-short (CI)
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
        name: str = "ioi", preset: dict | None = None, stop_at: int | None = None, **overrides) -> Path:
    """Train the IOI model into ``out`` (see the module docstring). Returns ``out``.

    ``stop_at`` ends the run early (the schedule still spans ``steps``): the first rows of a
    full run's history, cheaply.
    """
    out = Path(out)
    model, sample, cfg, data_kw = build(seed, **{**(preset or {}), **overrides})
    cfg = cfg.replace(device=device, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    ioi.tokenizer().save(out / "vocab.json")  # load_checkpoint attaches it (cfg.tokenizer == "words")
    command = f"minigpt train {name} --seed {seed}" + "".join(
        f" --{k} {v}" for k, v in overrides.items() if k in ("steps", "dtype", "threads"))
    meta = {"command": command, "data": {"sampler": "minigpt.data.ioi.train_batch", "tokenizer": "words",
                                         "d_vocab": model.cfg.d_vocab, "test_frames": list(ioi.HELD_OUT_FRAMES),
                                         "test_pairs": len(ioi.name_pairs("test")), **data_kw},
            "eval": "minigpt.train.ioi.ioi_metrics"}
    train(model, sample, cfg, evals=[ioi_metrics], out=out, resume=resume, stop_at=stop_at, recipe=name, meta=meta)
    return out


def run_short(out: Path, **kwargs) -> Path:
    return run(out, name="ioi-short", preset=SHORT, **kwargs)


register_recipe("ioi", run, "3-layer word-level GPT that learns indirect-object identification (chapter 5): "
                "phase change, then a name-mover circuit (~4 min on a CPU)")
register_recipe("ioi-short", run_short, "a shorter ioi for CI: the logit difference starts to rise (~30 s on a CPU)")
