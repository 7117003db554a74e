"""Chapter 2's checks: seeded cases and the mistakes learners make, one ``register`` per exercise.

The exercises themselves are in ``solutions/ch02_attention.py``. As in chapter
1, every mutant is a real wrong answer with a diagnosis a learner can act on,
and the cases tell every mutant apart from the reference and from the other
mutants (``tests/grading/test_ch02_exercises.py`` holds both facts).
"""

from . import scores, heads, kernels  # noqa: F401  (registration order: chapter order)
