"""Chapter 3's registrar: every exercise it registers is in ``solutions/ch03_induction.py``."""

from __future__ import annotations

from ...registry import exercise_registrar

register_exercise = exercise_registrar(chapter=3, file="ch03_induction.py")
