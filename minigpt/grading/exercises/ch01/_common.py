"""Chapter 1's registrar: every exercise it registers is in ``solutions/ch01_transformer.py``."""

from __future__ import annotations

from ...registry import exercise_registrar

register_exercise = exercise_registrar(chapter=1, file="ch01_transformer.py")
