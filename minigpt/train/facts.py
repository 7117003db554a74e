"""Recipe ``facts``: a 4-layer GPT with MLPs that recalls invented facts, for causal tracing and ROME (chapter 5).

The model (4 layers, d_model 128, 4 heads, d_mlp 512, GELU, LayerNorm, 152 words, n_ctx 48)
reads sentences about the invented people of :mod:`minigpt.data.facts` (where they live,
their job, their language, their instrument), with the ordinary next-word loss on every
token. Names are random, so the loss that can be won is on the objects: the model must
remember 1,200 facts, asked in four wordings per relation. A fifth wording of each relation
is never trained (:data:`minigpt.data.facts.HELD_OUT`); the history records recall on both
every 100 steps. Measured (the shipped run, 1,600 steps of 32 x 48 tokens, one thread, 250 s
of CPU on a loaded 2-core machine): recall climbs slowly to 39 % by step 1,000, then jumps
(63 % at 1,200, 97 % at 1,400) to 100 % on the trained wordings and 99.3 % on the held-out one.

Where the model keeps its facts (``tests/interp/test_facts_model.py``): not where GPT-2 does.
Causal tracing puts the recall at the prompt's **last** token, in MLP 3 (one layer restored:
0.36-0.42 in every wording), with at most 0.09 for any MLP at the subject's tokens: attention
brings the subject's words to the last token and the last MLP looks the fact up there.
Rewarding early enrichment of the subject did not move it (measured, same model): neither the
wordings that put the relation before the subject (frames 1 and 4), nor biographies that ask
several facts after one mention, nor lists that put the object right after the subject's
last token ("city list : Cyra Ashgrove Cairo , ..."). ROME with its key there
(``fact_token="last"``, layer 3) edits a fact cleanly: over 20 edits, efficacy 1.00,
paraphrase 1.00, neighbourhood accuracy down 0.4 points, the subject's other facts kept.

``facts-short`` trains the same model on the first 24 people only, for CI (300 steps, ~45 s
of CPU): recall 0.98 on both.
"""

from __future__ import annotations

from pathlib import Path

from ..config import GPTConfig
from ..data import facts as data
from ..model import GPT
from .config import TrainConfig
from .loop import train
from .recipes import register_recipe

__all__ = ["DATA", "MODEL", "SHORT", "TRAIN", "build", "recall_metrics", "run", "run_short"]

MODEL = dict(n_layers=4, d_model=128, n_heads=4, n_ctx=48, act_fn="gelu", name="facts", tokenizer="words")
TRAIN = dict(steps=1600, batch_size=32, lr=3e-3, warmup_steps=100, weight_decay=0.1, min_lr_ratio=0.1,
             eval_every=100, threads=1)  # tiny matmuls: one thread (two, on a busy 2-core machine, ran slower)
DATA = dict(p_bio=0.3, p_filler=0.2, n_subjects=data.N_SUBJECTS)
SHORT = dict(n_subjects=24, steps=300, eval_every=50)  # facts-short (CI): 0.98 recall on both at step 300


def recall_metrics(n_subjects: int = data.N_SUBJECTS):
    """An eval function: greedy recall over the training wordings and over the held-out one."""

    def metrics(model: GPT) -> dict:
        return {"recall_train": data.recall_accuracy(model, "train", n_subjects),
                "recall_test": data.recall_accuracy(model, "test", n_subjects)}

    return metrics


def build(seed: int = 0, **overrides) -> tuple[GPT, callable, TrainConfig, dict]:
    """The model (with its tokenizer), the batch sampler, the TrainConfig and the data settings.

    An override key may name a data setting (:data:`DATA`), a TrainConfig field or a GPTConfig field.
    """
    model_kw, train_kw, data_kw = dict(MODEL), dict(TRAIN), dict(DATA)
    for key, value in overrides.items():
        target = data_kw if key in data_kw else train_kw if key in TrainConfig.__dataclass_fields__ else model_kw
        target[key] = value
    tok = data.tokenizer()
    model = GPT(GPTConfig(**model_kw, d_vocab=tok.n_vocab, bos_token_id=tok.eot_token, seed=seed))
    model.set_tokenizer(tok)
    n_ctx = model.cfg.n_ctx

    def sample(generator, n: int):
        return data.facts_batch(generator, n, n_ctx=n_ctx, **data_kw)

    return model, sample, TrainConfig(**train_kw, seed=seed), data_kw


def run(out: Path, *, device: str = "auto", seed: int = 0, progress: bool = True, resume: bool = False,
        name: str = "facts", preset: dict | None = None, stop_at: int | None = None, **overrides) -> Path:
    """Train the facts model into ``out`` (with its ``vocab.json``). Returns ``out``.

    ``stop_at`` ends the run early with the full run's schedule (its history rows replay the full run's).
    """
    model, sample, cfg, data_kw = build(seed, **{**(preset or {}), **overrides})
    cfg = cfg.replace(device=device, progress=progress)
    command = f"minigpt train {name} --seed {seed}" + "".join(
        f" --{k} {v}" for k, v in overrides.items() if k in ("steps", "dtype", "threads"))
    meta = {"command": command, "data": {"sampler": "minigpt.data.facts.facts_batch", "tokenizer": "words",
                                         "d_vocab": model.cfg.d_vocab, **data_kw},
            "eval": "minigpt.train.facts.recall_metrics"}
    out = Path(out)
    train(model, sample, cfg, evals=[recall_metrics(data_kw["n_subjects"])], out=out, resume=resume, recipe=name,
          meta=meta, stop_at=stop_at)
    data.tokenizer().save(out / "vocab.json")
    return out


def run_short(out: Path, **kwargs) -> Path:
    return run(out, name="facts-short", preset=SHORT, **kwargs)


register_recipe("facts", run, "4-layer GPT (d_model 128, MLPs) that recalls 1,200 invented facts: the model of "
                "chapter 5's causal tracing and ROME (~5 min on a CPU)")
register_recipe("facts-short", run_short, "a smaller world (24 people) for CI: recall of the trained and held-out "
                "wordings (~30 s on a CPU)")
