"""Small trained models: the ones the chapters ship with, and the folders ``minigpt train`` writes.

A checkpoint is a folder::

    config.json                     GPTConfig.to_dict()
    model.safetensors               the final weights (minigpt's parameter names; fp32, bf16 or fp16)
    history.json                    {"recipe": ..., "rows": [{"step": 0, "train_loss": ..., ...}, ...]}
    train.json                      the recipe name and every training setting (to reproduce or resume)
    snapshots/step_000100.safetensors   optional weights along training (for phase changes)

>>> from minigpt.checkpoints import list_checkpoints
>>> isinstance(list_checkpoints(), list)
True
"""

from .format import (SHIPPED, checkpoint_path, list_checkpoints, list_snapshots, load_checkpoint, load_history,
                     save_checkpoint, save_snapshot)

__all__ = ["SHIPPED", "checkpoint_path", "list_checkpoints", "list_snapshots", "load_checkpoint", "load_history",
           "save_checkpoint", "save_snapshot"]
