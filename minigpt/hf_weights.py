"""Moved: the Hugging Face ↔ minigpt weight map lives in :mod:`minigpt.weights.hf_map`.

This module re-exports it so that old imports keep working, with a ``DeprecationWarning``.
"""

import warnings

from .weights.hf_map import (SKIPPED_SUFFIXES, Entry, WeightMismatchError, canonical_key, check_keys, config_from_hf,
                             config_to_hf, load_hf_state_dict, load_hf_tensors, minigpt_to_hf, weight_table)

__all__ = ["SKIPPED_SUFFIXES", "Entry", "WeightMismatchError", "canonical_key", "check_keys", "config_from_hf",
           "config_to_hf", "load_hf_state_dict", "load_hf_tensors", "minigpt_to_hf", "weight_table"]

warnings.warn("minigpt.hf_weights moved to minigpt.weights.hf_map; import it from there",
              DeprecationWarning, stacklevel=2)
