"""Chapter 2's registrar: every exercise it registers is in ``solutions/ch02_attention.py``."""

from __future__ import annotations

from ...registry import exercise_registrar

register_exercise = exercise_registrar(chapter=2, file="ch02_attention.py")
