"""Moved: loading and saving Hugging Face checkpoints lives in :mod:`minigpt.weights.pretrained`
(and finding them by name in :mod:`minigpt.weights.hub`).

This module re-exports them so that old imports keep working, with a ``DeprecationWarning``.
"""

import warnings

from .weights.files import WEIGHT_FILES, open_weights
from .weights.hf_map import config_from_hf, config_to_hf, load_hf_tensors, minigpt_to_hf
from .weights.hub import HUB_NAMES, cached_snapshot, hf_cache_dir, iter_known_names, resolve
from .weights.pretrained import from_pretrained, read_config, save_pretrained
from .weights.safetensors import CheckpointError

__all__ = ["HUB_NAMES", "WEIGHT_FILES", "CheckpointError", "cached_snapshot", "config_from_hf", "config_to_hf",
           "from_pretrained", "hf_cache_dir", "iter_known_names", "load_hf_tensors", "minigpt_to_hf", "open_weights",
           "read_config", "resolve", "save_pretrained"]

warnings.warn("minigpt.pretrained moved to minigpt.weights.pretrained; import it from there",
              DeprecationWarning, stacklevel=2)
