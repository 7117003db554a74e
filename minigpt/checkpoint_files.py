"""Moved: reading weight files lives in :mod:`minigpt.weights.files` (shards, ``.bin``, a folder's file)
and :mod:`minigpt.weights.safetensors` (the one safetensors reader and writer).

This module re-exports them so that old imports keep working, with a ``DeprecationWarning``.
"""

import warnings

from .weights.files import WEIGHT_FILES, open_bin, open_index, open_weights
from .weights.safetensors import DTYPES as SAFETENSORS_DTYPES
from .weights.safetensors import CheckpointError, TensorSource, open_safetensors
from .weights.safetensors import read_header as read_safetensors_header

__all__ = ["SAFETENSORS_DTYPES", "WEIGHT_FILES", "CheckpointError", "TensorSource", "open_bin", "open_index",
           "open_safetensors", "open_weights", "read_safetensors_header"]

warnings.warn("minigpt.checkpoint_files moved to minigpt.weights.files (safetensors: minigpt.weights.safetensors); "
              "import it from there", DeprecationWarning, stacklevel=2)
