"""Moved: weight processing (``fold_ln`` and friends) lives in :mod:`minigpt.weights.processing`.

This module re-exports it so that old imports keep working, with a ``DeprecationWarning``.
"""

import warnings

from .weights.processing import (center_unembed, center_unembed_state_dict, center_writing_weights,
                                 center_writing_weights_state_dict, fold_ln, fold_ln_state_dict, fold_value_biases,
                                 fold_value_biases_state_dict, process_weights, StateDict)

__all__ = ["center_unembed", "center_unembed_state_dict", "center_writing_weights",
           "center_writing_weights_state_dict", "fold_ln", "fold_ln_state_dict", "fold_value_biases",
           "fold_value_biases_state_dict", "process_weights", "StateDict"]

warnings.warn("minigpt.processing moved to minigpt.weights.processing; import it from there",
              DeprecationWarning, stacklevel=2)
