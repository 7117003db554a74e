"""Recipe ``stdlib-bytes``: the small byte-level model of chapters 1 and 2, trained on the stdlib's source.

The model reads UTF-8 bytes (``d_vocab = 256``, :class:`~minigpt.tokenizer.ByteTokenizer`), so it
needs no vocabulary files and trains on text every Python installation has. Each training window
starts with a BOS token, byte 0 (NUL, which Python source never contains), as GPT-2 starts with
``<|endoftext|>``: the config records it (``eos_token_id = bos_token_id = 0``) and its tokenizer
(``tokenizer = "bytes"``), so ``model.to_tokens(text)`` prepends it, and heads that have nothing
to do can rest their attention on it (a *first-token* head). Positional heads form within a
minute or two: a previous-token head, heads that attend to the last few bytes, a first-token head.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import GPTConfig
from ..data.corpus import stdlib_corpus
from ..interp.detectors import head_scores
from ..model import GPT
from .config import TrainConfig
from .loop import train
from .recipes import register_recipe

BOS = 0
# init_range 0.1 (GPT-2: 0.02) measured: same validation loss (1.41 nats/byte after 1,500 steps), but
# sharper positional heads (best previous-token score 0.51 vs 0.33, best first-token score 0.32 vs 0.07).
# Batch 16 reaches the validation loss of batch 32 at half the compute (measured, 1,500 steps).
MODEL = dict(n_layers=2, d_model=128, n_heads=4, d_vocab=256, n_ctx=128, eos_token_id=BOS, init_range=0.1,
             name="stdlib-bytes", bos_token_id=BOS, tokenizer="bytes")
TRAIN = dict(steps=1500, batch_size=16, lr=3e-3, warmup_steps=50, weight_decay=0.1, min_lr_ratio=0.1,
             eval_every=100, threads=1)  # on a busy 2-core machine, 2 threads ran 4x slower than 1
DATA = dict(n_bytes=2_000_000, val_fraction=0.05)


def with_bos(windows: torch.Tensor) -> torch.Tensor:
    """``[batch pos]`` → ``[batch 1 + pos]`` with the BOS byte in front."""
    return torch.cat([torch.full_like(windows[:, :1], BOS), windows], dim=1)


def text_metrics(val_tokens: torch.Tensor):
    """An eval function: validation loss (nats per byte) and the best positional-head scores on real text."""

    def metrics(model: GPT) -> dict:
        tokens = val_tokens.to(model.device)
        out = {"val_loss": model(tokens, return_type="loss").item()}
        for kind in ("previous_token", "first_token"):
            scores = head_scores(model, kind, tokens)  # [n_layers n_heads]
            out[f"{kind}_score"] = scores.max().item()
        return out

    return metrics


def run(out: Path, *, device: str = "auto", seed: int = 0, progress: bool = True, resume: bool = False,
        **overrides) -> Path:
    """Train the byte-level model into ``out``. ``overrides`` may name GPTConfig, TrainConfig or DATA fields."""
    model_kw, train_kw, data_kw = dict(MODEL), dict(TRAIN), dict(DATA)
    for key, value in overrides.items():
        target = data_kw if key in data_kw else train_kw if key in TrainConfig.__dataclass_fields__ else model_kw
        target[key] = value
    model = GPT(GPTConfig(**model_kw, seed=seed))
    corpus = stdlib_corpus(seed=seed, **data_kw)  # seed shuffles the files, hence the split
    n_ctx = model.cfg.n_ctx - 1  # room for the BOS byte
    windows = corpus.sampler(n_ctx)
    val = with_bos(corpus.eval_batch(n_ctx, n=32))
    cfg = TrainConfig(**train_kw, seed=seed).replace(device=device, progress=progress)
    command = f"minigpt train stdlib-bytes --seed {seed}" + "".join(
        f" --{k} {v}" for k, v in overrides.items() if k in ("steps", "dtype", "threads"))
    meta = {"command": command, "data": {"corpus": "minigpt.data.stdlib_corpus", "tokenizer": "bytes", "bos": BOS,
                                         "train_tokens": len(corpus.train), "val_tokens": len(corpus.val), **data_kw}}
    train(model, lambda gen, n: with_bos(windows(gen, n)), cfg, evals=[text_metrics(val)], out=out, resume=resume,
          recipe="stdlib-bytes", meta=meta)
    return Path(out)


register_recipe("stdlib-bytes", run, "byte-level 2-layer GPT (d_model 128) on the Python standard library's "
                "source: the model chapters 1 and 2 load (~2 min on a CPU)")
