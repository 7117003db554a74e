"""The auto-grader: exercises written once in ``solutions/``, checked in a notebook, graded safely.

>>> from minigpt.grading import check, all_exercises
"""

from .check import STATUSES, CheckResult, check
from .registry import Case, Exercise, Mutant, all_exercises, get_exercise, register

__all__ = ["STATUSES", "Case", "CheckResult", "Exercise", "Mutant", "all_exercises", "check", "get_exercise", "register"]
