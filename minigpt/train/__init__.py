"""Training: a small, honest trainer, named recipes, DDP through torchrun.

>>> from minigpt.train import TrainConfig, lr_factor
>>> TrainConfig(steps=100).schedule, round(lr_factor(99, steps=100, min_lr_ratio=0.1), 3)
('cosine', 0.1)

- :func:`train` (``loop.py``): the loop, evaluation rows, snapshots, checkpoints, exact resume;
- :class:`TrainConfig` (``config.py``); AdamW groups and the schedule (``optim.py``);
- ``amp.py``: one mixed-precision step (devices and precisions: :mod:`minigpt.device`);
  ``distributed.py``: DDP under torchrun;
- ``recipes.py``: named recipes (``minigpt train --list``), e.g. ``induction.py``, ``stdlib.py``.
"""

from .config import TrainConfig
from ..device import Precision, pick_device
from .loop import TrainResult, batch_generator, train
from .optim import decays, lr_factor, make_optimizer, make_scheduler, param_groups
from .recipes import get_recipe, list_recipes, register_recipe

__all__ = ["TrainConfig", "TrainResult", "train", "batch_generator", "pick_device", "Precision", "decays",
           "lr_factor", "param_groups", "make_optimizer", "make_scheduler", "get_recipe", "list_recipes",
           "register_recipe"]
