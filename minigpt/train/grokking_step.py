"""Moved: the grokking model is model-level code and lives in :mod:`minigpt.grokking_model`.

This module re-exports it so that old imports keep working, with a ``DeprecationWarning``.
"""

import warnings

from ..grokking_model import grokking_config, init_grokking_, last_position_logits, modular_loss

__all__ = ["grokking_config", "init_grokking_", "last_position_logits", "modular_loss"]

warnings.warn("minigpt.train.grokking_step moved to minigpt.grokking_model; import it from there",
              DeprecationWarning, stacklevel=2)
