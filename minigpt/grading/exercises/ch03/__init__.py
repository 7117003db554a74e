"""Chapter 3's checks: seeded cases and the mistakes learners make, one ``register`` per exercise.

The exercises themselves are in ``solutions/ch03_induction.py``. As in the
earlier chapters, every mutant is a real wrong answer with a diagnosis a
learner can act on, and the cases tell every mutant apart from the reference
and from the other mutants (``tests/grading/test_ch03_exercises.py`` holds both facts).
"""

from . import repeats, detectors, ablation, circuits  # noqa: F401  (registration order: chapter order)
from . import reading  # noqa: F401  (copying_score, decompose_q, decompose_k)
