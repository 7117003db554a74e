"""Moved: :class:`Precision` lives with the other device and precision helpers in :mod:`minigpt.device`.

This module re-exports it so that old imports keep working, with a ``DeprecationWarning``.
"""

import warnings

from ..device import Precision, pick_device

__all__ = ["Precision", "pick_device"]

warnings.warn("minigpt.train.device moved to minigpt.device; import Precision and pick_device from there",
              DeprecationWarning, stacklevel=2)
