"""Every setting of a training run, in one dataclass (recorded in the checkpoint's train.json)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class TrainConfig:
    """Settings of :func:`minigpt.train.train`.

    ``steps`` is the length of the schedule (optimizer updates). ``batch_size`` is the global
    batch: under DDP each of the ``world_size`` processes takes ``batch_size // world_size``
    rows of it. The learning rate rises linearly over ``warmup_steps`` then follows a cosine
    down to ``lr * min_lr_ratio`` (``schedule="constant"`` keeps it at ``lr`` after warm-up).
    Weight decay applies to the weight matrices only (see :func:`minigpt.train.param_groups`).

    >>> TrainConfig(steps=100, batch_size=8).replace(lr=1e-3).lr
    0.001
    """

    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    warmup_steps: int = 0
    schedule: str = "cosine"  # "cosine" or "constant" (after the linear warm-up)
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    grad_clip: float | None = 1.0  # max global gradient norm; None: no clipping
    eval_every: int = 100  # a history row (train loss, lr, eval metrics) every this many steps
    snapshot_every: int | None = None  # fp16 weight snapshots in out/snapshots/ for analysis
    checkpoint_every: int | None = None  # resume state in out/resume.pt; always written at the end
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:1", "mps"
    dtype: str = "auto"  # "auto" (bf16 autocast on CUDA where supported), "float32", "bfloat16", "float16"
    threads: int | None = None  # CPU threads while training (None: torch's default); restored afterwards
    progress: bool = True

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size <= 0:
            raise ValueError(f"steps must be >= 0 and batch_size > 0, got {self.steps} and {self.batch_size}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.eval_every <= 0:
            raise ValueError(f"eval_every must be positive, got {self.eval_every}")
        self.betas = tuple(self.betas)

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
